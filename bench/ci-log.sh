#!/usr/bin/env bash
# ci-log's costs as ratios to peers measured in the same run:
#   one entry per call, against /bin/true (the fork+exec floor) and jq -cn;
#   the shell library per entry, builtins and fallback, from the main shell
#   and a subshell, against one ci-log process per entry and bash's
#   printf >> file;
#   filter mode on a 100 MB stream, in MB/s and against jq -R.
#
# Measured on a 2-core runner (2026-11-25, machine otherwise idle):
#   ci-log 885 us per call, 1.12x /bin/true (788 us); jq -cn 23.7x.
#   Filter mode: 259 MB/s, 30x jq -R (9 MB/s).
# The shell library (2026-12-01 23:03-23:08 UTC, the same runner at a load
# average of 8-12, so every figure is inflated; the ratios are of one run;
# four runs):
#   log_info through the builtins (ci_sh.so) 18.2, 12.3, 10.2, 7.4 us;
#   printf >> file 21.6, 16.2, 9.7, 8.0 us: 0.84x, 0.76x, 1.05x, 0.92x the
#   floor (goal <= 2); one ci-log per entry 4192, 3027, 2192, 2058 us: 230x,
#   246x, 215x, 278x (goal >= 150); a message with tabs and quotes 1.04x,
#   1.11x, 0.71x, 1.02x a plain one (goal <= 1.5); the coprocess fallback
#   119, 73, 54, 41 us: 35x to 50x.
#   The builtins keep the log file open between calls (4 system calls an
#   entry, bash's printf >> file makes 9): 3.8-4.0 us of CPU a call against
#   5.0-5.4 us when it was opened for each call, in the same runs.
#   Since each fallback call waits for ci-log's answer about its own entry
#   (so that a call whose entry was not written returns 4), the same
#   runner, medians of 9 rounds of 5000 calls, old against new in each
#   round: from the main shell 27 -> 36 us (load 8) and 29 -> 45 us (load
#   3-5), 1.3x to 1.55x, the cost of one round trip to ci-log; from a
#   subshell 73 -> 73 us, with the inline path subshells now have too. The
#   builtin rows are unchanged. This script then (load 2): the fallback
#   43.9 us, 27x faster than one ci-log per entry; from a subshell 66.3 us.
. "$(dirname "$0")/lib.sh"
export CI_LOG_FILE=$SCRATCH/ci.log
N=${N:-500}

jq_entry() {
	jq -cn --arg m "one entry" --arg id "$CI_RUN_ID" '{timestamp: (now | todate), level: "info", message: $m, run_id: $id, source_file: "bench.sh", line_number: 1, function_name: "main", step_name: "bench"}' >> "$SCRATCH/jq.log"
}

# SECTIONS picks some of: call lib filter (default all).
SECTIONS=${SECTIONS:-call lib filter}
if [[ " $SECTIONS " == *" call "* ]]; then
echo "== one entry per call ($N calls each, alternating rounds)"
t=0 l=0 j=0
for round in 1 2 3; do
	t=$((t + $(per_call "$N" /bin/true)))
	l=$((l + $(per_call "$N" ci-log -s bench "one entry")))
	j=$((j + $(per_call "$N" jq_entry)))
done
echo "/bin/true    $((t / 3)) us"
echo "ci-log       $((l / 3)) us   ratio to /bin/true: $(ratio "$l" "$t")  (goal <= 1.3)"
echo "jq -cn       $((j / 3)) us   ratio to /bin/true: $(ratio "$j" "$t")"

fi

if [[ " $SECTIONS " == *" lib "* ]]; then
echo "== shell library, per entry (median of 5 rounds, each way in every round)"
# One script per way; each prints nanoseconds per call over its calls.
cat > "$SCRATCH/lib.sh" <<'SH'
source scripts/lib/ci.sh
n=$1 msg=$2
log_info warm-up
s=$EPOCHREALTIME
for ((i = 0; i < n; i++)); do log_info "$msg $i"; done
ci_flush
e=$EPOCHREALTIME
echo $(( (${e/[.,]/} - ${s/[.,]/}) * 1000 / n ))
SH
# The same from a subshell, after the main shell logged once.
cat > "$SCRATCH/sub.sh" <<'SH'
source scripts/lib/ci.sh
n=$1 msg=$2
log_info warm-up
(
	s=$EPOCHREALTIME
	for ((i = 0; i < n; i++)); do log_info "$msg $i"; done
	e=$EPOCHREALTIME
	echo $(( (${e/[.,]/} - ${s/[.,]/}) * 1000 / n ))
)
SH
cat > "$SCRATCH/floor.sh" <<'SH'
n=$1 msg=$2
s=$EPOCHREALTIME
for ((i = 0; i < n; i++)); do printf '%s\n' "$msg $i" >> "$CI_LOG_FILE"; done
e=$EPOCHREALTIME
echo $(( (${e/[.,]/} - ${s/[.,]/}) * 1000 / n ))
SH
cat > "$SCRATCH/proc.sh" <<'SH'
n=$1 msg=$2
s=$EPOCHREALTIME
for ((i = 0; i < n; i++)); do ci-log -l info -s main --source bench.sh --line 5 --function main -- "$msg $i"; done
e=$EPOCHREALTIME
echo $(( (${e/[.,]/} - ${s/[.,]/}) * 1000 / n ))
SH
plain="entry number of the benchmark"
quoted=$'entry\twith "tabs"\tand \'quotes\' of the benchmark'
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
bi=() bq=() fb=() fl=() pr=() sb=() sf=()
L=${L:-20000}
for round in 1 2 3 4 5; do
	bi+=("$(bash "$SCRATCH/lib.sh" "$L" "$plain")")
	bq+=("$(bash "$SCRATCH/lib.sh" "$L" "$quoted")")
	fb+=("$(CI_LOG_BUILTIN=0 bash "$SCRATCH/lib.sh" "$L" "$plain")")
	sb+=("$(bash "$SCRATCH/sub.sh" "$L" "$plain")")
	sf+=("$(CI_LOG_BUILTIN=0 bash "$SCRATCH/sub.sh" "$L" "$plain")")
	fl+=("$(bash "$SCRATCH/floor.sh" "$L" "$plain")")
	pr+=("$(bash "$SCRATCH/proc.sh" "$N" "$plain")")
done
bi=$(median "${bi[@]}") bq=$(median "${bq[@]}") fb=$(median "${fb[@]}")
fl=$(median "${fl[@]}") pr=$(median "${pr[@]}")
sb=$(median "${sb[@]}") sf=$(median "${sf[@]}")
us() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000 }'; }
[[ -f $B/ci_sh.so ]] || echo "(no $B/ci_sh.so: the builtin rows measure the fallback)"
echo "log_info, builtin           $(us "$bi") us"
echo "log_info, builtin, tabs+quotes $(us "$bq") us   ratio to plain: $(ratio "$bq" "$bi")  (goal <= 1.5)"
echo "log_info, fallback          $(us "$fb") us"
echo "log_info, builtin, subshell $(us "$sb") us"
echo "log_info, fallback, subshell $(us "$sf") us"
echo "printf >> file (floor)      $(us "$fl") us"
echo "one ci-log per entry        $(us "$pr") us"
echo "builtin vs one ci-log per entry: $(ratio "$pr" "$bi")x faster  (goal >= 150)"
echo "builtin vs printf floor:         $(ratio "$bi" "$fl")x  (goal <= 2)"
echo "fallback vs one ci-log per entry: $(ratio "$pr" "$fb")x faster"

fi

if [[ " $SECTIONS " == *" filter "* ]]; then
echo "== filter mode, 100 MB of lines"
awk 'BEGIN { for (i = 0; i < 1620000; i++) printf "line %d: cc -O2 -c src/module_%d.c -o build/module_%d.o ok\n", i, i % 977, i % 977 }' > "$SCRATCH/in.txt"
mb=$(awk -v b="$(stat -c %s "$SCRATCH/in.txt")" 'BEGIN { printf "%.1f", b / 1048576 }')
s=$(now_us)
ci-log -s build -o "$SCRATCH/filter.log" < "$SCRATCH/in.txt"
e=$(now_us)
c=$((e - s))
s=$(now_us)
jq -cR --arg id "$CI_RUN_ID" '{timestamp: (now | todate), level: "info", message: ., run_id: $id, source_file: "make", line_number: 1, function_name: "main", step_name: "build"}' < "$SCRATCH/in.txt" > "$SCRATCH/jq.log"
e=$(now_us)
j=$((e - s))
echo "input        $mb MB, $(wc -l < "$SCRATCH/in.txt") lines"
echo "ci-log       $(awk -v m="$mb" -v t="$c" 'BEGIN { printf "%.0f", m / (t / 1e6) }') MB/s"
echo "jq -R        $(awk -v m="$mb" -v t="$j" 'BEGIN { printf "%.0f", m / (t / 1e6) }') MB/s"
echo "ci-log is $(ratio "$j" "$c")x faster than jq -R"
fi
