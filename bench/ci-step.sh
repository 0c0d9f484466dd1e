#!/usr/bin/env bash
# ci-step's overhead: `ci-step x -- true` against one /bin/true, in the same
# run (goal: at most 2.5x).
# Measured on a 2-core runner (2026-11-25): 1595 us against 716 us, 2.23x.
. "$(dirname "$0")/lib.sh"
export CI_LOG_FILE=$SCRATCH/ci.log
N=${N:-500}
t=0 s=0
for round in 1 2 3; do
	t=$((t + $(per_call "$N" /bin/true)))
	s=$((s + $(per_call "$N" ci-step x -- true)))
done
echo "/bin/true            $((t / 3)) us"
echo "ci-step x -- true    $((s / 3)) us   ratio: $(ratio "$s" "$t")  (goal <= 2.5)"
