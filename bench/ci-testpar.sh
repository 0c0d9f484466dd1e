#!/usr/bin/env bash
# ci-testpar's cost per suite: N trivial suites (`true`, default 200) through
# `ci-testpar -j2`, against the same commands through `xargs -P2` and GNU
# `parallel -j2`, in the same run, three alternating rounds. ci-testpar's
# includes one log entry per suite and its grouped output (to /dev/null).
# Goals: at most 1.5x xargs, at least 5x faster than parallel.
# Measured on a 2-core build machine shared with other work: 1.05x to 1.11x
# xargs (about 530 us a suite), parallel 5.3x to 6.1x slower than ci-testpar.
# Installs Debian's `parallel` when it is missing and apt-get can.
. "$(dirname "$0")/lib.sh"
export CI_LOG_FILE=$SCRATCH/ci.log
N=${N:-200}

if ! command -v parallel > /dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
		apt-get install -y -qq parallel > /dev/null 2>&1 || true
	fi
fi

suites=()
for i in $(seq "$N"); do suites+=("s$i=true"); done
lines() { for ((i = 0; i < N; i++)); do echo true; done; }

t_tp=0 t_x=0 t_p=0
for round in 1 2 3; do
	s=$(now_us)
	# --max-load 0: a machine busy with other work must not make it serial.
	ci-testpar -j2 --max-load 0 "${suites[@]}" > /dev/null
	e=$(now_us)
	t_tp=$((t_tp + e - s))
	s=$(now_us)
	lines | xargs -P2 -I{} /bin/sh -c {}
	e=$(now_us)
	t_x=$((t_x + e - s))
	if command -v parallel > /dev/null; then
		s=$(now_us)
		lines | parallel --will-cite -j2
		e=$(now_us)
		t_p=$((t_p + e - s))
	fi
done
[ "$(wc -l < "$CI_LOG_FILE")" -eq $((3 * N)) ]

echo "== $N trivial suites, two at a time (3 rounds)"
echo "xargs -P2        $((t_x / 3 / N)) us a suite"
echo "ci-testpar -j2   $((t_tp / 3 / N)) us a suite   ratio to xargs: $(ratio "$t_tp" "$t_x")  (goal <= 1.5)"
if [ "$t_p" -gt 0 ]; then
	echo "parallel -j2     $((t_p / 3 / N)) us a suite   parallel / ci-testpar: $(ratio "$t_p" "$t_tp")  (goal >= 5)"
else
	echo "parallel -j2     not installed: no comparison"
fi
