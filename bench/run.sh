#!/usr/bin/env bash
# bench/run.sh: run every benchmark of bench/ in one go and write one table
# of their figures, each a ratio against a peer measured in the same run,
# to bench/results.md, with a line describing the machine: cores, and the
# load average before and after. A benchmark's figures are its output lines
# that carry a "(goal ...)". The full output of each goes to stdout.
#
# usage: bench/run.sh [MEGABYTES]    (ci-report's log; default 1000)
set -u
cd "$(dirname "$0")/.."
mb=${1:-1000}
out=bench/results.md
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
status=0
for b in bench/*.sh; do
	case $b in bench/lib.sh | bench/run.sh) continue ;; esac
	echo "== $b"
	args=()
	[ "$b" = bench/ci-report.sh ] && args=("$mb")
	bash "$b" "${args[@]}" 2>&1 | tee "$rows.one" || status=1
	grep -F '(goal' "$rows.one" | while IFS= read -r line; do
		figure=${line%%(goal*}
		goal=${line##*(goal}
		goal=${goal#:}
		goal=${goal# }
		printf '| %s | %s | %s |\n' "$(basename "$b" .sh)" \
			"$(echo "$figure" | sed 's/ *$//; s/|/\\|/g')" "${goal%)*}"
	done >> "$rows"
done
rm -f "$rows.one"
{
	echo "# Benchmark results"
	echo
	echo "Written by \`make bench\` (bench/run.sh) on $start: $(nproc) cores" \
		"($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), load average" \
		"$load0 at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end." \
		"Every figure is a ratio between commands measured in the same run."
	echo
	echo "| benchmark | figure | goal |"
	echo "|---|---|---|"
	cat "$rows"
} > "$out"
echo "== wrote $out"
exit $status
