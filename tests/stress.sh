#!/usr/bin/env bash
# Run the bats suite (every tests/*.bats, or the files given), or with
# "-- COMMAND [ARG ...]" any command, as a busy CI runner would: one busy loop
# per processor (at least two) keeps every core at 100 %, TERM=dumb, CI=true,
# no standard input. Ends with the time the run took and exits as the suite
# (tests/run.sh) or the command does. The busy loops are stopped by their pids
# on every way out; a signal is passed on to the run first.
#
#   tests/stress.sh                            # what make check-busy runs
#   tests/stress.sh tests/ci-testpar.bats
#   tests/stress.sh -- make demo PROFILE=full
set -u
cd "$(dirname "$0")/.." || exit 2

if [ "${1:-}" = -- ]; then
	shift
	if [ $# -eq 0 ]; then
		echo "usage: tests/stress.sh [FILE.bats ...] | -- COMMAND [ARG ...]" >&2
		exit 2
	fi
else
	set -- tests/run.sh "$@"
fi

loops=$(nproc 2>/dev/null || echo 2)
[ "$loops" -ge 2 ] 2>/dev/null || loops=2
pids=() run=
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
# A signal: pass it on to the run, wait for it to end, then leave.
pass_on() {
	trap '' "$1"
	[ -z "$run" ] || { kill -"$1" "$run" 2>/dev/null; wait "$run"; }
	exit "$2"
}
trap stop EXIT
trap 'pass_on HUP 129' HUP
trap 'pass_on INT 130' INT
trap 'pass_on TERM 143' TERM

for ((i = 0; i < loops; i++)); do
	sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 3>&- &
	pids+=($!)
done
echo "# stress: $loops busy loops (pids ${pids[*]}), TERM=dumb, CI=true, no stdin: $*"

start=$SECONDS
# In the background, so that a signal reaches the traps at once, but with
# SIGINT and SIGQUIT at their defaults, as in a foreground command.
TERM=dumb CI=true env --default-signal=INT,QUIT "$@" </dev/null &
run=$!
wait "$run"
rc=$?
run=
echo "# stress: $* took $((SECONDS - start)) s under load, exit $rc"
exit "$rc"
