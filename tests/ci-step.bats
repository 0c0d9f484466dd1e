#!/usr/bin/env bats
# ci-step: timed steps with real processes and signals; init and complete.
load helpers/common

setup() {
	common_setup
	new_run
}

# entry N KEY: a field of the N-th entry of the log (1-based; -1 the last).
entry() {
	/usr/bin/python3 -c '
import json, sys
es = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
n = int(sys.argv[2])
v = es[n - 1 if n > 0 else n].get(sys.argv[3], "<absent>")
print(v if isinstance(v, str) else json.dumps(v))' "$CI_LOG_FILE" "$@"
}

# Wait up to 30 s for a process to be gone; fail if it is not, or if no pid
# was given.
gone() {
	[ -n "$1" ] || { echo "gone: no pid" >&2; return 1; }
	for _ in $(seq 300); do
		kill -0 "$1" 2>/dev/null || return 0
		[ "$(ps -o stat= -p "$1" | cut -c1)" = Z ] && return 0
		sleep 0.1
	done
	ps -o pid,stat,args -p "$1"
	return 1
}

@test "a successful step writes a start and a completion entry and exits 0" {
	run --separate-stderr ci-step build -- sh -c 'echo compiling'
	assert_success
	assert_output compiling
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 2
	validate log-schema.json "$CI_LOG_FILE"
	assert_equal "$(entry 1 message)" "started: sh -c 'echo compiling'"
	assert_equal "$(entry 1 duration_ms)" "<absent>"
	assert_equal "$(entry 2 step_name)" build
	assert_equal "$(entry 2 level)" info
	assert_equal "$(entry 2 exit_code)" 0
	[[ $(entry 2 message) =~ ^finished\ in\ [0-9]+\.[0-9]{3}\ s$ ]]
	[[ $(entry 2 duration_ms) =~ ^[0-9]+$ ]]
}

@test "the command runs with a TRACEPARENT of the step's own span, in the run's trace" {
	# What the step is given replaces what ci-step was given (the run's).
	export TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	ci-step build -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp1'
	ci-step build -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp2'
	ci-step lint -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp3'
	read -r one < tp1 && read -r two < tp2 && read -r three < tp3
	[[ $one =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]]
	[ "$one" != "$TRACEPARENT" ]
	# One trace for the run; a span for each run of a step.
	assert_equal "${two:0:35}" "${one:0:35}"
	assert_equal "${three:0:35}" "${one:0:35}"
	[ "${one:36:16}" != "${two:36:16}" ] && [ "${two:36:16}" != "${three:36:16}" ]
	# Another run, another trace.
	CI_RUN_ID=$(ci-runid) ci-step build -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp4'
	read -r four < tp4
	[ "${four:3:32}" != "${one:3:32}" ]
}

@test "duration_ms measures the command's run time" {
	ci-step wait -- sleep 0.3
	d=$(entry 2 duration_ms)
	[ "$d" -ge 300 ]
}

@test "a failing step is logged at error with its status, and ci-step exits with it" {
	run --separate-stderr ci-step lint -- sh -c 'exit 3'
	assert_failure 3
	assert_equal "$(entry 2 level)" error
	assert_equal "$(entry 2 exit_code)" 3
	[[ $(entry 2 message) == "failed: exited with status 3 after "* ]]
	[[ $stderr == "ci-step: lint: failed: exited with status 3 after "* ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a command that is not found exits 127 and says so" {
	run -127 --separate-stderr ci-step build -- no-such-command-here --flag
	assert_equal "$(entry 2 exit_code)" 127
	[[ $(entry 2 message) == "failed: command not found: no-such-command-here after "* ]]
}

@test "a command that is not executable exits 126 and says why" {
	printf 'echo hi\n' > script.sh
	chmod 644 script.sh
	run -126 --separate-stderr ci-step build -- ./script.sh
	assert_equal "$(entry 2 exit_code)" 126
	[[ $(entry 2 message) == "failed: cannot execute: Permission denied after "* ]]
}

@test "a command killed by a signal exits 128+N and names the signal" {
	run --separate-stderr ci-step build -- sh -c 'kill -TERM $$'
	assert_failure 143
	assert_equal "$(entry 2 exit_code)" 143
	[[ $(entry 2 message) == "failed: killed by signal 15 (SIGTERM) after "* ]]
}

@test "SIGINT to ci-step goes to the command's process group, leaves no orphan, and the completion is still written" {
	env --default-signal=INT ci-step test -- sh -c 'sleep 300 & echo $! > grandchild.pid; wait' 3>&- &
	pid=$!
	for _ in $(seq 600); do [ -s grandchild.pid ] && break; sleep 0.1; done
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 130
	gone "$(cat grandchild.pid)"
	assert_equal "$(entry -1 exit_code)" 130
	assert_equal "$(entry -1 level)" error
	[[ $(entry -1 message) == "interrupted by SIGINT: killed by signal 2 (SIGINT) after "* ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "SIGTERM is passed on too, and a command that ignores it is killed after the grace period" {
	env ci-step test -- sh -c 'trap "" TERM INT; echo $$ > child.pid; sleep 300 & wait' 3>&- &
	pid=$!
	for _ in $(seq 600); do [ -s child.pid ] && break; sleep 0.1; done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 137
	gone "$(cat child.pid)"
	[[ $(entry -1 message) == "interrupted by SIGTERM: killed by signal 9 (SIGKILL) after "* ]]
}

@test "--timeout kills the step's process group and records the timeout" {
	run --separate-stderr ci-step slow --timeout 2 -- sh -c 'sleep 300 & echo $! > bg.pid; sleep 300'
	assert_failure 124
	gone "$(cat bg.pid)"
	entry -1 message
	assert_equal "$(entry -1 exit_code)" 124
	[[ $(entry -1 message) == "timed out after 2 s: killed by signal 15 (SIGTERM) after "* ]]
	[[ $stderr == "ci-step: slow: timed out after 2 s"* ]]
}

@test "--capture logs each output line, stderr at info with the stream named, keeps showing them, and keeps a last line without newline" {
	run --separate-stderr ci-step build --capture -- sh -c 'echo one; echo two >&2; printf "no newline"'
	assert_success
	assert_output "$(printf 'one\nno newline')"
	assert_equal "$stderr" two
	validate log-schema.json "$CI_LOG_FILE"
	run /usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if "duration_ms" not in e and not e["message"].startswith("started"):
        print(e["level"], e["step_name"], e["message"])' "$CI_LOG_FILE"
	# In order within each stream; the two streams are separate pipes.
	assert_equal "${#lines[@]}" 3
	assert_equal "$(printf '%s\n' "${lines[@]}" | grep -v stderr:)" "$(printf 'info build one\ninfo build no newline')"
	assert_line "info build stderr: two"
}

# fields FILE: level, source_file, line_number and message of each entry
# that is not a step's start or completion.
fields() {
	jq -r 'select((.duration_ms | not) and (.message | startswith("started:") | not)) | [.level, .source_file, (.line_number | tostring), .message] | join(" | ")' "$1"
}

@test "--capture makes a compiler's diagnostics entries at their level, file and line, the path named from the repository root" {
	git init -q .
	mkdir -p src/lib
	printf 'int main(void)\n{\n\tint unused;\n\treturn 0;\n}\n' > src/lib/w.c
	printf 'int f(void) { return x; }\n' > src/lib/e.c
	cd src
	run --separate-stderr ci-step build --capture -- gcc -Wall -fdiagnostics-plain-output -fsyntax-only lib/w.c lib/e.c
	assert_failure 1
	# Shown as the compiler wrote it.
	[[ $stderr == *"lib/w.c:3:"*": warning: unused variable"* ]] || fail "$stderr"
	run fields "$CI_LOG_FILE"
	assert_line --regexp "^warn \| src/lib/w\.c \| 3 \| unused variable .unused. \[-Wunused-variable\]$"
	assert_line --regexp "^error \| src/lib/e\.c \| 1 \| .x. undeclared"
	# The other lines of stderr stay info, and name the stream.
	assert_line --regexp "^info \| .* \| 1 \| stderr: lib/w\.c: In function .main.:$"
	refute_line --regexp "^warn .*stderr:"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "--capture takes FILE:LINE[:COL]: LEVEL: lines of any tool, and leaves lines that only look alike" {
	git init -q .
	run --separate-stderr ci-step lint --capture -- sh -c '
		echo "scripts/a.sh:12:5: note: Double quote to prevent globbing. [SC2086]" >&2
		echo "./b.c:7: fatal error: x.h: No such file or directory" >&2
		echo "/nowhere/c.c:2:1: warning: outside the repository" >&2
		echo "In file included from d.c:3:" >&2
		echo "make: *** [Makefile:9: all] Error 1" >&2
		echo "e.c:4:2: warning:" >&2'
	assert_success
	run fields "$CI_LOG_FILE"
	assert_line "info | scripts/a.sh | 12 | Double quote to prevent globbing. [SC2086]"
	assert_line "error | b.c | 7 | x.h: No such file or directory"
	assert_line "warn | /nowhere/c.c | 2 | outside the repository"
	assert_line --regexp "^info \| .* \| 1 \| stderr: In file included from d\.c:3:$"
	assert_line --regexp "^info \| .* \| 1 \| stderr: make: \*\*\* \[Makefile:9: all\] Error 1$"
	assert_line --regexp "^info \| .* \| 1 \| stderr: e\.c:4:2: warning:$"
}

@test "--stderr-level sets the level of the other stderr lines, and needs --capture and a level" {
	run --separate-stderr ci-step lint --capture --stderr-level warn -- sh -c 'echo loose >&2; echo "a.c:1: error: located" >&2'
	assert_success
	run fields "$CI_LOG_FILE"
	assert_line --regexp "^warn \| .* \| stderr: loose$"
	assert_line --regexp "^error \| a\.c \| 1 \| located$"
	run --separate-stderr ci-step lint --stderr-level warn -- true
	assert_failure 2
	assert_equal "$stderr" "ci-step: --stderr-level is the level of captured lines: give --capture (see 'ci-step --help')"
	run --separate-stderr ci-step lint --capture --stderr-level loud -- true
	assert_failure 2
	assert_equal "$stderr" "ci-step: --stderr-level: \"loud\" is not a level (expected info, warn or error) (see 'ci-step --help')"
}

@test "on a terminal --capture shows each line once" {
	export TERM=xterm
	unset NO_COLOR
	# The command puts the markers together, so that the echoed "started:"
	# line, which shows the command, does not hold them.
	cat > cmd.sh <<-'SH'
	m=marker
	echo "out-$m"
	echo "err-$m" >&2
	echo "x.c:1: warning: diag-$m" >&2
	SH
	run script -qec "ci-step build --capture -- sh cmd.sh" /dev/null
	assert_success
	assert_equal "$(grep -c out-marker <<<"$output")" 1
	assert_equal "$(grep -c err-marker <<<"$output")" 1
	assert_equal "$(grep -c diag-marker <<<"$output")" 1
	# The step's own start and end are still echoed.
	[[ $output == *"build: finished in"* ]] || fail "$output"
}

@test "under GitHub Actions a step's output is folded, and its annotations are capped at 10 of each level, located first, with a notice of the rest" {
	export GITHUB_ACTIONS=true GITHUB_WORKSPACE=$BATS_TEST_TMPDIR
	run --separate-stderr ci-step lint --capture --stderr-level warn -- sh -c '
		for i in 1 2 3; do echo "loose $i" >&2; done
		for i in $(seq 12); do echo "src/w.c:$i: warning: w$i" >&2; done
		echo "src/w.c:99:1: error: e1" >&2'
	assert_success
	assert_output ""
	[ "${stderr_lines[0]}" = "::group::lint" ] || fail "$stderr"
	run grep -c '^::endgroup::$' <<<"$stderr"
	assert_output 1
	run grep '^::warning ' <<<"$stderr"
	assert_equal "${#lines[@]}" 10
	assert_equal "${lines[0]}" "::warning file=src/w.c,line=1,title=lint::w1"
	assert_equal "${lines[9]}" "::warning file=src/w.c,line=10,title=lint::w10"
	run grep '^::error ' <<<"$stderr"
	assert_output "::error file=src/w.c,line=99,title=lint::e1"
	run grep '^::notice ' <<<"$stderr"
	assert_output "::notice title=lint::5 more warnings of this step are not shown here; every one is in the log: ci-report --run $CI_RUN_ID $CI_LOG_FILE"
	# Every line is still an entry of the log.
	assert_equal "$(jq -r 'select(.level == "warn")' "$CI_LOG_FILE" | grep -c '"message"')" 15
}

@test "under GitHub Actions 12 errors, 2 unlocated ones and the failure give 10 error annotations, the located first, and a notice of the 5 others" {
	export GITHUB_ACTIONS=true GITHUB_WORKSPACE=$BATS_TEST_TMPDIR
	run --separate-stderr ci-step build --capture --stderr-level error -- sh -c '
		echo "loose 1" >&2
		for i in $(seq 12); do echo "src/e.c:$i:2: error: e$i" >&2; done
		echo "loose 2" >&2
		exit 1'
	assert_failure 1
	run grep '^::error ' <<<"$stderr"
	# 10 of the 15 (the step's own failure among them): the located first.
	assert_equal "${#lines[@]}" 10
	for i in $(seq 10); do
		assert_equal "${lines[i - 1]}" "::error file=src/e.c,line=$i,title=build::e$i"
	done
	run grep '^::notice ' <<<"$stderr"
	assert_output "::notice title=build::5 more errors of this step are not shown here; every one is in the log: ci-report --run $CI_RUN_ID $CI_LOG_FILE"
	assert_equal "$(jq -r 'select(.level == "error" and .duration_ms == null) | .message' "$CI_LOG_FILE" | wc -l)" 14
}

@test "--capture stamps each line when it is read, not at the step's start" {
	run ci-step build --capture -- sh -c 'sleep 1.2; echo late'
	assert_success
	assert_equal "$(entry 2 message)" late
	# The start entry's time is the one its span id is derived from; a
	# captured line has its own.
	start=$(entry 1 timestamp) line=$(entry 2 timestamp)
	[ "$start" != "$line" ]
	[[ $line > $start ]]
	run /usr/bin/python3 -c '
import datetime, sys
t = [datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ") for s in sys.argv[1:]]
print((t[1] - t[0]).total_seconds() >= 1.0)' "$start" "$line"
	assert_output True
}

@test "stdin, stdout and stderr are the command's own by default" {
	run --separate-stderr bash -c 'echo from-stdin | ci-step cat -- sh -c "cat; echo to-stderr >&2"'
	assert_success
	assert_output from-stdin
	assert_equal "$stderr" to-stderr
}

@test "the command runs directly, without a shell" {
	run ci-step echo -- echo '$HOME' '*'
	assert_output '$HOME *'
}

@test "init opens the run with its start, and complete closes it with the Pipeline Run" {
	ci-step init --profile full --trigger TUI
	ci-step lint -- true
	ci-step build -- true
	run --separate-stderr ci-step complete --exit-code 0
	assert_success
	echo "$output" > run.json
	validate log-schema.json "$CI_LOG_FILE"
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --def pipeline_run "$REPO/contracts/log-schema.json" run.json
	assert_success
	assert_equal "$(entry 1 step_name)" init
	assert_equal "$(entry 1 run_start)" "$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"start_time": r["start_time"], "profile": "full", "triggered_by": "TUI"}))' run.json)"
	run /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
last = [json.loads(l) for l in open(sys.argv[2])][-1]
assert last["pipeline_run"] == r, "the complete entry carries what was printed"
assert last["step_name"] == "complete" and last["level"] == "info"
assert r["duration"] == r["end_time"] - r["start_time"]
print(sorted(r), r["run_id"] == sys.argv[3], r["profile"], r["triggered_by"], r["exit_code"], r["steps_completed"])' run.json "$CI_LOG_FILE" "$CI_RUN_ID"
	assert_output "['duration', 'end_time', 'exit_code', 'profile', 'run_id', 'start_time', 'steps_completed', 'triggered_by'] True full TUI 0 ['init', 'lint', 'build', 'complete']"
}

@test "steps_completed keeps execution order, leaves out failed steps, and counts a step that succeeded on a second try" {
	ci-step init
	ci-step lint -- true
	run ci-step test -- false
	ci-step test -- true
	run ci-step build -- false
	ci-log -s note --duration-ms 5 "a step closed by ci-log"
	run --separate-stderr ci-step complete --exit-code 1
	assert_success
	[[ $output == *'"exit_code":1,"profile":"dev","triggered_by":"CLI","steps_completed":["init","lint","test","note","complete"]}' ]]
	assert_equal "$(entry -1 level)" error
	[[ $(entry -1 message) == "run failed with exit code 1 (a step failed) after "* ]]
}

@test "two runs sharing one log file are completed separately" {
	first=$CI_RUN_ID
	second=$(ci-runid)
	ci-step init
	CI_RUN_ID=$second ci-step init --profile ui
	ci-step a -- true
	CI_RUN_ID=$second ci-step b -- true
	CI_RUN_ID=$second run --separate-stderr ci-step complete
	[[ $output == *"\"run_id\":\"$second\""*'"profile":"ui"'*'"steps_completed":["init","b","complete"]}' ]]
	run --separate-stderr ci-step complete --exit-code 3
	[[ $output == *"\"run_id\":\"$first\""*'"exit_code":3,"profile":"dev"'*'"steps_completed":["init","a","complete"]}' ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "the steps of one run may come from several processes and scripts" {
	ci-step init
	printf 'ci-step from-script -- true\n' > part.sh
	bash part.sh &
	ci-step from-here -- true &
	wait
	run ci-step complete
	[[ $output == *'"steps_completed":["init",'* ]]
	[[ $output == *'"from-script"'* ]]
	[[ $output == *'"from-here"'* ]]
}

@test "complete reads the log by ci-report's rules: lines that break the schema do not count" {
	ci-step init
	ci-step lint -- true
	printf 'not json at all, %s\n' "$CI_RUN_ID" >> "$CI_LOG_FILE"
	# A completion entry of this run, but with a level the schema refuses.
	printf '{"timestamp":"2025-10-20T14:30:45Z","level":"debug","message":"x","run_id":"%s","source_file":"a","line_number":1,"function_name":"f","step_name":"bogus","duration_ms":5}\n' "$CI_RUN_ID" >> "$CI_LOG_FILE"
	run --separate-stderr ci-step complete
	assert_success
	[[ $output == *'"steps_completed":["init","lint","complete"]}' ]]
}

@test "a completion line with a 0xFF byte counts neither for complete nor for ci-report" {
	ci-step init
	ci-step lint -- true
	# A success of step "sneaky" in every field, but not valid UTF-8.
	printf '{"timestamp":"2025-10-20T14:30:45Z","level":"info","message":"ok \xff","run_id":"%s","source_file":"a","line_number":1,"function_name":"f","step_name":"sneaky","duration_ms":5,"exit_code":0}\n' "$CI_RUN_ID" >> "$CI_LOG_FILE"
	run --separate-stderr ci-report --check "$CI_LOG_FILE"
	assert_failure 1
	assert_output "$CI_LOG_FILE:4: not valid UTF-8 (byte 0xFF at column 66)"
	run --separate-stderr ci-step complete
	assert_success
	[[ $output == *'"steps_completed":["init","lint","complete"]}' ]]
	validate log-schema.json <(grep -av sneaky "$CI_LOG_FILE")
	run --separate-stderr ci-report --format json "$CI_LOG_FILE"
	assert_success
	[[ $output == *'"steps_completed":["init","lint","complete"]'* ]]
	[[ $output != *sneaky* ]]
	[[ $stderr == *"1 malformed line"* ]]
}

@test "complete without init exits 2 and says how to open the run" {
	ci-step lint -- true
	run --separate-stderr ci-step complete
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "ci-step: no init entry for run $CI_RUN_ID in $CI_LOG_FILE (open the run with: ci-step init)"
}

@test "complete needs the log file" {
	unset CI_LOG_FILE
	run --separate-stderr ci-step complete
	assert_failure 2
	assert_equal "$stderr" "ci-step: complete reads the run's log: CI_LOG_FILE is not set"
	CI_LOG_FILE=missing/ci.log run --separate-stderr ci-step complete
	assert_failure 2
	assert_equal "$stderr" "ci-step: cannot read the run's log missing/ci.log: No such file or directory"
}

@test "an exit code outside the contract is recorded as 1, and the message says which was given" {
	ci-step init
	run --separate-stderr ci-step complete --exit-code 130
	assert_success
	[[ $output == *'"exit_code":1,'* ]]
	[[ $(entry -1 message) == *"exit code 130 given, which contracts/exit-codes.md does not define" ]]
}

@test "the trap idiom closes the run with the script's exit status" {
	cat > pipeline.sh <<'SH'
set -e
ci-step init
trap 'ci-step complete --exit-code $? > run.json' EXIT
ci-step lint -- true
ci-testpar --retries 0 --max-load 0 --min-free-mb 0 unit='exit 1'
SH
	run bash pipeline.sh
	assert_failure 3
	run /usr/bin/python3 -c '
import json; r = json.load(open("run.json")); print(r["exit_code"], r["steps_completed"])'
	assert_output "3 ['init', 'lint', 'complete']"
}

@test "a failed step's own status passed on by set -e is recorded as 1, and --exit makes the script exit with it" {
	cat > pipeline.sh <<'SH'
set -e
ci-step init
trap 'ci-step complete --exit-code $? --exit > run.json; exit $?' EXIT
ci-step lint -- true
ci-step build -- sh -c 'echo "make: *** [all] Error 1" >&2; exit 2'
SH
	run --separate-stderr bash pipeline.sh
	assert_failure 1 # not 2: that would say usage or configuration error
	run /usr/bin/python3 -c '
import json; r = json.load(open("run.json")); print(r["exit_code"], r["steps_completed"])'
	assert_output "1 ['init', 'lint', 'complete']"
	[[ $(entry -1 message) == *"exit code 2 given, the status of a failed step's command" ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a contract code given when no step failed with it is recorded as given" {
	ci-step init
	ci-step build -- sh -c 'exit 4' || true
	run --separate-stderr ci-step complete --exit-code 2 --exit
	assert_failure 2
	[[ $output == *'"exit_code":2,'* ]]
	[[ $(entry -1 message) != *"given"* ]]
	run --separate-stderr ci-step complete --exit-code 0
	assert_success
}

@test "init refuses an unknown profile or trigger with exit 2" {
	run --separate-stderr ci-step init --profile prod
	assert_failure 2
	assert_equal "$stderr" "ci-step: --profile: \"prod\" is not a profile (expected dev, ui or full) (see 'ci-step --help')"
	run --separate-stderr ci-step init --trigger cron
	assert_failure 2
	[[ $stderr == *'--trigger: "cron" is not a trigger (expected CLI or TUI)'* ]]
	[ ! -e "$CI_LOG_FILE" ]
}

@test "usage errors exit 2 and name the problem" {
	run --separate-stderr ci-step
	assert_failure 2
	[[ $stderr == "ci-step: missing a step NAME, init or complete"* ]]
	run --separate-stderr ci-step build
	assert_failure 2
	[[ $stderr == "ci-step: build: missing the COMMAND to run"* ]]
	run --separate-stderr ci-step "bad name" -- true
	assert_failure 2
	[[ $stderr == 'ci-step: "bad name" is not a step name'* ]]
	run --separate-stderr ci-step build --timeout 0 -- true
	assert_failure 2
	[[ $stderr == 'ci-step: --timeout: "0" is out of range'* ]]
	run --separate-stderr ci-step build --bogus -- true
	assert_failure 2
	assert_equal "$stderr" "ci-step: --bogus: unknown option (see 'ci-step --help')"
	run --separate-stderr ci-step --bogus
	assert_failure 2
	run --separate-stderr ci-step complete --exit-code x
	assert_failure 2
	[ ! -e "$CI_LOG_FILE" ]
}

@test "a missing run id is a usage error before anything runs" {
	unset CI_RUN_ID
	run --separate-stderr ci-step build -- touch ran
	assert_failure 2
	[[ $stderr == "ci-step: CI_RUN_ID is not set"* ]]
	[ ! -e ran ]
}

@test "-h prints the usage and --version the version" {
	run ci-step -h
	assert_success
	assert_line --index 0 "usage: ci-step init [--profile dev | ui | full] [--trigger CLI | TUI]"
	run ci-step build --help
	assert_success
	run ci-step --version
	[[ $output =~ ^ci-step\ [0-9.]+$ ]]
}

@test "under GitHub Actions complete gives later steps result and exit-code in GITHUB_OUTPUT" {
	export GITHUB_OUTPUT=$BATS_TEST_TMPDIR/output
	ci-step init
	ci-step complete --exit-code 3 >/dev/null
	[ ! -e "$GITHUB_OUTPUT" ]
	export GITHUB_ACTIONS=true
	ci-step complete --exit-code 3 >/dev/null
	ci-step complete >/dev/null
	run cat "$GITHUB_OUTPUT"
	assert_output "$(printf 'result=failure\nexit-code=3\nresult=success\nexit-code=0')"
}

@test "CI_MASK: a captured command's secret is *** on the screen and in the log" {
	export API_KEY=key-93af01bc CI_MASK=API_KEY
	run --separate-stderr ci-step deploy --capture -- sh -c 'echo "out $API_KEY"; echo "err $API_KEY" >&2; printf "last $API_KEY"'
	assert_success
	assert_output "$(printf 'out ***\nlast ***')"
	assert_equal "$stderr" "err ***"
	run grep -c "$API_KEY" "$CI_LOG_FILE"
	assert_output 0
	run jq -r 'select(.duration_ms | not) | .message' "$CI_LOG_FILE"
	assert_line "out ***"
	assert_line "stderr: err ***"
	assert_line "last ***"
}

@test "an entry written for the caller names the caller's file relative to the repository, the line the library gives, or the tool when no honest file exists" {
	git init -q .
	mkdir ci
	printf 'ci-step build -- true\n' > ci/build.sh
	bash ci/build.sh
	run jq -r '"\(.source_file):\(.line_number) \(.function_name)"' "$CI_LOG_FILE"
	assert_line --index 0 "ci/build.sh:1 ci-step"
	# A runner's temporary script is outside the workspace: no file at all.
	: > "$CI_LOG_FILE"
	mkdir -p ../runner-temp
	printf 'ci-step build -- true\n' > ../runner-temp/3f9a.sh
	GITHUB_ACTIONS=true GITHUB_WORKSPACE=$PWD run --separate-stderr bash ../runner-temp/3f9a.sh
	run jq -r '"\(.source_file):\(.line_number)"' "$CI_LOG_FILE"
	assert_line --index 0 "ci-step:1"
	# Its annotation then has no file= rather than a wrong one.
	: > "$CI_LOG_FILE"
	printf 'ci-step build -- false\n' > ../runner-temp/3f9a.sh
	GITHUB_ACTIONS=true GITHUB_WORKSPACE=$PWD run --separate-stderr bash ../runner-temp/3f9a.sh
	[[ $stderr == *"::error title=build::failed: exited with status 1"* ]] || fail "$stderr"
	# Called straight from line 3 of a script in the workspace: the file,
	# and no line rather than a wrong one.
	printf '#!/bin/sh\n\nci-step build -- false\n' > ci/build.sh
	GITHUB_ACTIONS=true GITHUB_WORKSPACE=$PWD run --separate-stderr bash ci/build.sh
	[[ $stderr == *"::error file=ci/build.sh,title=build::failed: exited with status 1"* ]] || fail "$stderr"
	[[ $stderr != *line=* ]] || fail "$stderr"
	# The library's wrappers name the caller's own line, and the command does
	# not inherit it.
	: > "$CI_LOG_FILE"
	CI_CALLER_FILE=ci/build.sh CI_CALLER_LINE=42 ci-step x -- sh -c 'echo "${CI_CALLER_FILE-unset}" > inherited'
	run jq -r '"\(.source_file):\(.line_number)"' "$CI_LOG_FILE"
	assert_line --index 0 "ci/build.sh:42"
	assert_equal "$(cat inherited)" unset
	validate log-schema.json "$CI_LOG_FILE"
}
