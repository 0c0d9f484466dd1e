#!/usr/bin/env bash
# Run the bats suite (every tests/*.bats, or the files given) as a busy CI
# runner would: one busy loop per processor (at least two) keeps every core
# at 100 %, TERM=dumb, CI=true, no standard input. Ends with tests/run.sh's
# line and the time the run took; exits as tests/run.sh does. The busy loops
# are stopped by their pids on every way out, a signal included.
set -u
cd "$(dirname "$0")/.." || exit 2

loops=$(nproc 2>/dev/null || echo 2)
[ "$loops" -ge 2 ] 2>/dev/null || loops=2
pids=()
stop() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	pids=()
}
trap stop EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

for ((i = 0; i < loops; i++)); do
	sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 3>&- &
	pids+=($!)
done
echo "# stress: $loops busy loops (pids ${pids[*]}), TERM=dumb, CI=true, no stdin"

start=$SECONDS
TERM=dumb CI=true tests/run.sh "$@" </dev/null
rc=$?
echo "# stress: the suite took $((SECONDS - start)) s under load"
exit "$rc"
