#!/usr/bin/env bash
# Run the bats suite (every tests/*.bats, or the files given) against the
# tools in $CI_BUILD (default build/), print the TAP stream, and end with one
# line: N passed, N failed[, N skipped]. Exits 1 when any test failed.
set -u
cd "$(dirname "$0")/.." || exit 2
export CI_BUILD=${CI_BUILD:-$PWD/build}
[ $# -gt 0 ] || set -- tests/*.bats

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
bats --tap "$@" </dev/null | tee "$tap"
rc=${PIPESTATUS[0]}

passed=$(grep -E -c '^ok [0-9]+' "$tap" | tr -d ' ')
skipped=$(grep -E -c '^ok [0-9]+ .*# skip' "$tap" | tr -d ' ')
failed=$(grep -E -c '^not ok [0-9]+' "$tap" | tr -d ' ')
passed=$((passed - skipped))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "# bats exited $rc without a failing test: counted as one failure"
	failed=1
fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
