#!/usr/bin/env bash
# ci-report's text summary against jq computing a comparable aggregate
# (entries, warnings, errors, first and last time, time per step and exit
# code of each run) and against wc -l (the floor of a line scan), on a
# generated NDJSON log of 50 runs, in the same run. Prints seconds, MB/s,
# the ratios and peak RSS; exits 1 when ci-report is not 10x faster than jq
# or peaks above 32 MiB.
#
# usage: bench/ci-report.sh [MEGABYTES]    (default 1000: a ~1 GB log)
#
# Measured on the 2-core development machine, 1040 MB, 3,774,150 lines, with
# other work running (load average about 2):
#   wc -l      0.12 s  8666 MB/s   1.7 MiB
#   ci-report  3.15 s   330 MB/s   8.1 MiB
#   jq        98.50 s    11 MB/s   3.0 MiB
#   ci-report 31x faster than jq; 26x the time of wc -l.
# Idle, on 200 MB: 0.49 s (~430 MB/s) on both cores, 0.73 s on one.
set -eu
cd "$(dirname "$0")/.."
bin=${CI_BUILD:-$PWD/build}/ci-report
mb=${1:-1000}
[ -x "$bin" ] || { echo "bench: build first: make" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/ci.log
echo "generating a ${mb} MB log of 50 runs in $tmp ..."
/usr/bin/python3 tests/fixtures/ci-report/gen-log.py 50 "$mb" > "$log"
bytes=$(stat -c %s "$log")
lines=$(wc -l < "$log")
cat "$log" > /dev/null # the same warm page cache for every reader

cat > "$tmp/agg.jq" <<'JQ'
reduce inputs as $e ({};
  .[$e.run_id] |= (
    .entries += 1
    | .errors += (if $e.level == "error" then 1 else 0 end)
    | .warnings += (if $e.level == "warn" then 1 else 0 end)
    | .first = ([.first // $e.timestamp, $e.timestamp] | min)
    | .last = ([.last // $e.timestamp, $e.timestamp] | max)
    | if $e.duration_ms then .steps[$e.step_name] += $e.duration_ms else . end
    | if $e.pipeline_run then .exit_code = $e.pipeline_run.exit_code else . end))
JQ

# measure NAME TIMES CMD...: the best wall time of TIMES runs, and its peak RSS.
measure() {
	local name=$1 times=$2 best= rss= t m
	shift 2
	for _ in $(seq "$times"); do
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > "$tmp/out"
		read -r t m < <(tail -n 1 "$tmp/time")
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$t rss=$m
		fi
	done
	printf '%-10s %8.2f s %9.0f MB/s   peak RSS %6.1f MiB\n' "$name" "$best" \
		"$(awk -v b="$bytes" -v t="$best" 'BEGIN { print b / 1e6 / (t > 0 ? t : 0.01) }')" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
	eval "${name//-/_}_s=$best ${name//-/_}_kb=$rss"
}

printf 'input: %.0f MB, %d lines, 50 runs\n' "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$lines"
measure wc 3 wc -l "$log"
measure ci-report 3 "$bin" "$log"
measure jq 1 jq -n -f "$tmp/agg.jq" "$log"

awk -v c="$ci_report_s" -v j="$jq_s" -v w="$wc_s" -v kb="$ci_report_kb" 'BEGIN {
	w = w > 0 ? w : 0.01
	printf "ci-report is %.1fx faster than jq, and takes %.1fx the time of wc -l\n", j / c, c / w
	ok = j / c >= 10 && kb < 32768
	printf "goal (>= 10x jq, < 32 MiB): %s\n", ok ? "met" : "MISSED"
	exit !ok
}'
