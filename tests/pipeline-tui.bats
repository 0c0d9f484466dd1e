#!/usr/bin/env bats
# run.sh --tui in a real terminal (tmux): the profiles with their steps,
# one chosen with the keyboard, the live view of the run (a running step
# and its elapsed time, a retried suite, the step's output one key away),
# the final report and the exit code of the contract.
load helpers/common
load helpers/tmux

setup() {
	common_setup
	tmux_setup
	unset NO_COLOR
	export CI_LOG_DIR=$BATS_TEST_TMPDIR/logs
	RUN=$REPO/scripts/local-ci/run.sh
	# slow waits for the file go, last for go2: the test sees each state.
	cat > c.conf <<'CONF'
step.slow = echo waiting for go; while [ ! -e go ]; do sleep 0.1; done
step.last = while [ ! -e go2 ]; do sleep 0.1; done; echo done
step.lint = true
test.flaky = if [ -e tried ]; then echo ok; else touch tried; echo "not ok 1 first"; exit 1; fi
tests.options = --max-load 0 --min-free-mb 0 --retries 1 --timeout 600
profile.dev = slow test-flaky last
profile.ui = lint
CONF
}
teardown() { tmux_teardown; }

@test "run.sh --tui: choose a profile, watch the step running, the retried suite, then the report; the log says TUI" {
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	run screen
	assert_line '> 1 dev   env-check slow test-flaky last cleanup'
	assert_line '  2 ui    env-check lint cleanup'
	tm send-keys Down
	wait_screen '^> 2 ui '
	tm send-keys Up
	wait_screen '^> 1 dev '
	tm send-keys Enter
	wait_screen '^  slow +running +[0-9.]+m?s$'
	run screen
	assert_line --regexp '^Run run-[0-9]{8}-[0-9]{6}-[a-z0-9]{6}  profile dev  triggered by TUI$'
	assert_line --regexp '^Elapsed [0-9.]+m?s '
	assert_line --regexp '^  env-check +passed '
	# o: the running step's output, from its file, not over the view.
	tm send-keys o
	wait_screen '^Output of slow  \(o: back\)$'
	wait_screen '^  waiting for go$'
	tm send-keys o
	wait_screen '^Steps$'
	touch go
	wait_screen '^  flaky +#1 failed [0-9.]+m?s, #2 passed [0-9.]+m?s$'
	wait_screen '^  last +running +[0-9.]+m?s$'
	run screen
	assert_line --regexp '^  slow +passed +[0-9.]+m?s$'
	# The retried failure is a warning, the run passed: no error.
	assert_line --regexp '^Warnings [1-9][0-9]*  Errors 0$'
	touch go2
	wait_rc
	assert_equal "$rc" 0
	run tm capture-pane -p -S -200
	assert_line --regexp '^Run run-[^ ]+: passed \(exit 0\) in '
	assert_line --regexp 'profile dev, triggered by TUI$'
	log=$(echo logs/ci-*.log)
	run jq -r 'select(.run_start) | .run_start.triggered_by' "$log"
	assert_output TUI
	run jq -r 'select(.pipeline_run) | .pipeline_run.triggered_by' "$log"
	assert_output TUI
	validate log-schema.json "$log"
	# The steps' output went to files of the view, not to the terminal.
	out=${log%.log}.out
	assert_equal "$(cat "$out/slow.out")" "waiting for go"
	assert_equal "$(cat "$out/last.out")" "done"
	run grep -c '^ok$' "$out/test-flaky.out"
	assert_output 1
}

@test "run.sh --tui: a failed step ends on the report with exit code 1" {
	sed -i 's/^step.lint = true/step.lint = echo broken >\&2; exit 7/' c.conf
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	tm send-keys 2 Enter
	wait_rc
	assert_equal "$rc" 1
	run tm capture-pane -p -S -200
	assert_line --regexp '^Run run-[^ ]+: failed \(exit 1\) in '
	run cat logs/ci-*.out/lint.out
	assert_line --index 0 "broken"
	assert_line --index 1 --regexp '^ci-step: lint: failed: exited with status 7 '
	run tm capture-pane -p -S -200
	refute_line broken
}

@test "run.sh --tui: q in the menu runs nothing" {
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	tm send-keys q
	wait_rc
	assert_equal "$rc" 0
	run compgen -G 'logs/ci-*.log'
	assert_failure
	run grep -Ew -- '-icanon|-echo' stty.txt
	assert_failure
}

@test "run.sh --tui: Ctrl-C during the run stops it, closes it with exit code 1 and restores the terminal" {
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	tm send-keys Enter
	wait_screen '^  slow +running'
	tm send-keys C-c
	wait_rc
	assert_equal "$rc" 1
	[ "$(tm display -p '#{alternate_on}')" = 0 ]
	run tm capture-pane -p -S -200
	assert_line --regexp '^Run run-[^ ]+: failed \(exit 1\) in '
	run jq -r 'select(.pipeline_run) | .pipeline_run.exit_code' logs/ci-*.log
	assert_output 1
}

@test "run.sh --tui: not on a terminal, a usage error" {
	run "$RUN" --tui --config c.conf </dev/null
	assert_failure 2
	assert_output "run.sh: --tui: standard input and output must be a terminal"
}

@test "run.sh --tui on TERM=dumb: the menu asks for a number, the run is told one line per event, then the report" {
	tmux_run "TERM=dumb '$RUN' --tui --config c.conf"
	wait_screen '^profile \[1-3, q\]:'
	run screen
	assert_line '> 1 dev   env-check slow test-flaky last cleanup'
	tm send-keys 2 Enter
	wait_rc
	assert_equal "$rc" 0
	run tm capture-pane -p -S -200
	assert_line --regexp '^[0-9]{2}:[0-9]{2}:[0-9]{2} run run-[^ ]+ started: profile ui, triggered by TUI$'
	assert_line --regexp '^[0-9]{2}:[0-9]{2}:[0-9]{2} step lint passed '
	assert_line --regexp '^Run run-[^ ]+: passed \(exit 0\) in '
	# No escape sequence of a screen that is redrawn: lines, one after another.
	run tm capture-pane -p -e -S -200
	refute_output --partial $'\e[?1049h'
	refute_output --regexp $'\e\\[[0-9;]*m'
}

@test "run.sh --tui: e shows the run's errors with their file and line, and e again goes back" {
	# A step that passes though it wrote a compiler error, then one that waits.
	sed -i 's/^step.lint = true/step.lint = echo "src\/x.c:3:1: error: broken here" >\&2/' c.conf
	sed -i 's/^profile.ui = lint/profile.ui = lint slow/' c.conf
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	tm send-keys 2 Enter
	wait_screen '^  slow +running'
	tm send-keys e
	wait_screen '^Warnings 0, errors 1  \(e: back\)$'
	wait_screen 'src/x\.c:3.*broken here'
	tm send-keys e
	wait_screen '^Steps$'
	touch go
	wait_rc
	assert_equal "$rc" 0
}

@test "run.sh --tui: with more steps than 24 lines hold, the view fits 80x24 and keeps the running step in sight" {
	{
		for i in $(seq -w 30); do echo "step.s$i = true"; done
		echo 'step.wait = while [ ! -e go ]; do sleep 0.1; done'
		printf 'profile.full ='
		for i in $(seq -w 30); do printf ' s%s' "$i"; done
		echo ' wait'
	} >> c.conf
	tmux_run "'$RUN' --tui --config c.conf"
	wait_screen '^ci-tools: choose a profile'
	tm send-keys 3 Enter
	wait_screen '^  wait +running +[0-9.]+m?s$'
	run screen
	# Not scrolled: the run's line on top, the keys at the bottom, the
	# newest steps in between.
	assert_line --index 0 --regexp '^Run run-[^ ]+  profile full  triggered by TUI$'
	assert_line --regexp '^  s30 +passed '
	[[ $(screen | sed -n 24p) == *"q quit"* ]] || fail "$(screen)"
	for l in "${lines[@]}"; do
		[ "${#l}" -le 80 ] || fail "a line of ${#l} columns: $l"
	done
	touch go
	wait_rc
	assert_equal "$rc" 0
}
