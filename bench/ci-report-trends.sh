#!/usr/bin/env bash
# ci-report --trends against the plain text report of the same logs,
# measured in the same run with the best of 3 tries for each: a generated
# history of 1,000 runs (tests/fixtures/ci-report/gen-history.py) with test
# cases in every suite attempt and padding lines, about 100 MB. The line
# with a "(goal ...)" is the one bench/run.sh puts in bench/results.md.
#
# usage: bench/ci-report-trends.sh [RUNS [PAD]]    (default 1000 200)
set -eu
cd "$(dirname "$0")/.."
bin=${CI_BUILD:-$PWD/build}/ci-report
runs=${1:-1000}
pad=${2:-200}
tries=3
[ -x "$bin" ] || { echo "bench: build first: make" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/history.log
echo "generating a history of $runs runs in $tmp ..."
/usr/bin/python3 tests/fixtures/ci-report/gen-history.py "$runs" "$pad" > "$log"

# best NAME CMD...: the best wall time of $tries runs, into NAME_s.
best() {
	local name=$1 b= t
	shift
	for _ in $(seq "$tries"); do
		/usr/bin/time -f '%e' -o "$tmp/time" "$@" > /dev/null
		t=$(tail -n 1 "$tmp/time")
		if [ -z "$b" ] || awk -v a="$t" -v c="$b" 'BEGIN { exit !(a < c) }'; then
			b=$t
		fi
	done
	printf '%-8s %8.2f s wall\n' "$name" "$b"
	eval "${name}_s=$b"
}

cat "$log" > /dev/null
printf 'input: %.0f MB, %d lines, %d runs; best of %d tries each\n' \
	"$(stat -c %s "$log" | awk '{ print $1 / 1e6 }')" "$(wc -l < "$log")" "$runs" "$tries"
best text "$bin" "$log"
best trends "$bin" --trends "$log"
awk -v a="$trends_s" -v b="$text_s" 'BEGIN {
	b = b > 0 ? b : 0.01
	printf "ci-report --trends vs the text report, %d runs: %.2fx the time (goal <= 1.5x)\n", '"$runs"', a / b
	exit !(a / b <= 1.5)
}'
