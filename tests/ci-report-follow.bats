#!/usr/bin/env bats
# ci-report --follow: a log read as it grows, by a real pipeline or by the
# tools one entry at a time, through a file that appears late or is removed
# by retention; one line per event off a terminal, a view redrawn in a real
# terminal (tmux) that q and Ctrl-C end with the terminal restored.
load helpers/common
load helpers/tmux

setup() {
	common_setup
	export NO_COLOR=1 TERM=dumb LC_ALL=C.UTF-8
}
teardown() {
	[ -z "${FOLLOW_PID:-}" ] || kill "$FOLLOW_PID" 2>/dev/null || true
	tmux_teardown
}

# follow_bg OUT ARGS...: ci-report --follow in the background, off a terminal.
follow_bg() {
	local out=$1
	shift
	ci-report --follow "$@" >"$out" 2>"$out.err" </dev/null 3>&- &
	FOLLOW_PID=$!
}

# wait_follow: until the follower has exited (a generous bound); $rc.
wait_follow() {
	local end=$((SECONDS + 120))
	while kill -0 "$FOLLOW_PID" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { echo "# ci-report --follow never ended" >&2; return 1; }
		sleep 0.1
	done
	wait "$FOLLOW_PID" && rc=0 || rc=$?
	FOLLOW_PID=
}

# A run by hand, one tool at a time.
begin_run() {
	new_run
	ci-step init --profile dev --trigger CLI
}

@test "--follow: a log written by a running pipeline in the background is followed to its completion" {
	mkdir proj && cd proj
	cat > c.conf <<'CONF'
step.wait = echo waiting; while [ ! -e go ]; do sleep 0.1; done; echo went
step.build = echo built
profile.dev = wait build
CONF
	CI_LOG_DIR=logs "$REPO/scripts/local-ci/run.sh" --config c.conf >run.out 2>&1 </dev/null 3>&- &
	pipeline=$!
	end=$((SECONDS + 120))
	until compgen -G 'logs/ci-*.log' >/dev/null; do
		[ $SECONDS -lt $end ] || fail "the pipeline never wrote its log"
		sleep 0.1
	done
	log=$(echo logs/ci-*.log)
	follow_bg out "$log"
	wait_grep '^[0-9:]{8} step wait started$' out
	run grep -c 'passed: exit code' out
	assert_output 0
	touch go
	wait_follow
	wait "$pipeline"
	assert_equal "$rc" 0
	run cat out
	assert_line --regexp '^[0-9:]{8} run run-[0-9]{8}-[0-9]{6}-[a-z0-9]{6} started: profile dev, triggered by CLI$'
	assert_line --regexp '^[0-9:]{8} step env-check passed \([0-9.]+m?s\)$'
	assert_line --regexp '^[0-9:]{8} step wait passed \([0-9.]+m?s\)$'
	assert_line --regexp '^[0-9:]{8} step build passed \([0-9.]+m?s\)$'
	assert_line --regexp '^[0-9:]{8} run run-[^ ]+ passed: exit code 0, '
	assert_line --regexp '^Run run-[^ ]+: passed \(exit 0\) in '
	validate log-schema.json "$log"
}

@test "--follow: a log that appears after it starts is waited for, then followed" {
	new_run
	follow_bg out logs/ci.log
	# Nothing to read yet, and no run: it waits, printing nothing.
	run kill -0 "$FOLLOW_PID"
	assert_success
	ci-step init --profile ui --trigger CLI
	wait_grep 'started: profile ui, triggered by CLI$' out
	ci-step lint -- true
	wait_grep '^[0-9:]{8} step lint passed' out
	ci-step complete --exit-code 0 >/dev/null
	wait_follow
	assert_equal "$rc" 0
	run cat out
	assert_line --regexp "^[0-9:]{8} run $CI_RUN_ID passed: exit code 0, "
	assert_line --regexp "^Run $CI_RUN_ID: passed \(exit 0\)"
	assert_equal "$(cat out.err)" ""
}

@test "--follow: a log removed by ci-log --prune and written again is read again from its start" {
	begin_run
	# A name that retention prunes.
	CI_LOG_FILE=$BATS_TEST_TMPDIR/logs/ci-20251020_143045.log
	ci-step init --profile dev --trigger CLI
	ci-step lint -- true
	follow_bg out "$CI_LOG_FILE"
	wait_grep '^[0-9:]{8} step lint passed' out
	# Retention run by another pipeline sharing the directory.
	run env -u CI_LOG_FILE ci-log --prune --keep 0 --dir logs
	assert_success
	assert_output "removed logs/ci-20251020_143045.log"
	[ ! -e "$CI_LOG_FILE" ]
	# The run goes on: its next entries make a new file of that name.
	ci-step build -- true
	wait_grep '^[0-9:]{8} step build passed' out
	# ci-step complete wants the init entry, gone with the old file: the
	# completion as it would have written it.
	now=$(date +%s)
	echo '{"timestamp":"'"$(date -u +%FT%T.000Z)"'","level":"info","message":"run passed","run_id":"'"$CI_RUN_ID"'","source_file":"run.sh","line_number":9,"function_name":"main","step_name":"complete","duration_ms":1000,"pipeline_run":{"run_id":"'"$CI_RUN_ID"'","start_time":'$((now - 1))',"end_time":'$now',"duration":1,"exit_code":0,"profile":"dev","triggered_by":"CLI","steps_completed":["init","lint","build","complete"]}}' >>"$CI_LOG_FILE"
	validate log-schema.json "$CI_LOG_FILE"
	wait_follow
	assert_equal "$rc" 0
	run cat out
	# Each event once, though the files were read again.
	assert_equal "$(grep -c 'step lint passed' out)" 1
	assert_line --regexp "^[0-9:]{8} run $CI_RUN_ID passed: exit code 0, "
	assert_line --regexp "^Run $CI_RUN_ID: passed \(exit 0\)"
}

@test "--follow: a truncated log is read again from its start" {
	begin_run
	follow_bg out "$CI_LOG_FILE"
	wait_grep 'started: profile dev' out
	: > "$CI_LOG_FILE"
	ci-step init --profile full --trigger CLI
	wait_grep 'started: profile full' out
	ci-step complete --exit-code 0 >/dev/null
	wait_follow
	assert_equal "$rc" 0
	assert_equal "$(grep -c 'started: profile' out)" 2
}

@test "--follow: standard input is read as it comes, its first run followed" {
	begin_run
	ci-step lint -- true
	mkfifo pipe
	ci-report --follow <pipe >out 2>out.err 3>&- &
	FOLLOW_PID=$!
	exec 4>pipe
	cat "$CI_LOG_FILE" >&4
	wait_grep '^[0-9:]{8} step lint passed' out
	ci-step complete --exit-code 0 >/dev/null
	tail -n 1 "$CI_LOG_FILE" >&4
	exec 4>&-
	wait_follow
	assert_equal "$rc" 0
	run cat out
	assert_line --index 0 --regexp "^[0-9:]{8} run $CI_RUN_ID started: profile dev, triggered by CLI$"
	assert_line --regexp "^Run $CI_RUN_ID: passed \(exit 0\)"
}

@test "--follow off a terminal: one line per event, then the report" {
	begin_run
	ci-step lint -- sh -c 'echo linting'
	CI_STEP=build ci-log -l warn "careful"
	ci-step build -- false || true
	ci-step complete --exit-code 1 >/dev/null
	# The run is over: --run ID follows it to its end at once.
	run --separate-stderr ci-report --follow --run "$CI_RUN_ID" "$CI_LOG_FILE"
	assert_success
	assert_line --index 0 --regexp "^[0-9:]{8} run $CI_RUN_ID started: profile dev, triggered by CLI$"
	assert_line --index 1 --regexp '^[0-9:]{8} step lint started$'
	assert_line --index 2 --regexp '^[0-9:]{8} step lint passed \([0-9.]+m?s\)$'
	assert_line --index 3 --regexp '^[0-9:]{8} step build started$'
	assert_line --index 4 --regexp '^[0-9:]{8} warn build: [^ ]+:[0-9]+: careful$'
	assert_line --index 5 --regexp '^[0-9:]{8} step build failed \([0-9.]+m?s\)$'
	assert_line --index 6 --regexp '^[0-9:]{8} error build: [^ ]+:[0-9]+: failed: exited with status 1'
	assert_line --index 7 --regexp "^[0-9:]{8} run $CI_RUN_ID failed: exit code 1, "
	assert_line --index 8 --regexp "^Run $CI_RUN_ID: failed \(exit 1\)"
	assert_equal "$stderr" ""
	# The same lines as the report without --follow, after the events.
	assert_equal "$(printf '%s\n' "${lines[@]:8}")" "$(ci-report --run "$CI_RUN_ID" "$CI_LOG_FILE" | sed '/^$/d')"
}

@test "--follow: usage errors name the options that do not go with it" {
	run ci-report --follow --format json x.log
	assert_failure 2
	assert_output "ci-report: --follow shows one run as text: it takes only --run and --output (see 'ci-report --help')"
	mkdir logs
	run ci-report --follow logs
	assert_failure 2
	assert_output "ci-report: logs: is a directory, not a log (follow its files: logs/ci-*.log)"
	run ci-report --output dir x.log
	assert_failure 2
	assert_output "ci-report: --output goes with --follow (see 'ci-report --help')"
}

# The view in a terminal, on a run still going: steps, elapsed time, keys.
view_setup() {
	tmux_setup
	begin_run
	ci-step lint -- true
	CI_STEP=test-unit ci-log -l warn "deprecated call"
	ci-log "a step that runs" >/dev/null
	# A suite the run never started, as ci-testpar logs it (entries.md).
	now=$(date +%s)
	echo '{"timestamp":"'"$(date -u +%FT%T.000Z)"'","level":"warn","message":"smoke skipped","run_id":"'"$CI_RUN_ID"'","source_file":"run.sh","line_number":1,"function_name":"ci-testpar","step_name":"test-smoke","duration_ms":0,"test_execution":{"test_type":"smoke","attempt_number":1,"status":"skipped","duration":0,"failure_count":0,"started_at":'$now',"completed_at":'$now',"run_in_parallel":true,"fallback_to_serial":false}}' >>"$CI_LOG_FILE"
	CI_STEP=build ci-log "building"
	validate log-schema.json "$CI_LOG_FILE"
	unset NO_COLOR
	tmux_run "ci-report --follow '$CI_LOG_FILE'"
	wait_screen '^  build +running +[0-9.]+m?s'
}

@test "--follow in a terminal: a view of the run's steps, elapsed time and warnings; q ends it with the terminal restored" {
	view_setup
	screen >view.txt
	run cat view.txt
	assert_line --index 0 "Run $CI_RUN_ID  profile dev  triggered by CLI"
	assert_line --regexp '^Elapsed [0-9.]+m?s \(no earlier dev run to compare\)$'
	assert_line --regexp '^  lint +passed +[0-9.]+m?s$'
	assert_line --regexp '^  test-smoke +skipped +0ms$'
	assert_line --regexp '^  smoke +#1 skipped 0ms$'
	assert_line --regexp '^Warnings 2  Errors 0$'
	assert_line --regexp '^  warn +test-unit +[^ ]+:[0-9]+ deprecated call$'
	assert_line --regexp '^  warn +test-smoke +run\.sh:1 smoke skipped$'
	run tail -n 1 view.txt
	assert_output --regexp '^ q quit +o output of the step +e errors'
	[ "$(tm display -p '#{alternate_on}')" = 1 ]
	# e shows the errors and warnings; e again the steps.
	tm send-keys e
	wait_screen '^Warnings 2, errors 0  \(e: back\)$'
	wait_screen '^  warn +test-smoke +run\.sh:1 smoke skipped$'
	tm send-keys e
	wait_screen '^Steps$'
	tm send-keys q
	wait_rc
	assert_equal "$rc" 1
	[ "$(tm display -p '#{alternate_on}')" = 0 ]
	[ "$(tm display -p '#{cursor_flag}')" = 1 ]
	run grep -Ew -- '-icanon|-echo' stty.txt
	assert_failure
}

@test "--follow in a terminal: Ctrl-C ends it with the terminal restored and 130" {
	view_setup
	tm send-keys C-c
	wait_rc
	assert_equal "$rc" 130
	[ "$(tm display -p '#{alternate_on}')" = 0 ]
	[ "$(tm display -p '#{cursor_flag}')" = 1 ]
	run grep -Ew -- '-icanon|-echo' stty.txt
	assert_failure
}

@test "--follow in a terminal: the elapsed time against the median of earlier runs of the profile" {
	tmux_setup
	# Three earlier dev runs of 10, 20 and 60 s, and a ui run of 500 s.
	for d in 10 20 60 500; do
		id=run-20251020-1430$((d % 60 / 10))5-aaaa$((d / 100))$((d % 10))
		p=dev
		[ "$d" != 500 ] || p=ui
		cat >>old.log <<LOG
{"timestamp":"2025-10-20T14:30:45.000Z","level":"info","message":"start","run_id":"$id","source_file":"run.sh","line_number":1,"function_name":"main","step_name":"init","duration_ms":0,"exit_code":0,"run_start":{"start_time":1760970645,"profile":"$p","triggered_by":"CLI"}}
{"timestamp":"2025-10-20T14:30:45.000Z","level":"info","message":"end","run_id":"$id","source_file":"run.sh","line_number":9,"function_name":"main","step_name":"complete","duration_ms":$((d * 1000)),"pipeline_run":{"run_id":"$id","start_time":1760970645,"end_time":$((1760970645 + d)),"duration":$d,"exit_code":0,"profile":"$p","triggered_by":"CLI","steps_completed":["init","complete"]}}
LOG
	done
	begin_run
	CI_STEP=build ci-log "building"
	tmux_run "ci-report --follow old.log '$CI_LOG_FILE'"
	wait_screen '^Elapsed [0-9.]+m?s of ~20s \(median of 3 dev runs\) \[[#.]{30}\] [0-9]+%$'
	tm send-keys q
	wait_rc
}
