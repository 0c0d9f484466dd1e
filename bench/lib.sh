# Shared by the benchmarks: the tools under test first on PATH, a scratch
# directory removed at exit, and timing helpers. Figures are ratios between
# commands measured in the same run, never absolute times.
set -eu
cd "$(dirname "$0")/.."
B=${CI_BUILD:-$PWD/build}
[ -x "$B/ci-runid" ] || make -s all >&2
PATH=$B:$PATH
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
export CI_RUN_ID=$(ci-runid)

# now_us: microseconds on the shell's clock.
now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }

# per_call N CMD...: mean microseconds of one call of CMD, over N calls.
per_call() {
	local n=$1 s e i
	shift
	s=$(now_us)
	for ((i = 0; i < n; i++)); do "$@"; done
	e=$(now_us)
	echo $(((e - s) / n))
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
