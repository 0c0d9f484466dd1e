#!/usr/bin/env bash
# ci-report's text summary against its peers, measured in the same run with
# the best of 3 tries for every command: the fastest jq form of a per-run
# count (jq -r '[.run_id,.level]|@tsv' | sort | uniq -c) and wc -l (the floor
# of a line scan), on a generated NDJSON log of 50 runs. Also: its peak RSS,
# its time on the first half of the log (linear in size), and on a log of
# the same size with 10,000 runs. Each figure is a ratio; the lines with a
# "(goal ...)" are the ones bench/run.sh puts in bench/results.md.
#
# usage: bench/ci-report.sh [MEGABYTES]    (default 1000: a ~1 GB log)
set -eu
cd "$(dirname "$0")/.."
bin=${CI_BUILD:-$PWD/build}/ci-report
mb=${1:-1000}
tries=3
[ -x "$bin" ] || { echo "bench: build first: make" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/ci.log
echo "generating a ${mb} MB log of 50 runs and one of 10,000 runs in $tmp ..."
/usr/bin/python3 tests/fixtures/ci-report/gen-log.py 50 "$mb" > "$log"
/usr/bin/python3 tests/fixtures/ci-report/gen-log.py 10000 "$mb" > "$tmp/many.log"
lines=$(wc -l < "$log")
head -n $((lines / 2)) "$log" > "$tmp/half.log"
bytes=$(stat -c %s "$log")

# measure NAME CMD...: the best wall time of $tries runs (each after the
# input was read once, for the same warm page cache), with its CPU time
# and peak RSS, into NAME_s, NAME_cpu and NAME_kb.
measure() {
	local name=$1 best= cpu= rss= t u s m
	shift
	for _ in $(seq "$tries"); do
		/usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$@" > /dev/null
		read -r t u s m < <(tail -n 1 "$tmp/time")
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$t rss=$m cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
		fi
	done
	printf '%-16s %8.2f s wall %8.2f s CPU %8.0f MB/s   peak RSS %6.1f MiB\n' "$name" \
		"$best" "$cpu" "$(awk -v b="$bytes" -v t="$best" 'BEGIN { print b / 1e6 / (t > 0 ? t : 0.01) }')" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
	eval "${name}_s=$best ${name}_cpu=$cpu ${name}_kb=$rss"
}

cat "$log" "$tmp/half.log" "$tmp/many.log" > /dev/null
printf 'input: %.0f MB, %d lines, 50 runs; best of %d tries each\n' \
	"$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$lines" "$tries"
measure wc wc -l "$log"
measure report "$bin" "$log"
measure jq sh -c 'jq -r "[.run_id,.level]|@tsv" "$1" | sort | uniq -c' sh "$log"
measure half "$bin" "$tmp/half.log"
measure many "$bin" "$tmp/many.log"

awk -v c="$report_s" -v j="$jq_s" -v w="$wc_s" -v kb="$report_kb" -v h="$half_s" \
	-v m="$many_s" -v cc="$report_cpu" -v jc="$jq_cpu" -v hc="$half_cpu" \
	-v mc="$many_cpu" 'BEGIN {
	w = w > 0 ? w : 0.01; c = c > 0 ? c : 0.01; h = h > 0 ? h : 0.01
	printf "ci-report text vs jq | sort | uniq -c: %.1fx faster (CPU time: %.1fx) (goal >= 15x)\n", j / c, jc / (cc > 0 ? cc : 0.01)
	printf "ci-report text vs wc -l: %.1fx the time (goal <= 10x)\n", c / w
	printf "ci-report text peak RSS: %.1f MiB (goal < 32 MiB)\n", kb / 1024
	cc = cc > 0 ? cc : 0.01; hc = hc > 0 ? hc : 0.01
	printf "ci-report text, whole log vs its first half: %.2fx the time (CPU time: %.2fx) (goal about 2x: linear)\n", c / h, cc / hc
	printf "ci-report text, 10,000 runs vs 50 runs of the same size: %.2fx (CPU time: %.2fx) (goal <= 1.5x)\n", m / c, mc / cc
	ok = j / c >= 15 && c / w <= 10 && kb < 32768 && m / c <= 1.5
	printf "goals: %s\n", ok ? "all met" : "NOT all met"
	exit !ok
}'
