#!/usr/bin/env bash
# ci-report --format otlp against --format json on the same generated log of
# 50 runs, in the same run, the same number of tries each (alternating, so
# that both see the same machine). Prints the best time of each, the ratio
# and the output sizes; exits 1 when otlp takes more than 1.5x json.
#
# usage: bench/ci-report-otlp.sh [MEGABYTES [TRIES]]   (default 200 MB, 3)
#
# Measured on the 2-core development machine, 1040 MB, 3,774,150 lines,
# with other work running (load average 12 to 15), best of 3 each:
#   json  6.18 s     827,890 bytes out
#   otlp  6.32 s  15,579,050 bytes out (every warning and error an event)
#   otlp takes 1.02x the time of json.
# On 207 MB (755,400 lines): json 1.64 s, otlp 1.27 s, 0.77x.
set -eu
cd "$(dirname "$0")/.."
bin=${CI_BUILD:-$PWD/build}/ci-report
mb=${1:-200}
tries=${2:-3}
[ -x "$bin" ] || { echo "bench: build first: make" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/ci.log
echo "generating a ${mb} MB log of 50 runs in $tmp ..."
/usr/bin/python3 tests/fixtures/ci-report/gen-log.py 50 "$mb" > "$log"
bytes=$(stat -c %s "$log")
printf 'input: %.0f MB, %d lines, 50 runs\n' "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$(wc -l < "$log")"
cat "$log" > /dev/null # the same warm page cache for both

best_json= best_otlp=
for _ in $(seq "$tries"); do
	for f in json otlp; do
		/usr/bin/time -f '%e' -o "$tmp/time" "$bin" --format "$f" "$log" > "$tmp/$f.out"
		t=$(tail -n 1 "$tmp/time")
		eval "b=\${best_$f}"
		if [ -z "$b" ] || awk -v a="$t" -v b="$b" 'BEGIN { exit !(a < b) }'; then
			eval "best_$f=$t"
		fi
	done
done
printf 'json  %6.2f s  %8d bytes out\n' "$best_json" "$(stat -c %s "$tmp/json.out")"
printf 'otlp  %6.2f s  %8d bytes out\n' "$best_otlp" "$(stat -c %s "$tmp/otlp.out")"
awk -v j="$best_json" -v o="$best_otlp" 'BEGIN {
	j = j > 0 ? j : 0.01
	printf "otlp takes %.2fx the time of json (goal: <= 1.5x): %s\n", o / j, o / j <= 1.5 ? "met" : "MISSED"
	exit !(o / j <= 1.5)
}'
