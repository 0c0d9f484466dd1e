#!/usr/bin/env bats
# ci-deploy under faults: signals that end a run, a log that cannot be
# written (a full disk, a closed pipe), temporary files a killed run left, a
# state file behind a symbolic link. Real signals, real repositories and
# hooks, a real tmpfs when root.
load helpers/common
load helpers/deploy
load helpers/disk
load helpers/tmux

setup() { deploy_setup; }

teardown() {
	touch "$SRV/go"
	deploy_teardown
	small_disk_free
	tmux_teardown
	[ ! -e "$STATE" ] || valid_state
}

st() { jq -r "$1" "${2:-$STATE}"; }
ls_remote() { git ls-remote "$SRV/remote.git" refs/heads/main | cut -f1; }

# hook NAME BODY: a hook of the remote.
hook() {
	printf '#!/bin/sh\n%s\n' "$2" >"$SRV/remote.git/hooks/$1"
	chmod +x "$SRV/remote.git/hooks/$1"
}

# wait_for CMD: until CMD succeeds, for a minute at most.
wait_for() {
	local i
	for i in $(seq 1200); do
		eval "$1" && return 0
		sleep 0.05
	done
	fail "waited a minute for: $1"
}

# closed_pipe FD CMD...: run CMD with FD (1, 2 or both) a pipe whose
# reader is gone, SIGPIPE at its default as a shell would leave it.
closed_pipe() {
	/usr/bin/python3 -c '
import os, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
r, w = os.pipe()
os.close(r)
for fd in ([1, 2] if sys.argv[1] == "both" else [int(sys.argv[1])]):
    os.dup2(w, fd)
os.execvp(sys.argv[2], sys.argv[2:])' "$@"
}

# interrupt_wait SIG: a deployment over git daemon whose every push is
# refused, sent SIG while it waits 60 s before its second attempt.
interrupt_wait() {
	start_daemon
	hook pre-receive 'echo "server busy" >&2; exit 1'
	new_run
	env --default-signal ci-deploy push --remote "$DAEMON/remote.git" --attempts 5 --backoff-base 30 >/dev/null 2>err 3>&- &
	pid=$!
	wait_for 'grep -q "waiting 60 s" "$CI_LOG_FILE" 2>/dev/null'
	kill -"$1" "$pid"
	status=0
	wait "$pid" || status=$?
}

# The record a signal during the wait leaves, and the logged outcome.
interrupted_wait_recorded() {
	assert_equal "$status" 5
	valid_state
	id=$(st .currentDeployment.deployment_id)
	want="Git operations failed after 1 attempt: interrupted by $1 while waiting before attempt 2 of 5; attempt 1: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy)"
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	assert_equal "$(st .currentDeployment.error_message)" "$want"
	assert_equal "$(tail -n 1 err)" "ci-deploy: $id: $want"
	run jq -r 'select(.duration_ms != null) | "\(.level) \(.message)"' "$CI_LOG_FILE"
	assert_output "error $id: $want"
	validate log-schema.json "$CI_LOG_FILE"
}

# --- signals ------------------------------------------------------------

@test "SIGHUP while waiting to retry: a finished failure record naming the signal and the wait, the outcome logged, exit 5" {
	interrupt_wait HUP
	interrupted_wait_recorded SIGHUP
}

@test "SIGTERM while waiting to retry: a finished failure record naming the signal and the wait, exit 5" {
	interrupt_wait TERM
	interrupted_wait_recorded SIGTERM
}

@test "SIGINT while waiting to retry: a finished failure record naming the signal and the wait, exit 5" {
	interrupt_wait INT
	interrupted_wait_recorded SIGINT
}

@test "SIGQUIT while waiting to retry: a finished failure record naming the signal, exit 5" {
	interrupt_wait QUIT
	interrupted_wait_recorded SIGQUIT
}

@test "SIGTERM while the server is at work on the push: the attempt is broken off and recorded as interrupted during it" {
	start_daemon
	hook pre-receive 'touch "'"$SRV"'/started"; i=0; while [ ! -e "'"$SRV"'/go" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done; touch "'"$SRV"'/hook-done"; exit 1'
	new_run
	env --default-signal ci-deploy push --remote "$DAEMON/remote.git" >/dev/null 2>err 3>&- &
	pid=$!
	wait_for '[ -e "$SRV/started" ]'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ ! -e "$SRV/hook-done" ] || fail "it waited for the server: $(cat err)"
	touch "$SRV/go"
	assert_equal "$status" 5
	valid_state
	[[ $(st .currentDeployment.error_message) == "Git operations failed after 1 attempt: interrupted by SIGTERM during attempt 1 of 3"* ]] ||
		fail "$(st .currentDeployment.error_message)"
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output error
}

@test "SIGHUP while --verify runs: the check's process group is stopped, the verification failed naming the signal, exit 5" {
	new_run
	env --default-signal ci-deploy push --verify 'echo $$ >"$PWD/verify.pid"; exec sleep 120' >/dev/null 2>err 3>&- &
	pid=$!
	wait_for '[ -s verify.pid ]'
	kill -HUP "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 5
	run kill -0 "$(cat verify.pid)"
	assert_failure
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "verification failed: interrupted by SIGHUP while verifying"
	assert_equal "$(st .lastKnownGood)" null
	assert_equal "$(ls_remote)" "$C1"
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output error
}

@test "a terminal closed while it waits to retry (SIGHUP, then the terminal gone): a finished record naming SIGHUP, exit 5" {
	tmux_setup
	start_daemon
	hook pre-receive 'echo "server busy" >&2; exit 1'
	new_run
	# Its standard error is the terminal. The pane's shell, the controlling
	# process, dies of the hangup, and the kernel sends SIGHUP to the
	# foreground group: ci-deploy and the shell around it, which only
	# notes it, to say how ci-deploy ended.
	cat >"$BATS_TEST_TMPDIR/deploy.sh" <<-EOF
		export PATH='$PATH' CI_RUN_ID='$CI_RUN_ID' CI_LOG_FILE='$CI_LOG_FILE'
		trap : HUP
		cd work || exit
		ci-deploy push --remote '$DAEMON/remote.git' --attempts 5 --backoff-base 30
		echo \$? >'$BATS_TEST_TMPDIR/deploy.rc'
	EOF
	tmux_run "bash deploy.sh"
	wait_grep "waiting 60 s" "$CI_LOG_FILE"
	tm kill-server
	wait_file "$BATS_TEST_TMPDIR/deploy.rc"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/deploy.rc")" 5
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 1 attempt: interrupted by SIGHUP while waiting before attempt 2 of 5; attempt 1: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy)"
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output error
}

@test "SIGTERM while a rollback waits to retry: the rollback's record is a finished failure naming the signal, what was live stays, exit 5" {
	start_daemon
	git remote set-url origin "$DAEMON/remote.git"
	ci-deploy push 2>/dev/null
	C2=$(commit two)
	ci-deploy push 2>/dev/null
	live=$(st .currentDeployment.deployment_id)
	hook pre-receive 'echo "frozen" >&2; exit 1'
	new_run
	env --default-signal ci-deploy rollback --backoff-base 30 >/dev/null 2>err 3>&- &
	pid=$!
	wait_for 'grep -q "waiting 60 s" "$CI_LOG_FILE" 2>/dev/null'
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 5
	valid_state
	id=$(st .currentDeployment.deployment_id)
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 1 attempt: interrupted by SIGTERM while waiting before attempt 2 of 3; attempt 1: remote rejected refs/heads/main: pre-receive hook declined (remote: frozen)"
	assert_equal "$(st '.history[-1] | "\(.deployment_id) \(.status)"')" "$live success"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$live"
	assert_equal "$(ls_remote)" "$C2"
	[[ $(tail -n 1 err) == "ci-deploy: $id: rollback of $live to "*" failed: Git operations failed after 1 attempt: interrupted by SIGTERM while waiting"* ]] || fail "$(cat err)"
}

@test "the next run after a signal keeps the finished record as it is" {
	interrupt_wait HUP
	assert_equal "$status" 5
	was=$(st .currentDeployment.error_message)
	id=$(st .currentDeployment.deployment_id)
	rm "$SRV/remote.git/hooks/pre-receive"
	run ci-deploy push --remote "$DAEMON/remote.git"
	assert_success
	assert_equal "$(st '.history[-1].deployment_id')" "$id"
	assert_equal "$(st '.history[-1].error_message')" "$was"
}

@test "a signal ignored when it starts (nohup, a background job) stays ignored: the deployment goes on" {
	start_daemon
	hook pre-receive '[ -e "'"$SRV"'/once" ] && exit 0; touch "'"$SRV"'/once"; exit 1'
	new_run
	(trap '' HUP INT; exec ci-deploy push --remote "$DAEMON/remote.git" --backoff-base 1 >/dev/null 2>err 3>&-) &
	pid=$!
	wait_for 'grep -q "waiting 2 s" "$CI_LOG_FILE" 2>/dev/null'
	kill -HUP "$pid"
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 0
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 2
}

@test "a signal before the deployment starts (waiting for the lock) records nothing and says so" {
	ci-deploy push 2>/dev/null
	before=$(cat "$STATE")
	flock "$STATE.lock" sh -c 'touch held; i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' 3>&- &
	holder=$!
	wait_for '[ -e held ]'
	env --default-signal ci-deploy push >/dev/null 2>err 3>&- &
	pid=$!
	wait_for 'grep -q waiting err'
	kill -HUP "$pid"
	status=0
	wait "$pid" || status=$?
	touch go
	wait "$holder"
	assert_equal "$status" 5
	assert_equal "$(tail -n 1 err)" "ci-deploy: interrupted by SIGHUP while waiting for $STATE.lock: nothing recorded"
	assert_equal "$(cat "$STATE")" "$before"
}

# --- a log that cannot be written, closed pipes ---------------------------

# fill_script: $SRV/fill, which fills $DISK, and then the page that the
# log's end is in (tmpfs gives space by pages) with a line of spaces, so
# that the next entry finds no room.
fill_script() {
	cat >"$SRV/fill" <<-EOF
		#!/bin/sh
		cat /dev/zero >"$DISK/fill" 2>/dev/null
		n=\$(stat -c %s "$CI_LOG_FILE")
		pad=\$(( (4096 - n % 4096) % 4096 ))
		if [ "\$pad" -gt 0 ]; then
			head -c \$((pad - 1)) /dev/zero | tr '\\0' ' ' >>"$CI_LOG_FILE"
			echo >>"$CI_LOG_FILE"
		fi
	EOF
	chmod +x "$SRV/fill"
}

# entries: the log's lines that are not blank.
entries() { grep -v '^ *$' "$CI_LOG_FILE" >entries || true; }

@test "a log on a full disk: nothing pushed, a finished failure record naming the log, one line on stderr, exit 4" {
	small_disk
	cat /dev/zero >"$DISK/fill" 2>/dev/null || true
	new_run
	export CI_LOG_FILE=$DISK/ci.log
	run --separate-stderr ci-deploy push
	assert_failure 4
	why="cannot write to the log $DISK/ci.log: No space left on device"
	valid_state
	id=$(st .currentDeployment.deployment_id)
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.error_message)" "Git operations stopped before attempt 1 of 3: $why"
	assert_equal "$(grep -c "^ci-deploy: $why\$" <<<"$stderr")" 1
	assert_equal "$(tail -n 1 <<<"$stderr")" "ci-deploy: $id: Git operations stopped before attempt 1 of 3: $why"
	run git --git-dir="$SRV/remote.git" for-each-ref refs/heads
	assert_output ""
}

@test "the disk fills during a push: no retry, a finished failure record naming the log and the attempt, exit 4" {
	small_disk
	new_run
	export CI_LOG_FILE=$DISK/ci.log
	fill_script
	hook pre-receive "$SRV/fill; exit 1"
	run --separate-stderr ci-deploy push --backoff-base 0
	assert_failure 4
	why="cannot write to the log $DISK/ci.log: No space left on device"
	valid_state
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	[[ $(st .currentDeployment.error_message) == "Git operations failed after 1 attempt: $why "*"attempt 1 of 3"* ]] ||
		fail "$(st .currentDeployment.error_message)"
	assert_equal "$(grep -c "^ci-deploy: $why\$" <<<"$stderr")" 1
	run git --git-dir="$SRV/remote.git" for-each-ref refs/heads
	assert_output ""
	# What was written before is whole; the next run, with room, goes on.
	entries
	validate log-schema.json entries
	assert_equal "$(jq -r .message entries)" "$(st .currentDeployment.deployment_id): attempt 1 of 3: pushing $C1 to refs/heads/main on $SRV/remote.git"
	was=$(st .currentDeployment.error_message)
	rm "$DISK/fill" "$SRV/remote.git/hooks/pre-receive"
	run ci-deploy push
	assert_success
	assert_equal "$(st '.history[-1].error_message')" "$was"
}

@test "the disk fills as the push is accepted: the record says success, the one line names the log, exit 4" {
	small_disk
	new_run
	export CI_LOG_FILE=$DISK/ci.log
	fill_script
	hook post-receive "$SRV/fill"
	run --separate-stderr ci-deploy push
	assert_failure 4
	assert_equal "$(grep -c "^ci-deploy: cannot write to the log $DISK/ci.log: No space left on device\$" <<<"$stderr")" 1
	valid_state
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .lastKnownGood.deployment_id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(ls_remote)" "$C1"
}

@test "a log at the file size limit (SIGXFSZ): a finished failure record naming the log, exit 4, not killed" {
	new_run
	mkdir -p "${CI_LOG_FILE%/*}"
	# A log of exactly 8 KiB (a blank line), which a limit of 8 KiB lets
	# no entry grow.
	head -c 8191 /dev/zero | tr '\0' ' ' >"$CI_LOG_FILE"
	echo >>"$CI_LOG_FILE"
	assert_equal "$(stat -c %s "$CI_LOG_FILE")" 8192
	run --separate-stderr bash -c 'ulimit -f 8; exec ci-deploy push'
	assert_failure 4
	why="cannot write to the log $CI_LOG_FILE: File too large"
	assert_equal "$(grep -c "^ci-deploy: $why\$" <<<"$stderr")" 1
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "Git operations stopped before attempt 1 of 3: $why"
	run git --git-dir="$SRV/remote.git" for-each-ref refs/heads
	assert_output ""
}

@test "the log on a closed standard output: nothing pushed, a finished record, one line naming standard output, exit 4" {
	new_run
	unset CI_LOG_FILE
	run --separate-stderr closed_pipe 1 ci-deploy push
	assert_failure 4
	why="cannot write to the log on standard output: Broken pipe"
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "Git operations stopped before attempt 1 of 3: $why"
	assert_equal "$(grep -c "^ci-deploy: $why\$" <<<"$stderr")" 1
	run git --git-dir="$SRV/remote.git" for-each-ref refs/heads
	assert_output ""
}

@test "a closed standard error does not end it: SIGPIPE is ignored, the deployment is recorded and logged" {
	new_run
	run closed_pipe 2 ci-deploy push
	assert_success
	assert_equal "$(st .currentDeployment.status)" success
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output info
	# Both closed, entries on standard output: the record is finished.
	unset CI_LOG_FILE
	commit two >/dev/null
	run closed_pipe both ci-deploy push
	assert_failure 4
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "Git operations stopped before attempt 1 of 3: cannot write to the log on standard output: Broken pipe"
}

# --- temporary files a killed run left ----------------------------------

@test "temporary state files a killed run left are removed by the next run; other files of the directory stay" {
	ci-deploy push 2>/dev/null
	cd .github
	touch deployment-state.json.tmpAb3dE9 deployment-state.json.tmpZZZZZZ \
		deployment-state.json.tmp12345 deployment-state.json.tmpAb3dE9x \
		deployment-state.json.tmp-b3dE9 other.json.tmpAb3dE9 \
		deployment-state.json.tmpAb3dE9.json
	mkdir deployment-state.json.tmpQQQQQQ
	ln -s /nonexistent deployment-state.json.tmpLinkXY
	cd ..
	commit two >/dev/null
	run ci-deploy push
	assert_success
	run ls -A .github
	assert_output "deployment-state.json
deployment-state.json.lock
deployment-state.json.tmp-b3dE9
deployment-state.json.tmp12345
deployment-state.json.tmpAb3dE9.json
deployment-state.json.tmpAb3dE9x
deployment-state.json.tmpLinkXY
deployment-state.json.tmpQQQQQQ
other.json.tmpAb3dE9"
}

@test "a temporary file is removed only under the lock: not while another run holds it" {
	ci-deploy push 2>/dev/null
	flock "$STATE.lock" sh -c 'touch held; i=0; while [ ! -e go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done' 3>&- &
	holder=$!
	wait_for '[ -e held ]'
	# As a live run holding the lock has it while it writes.
	touch "$STATE.tmpLive01"
	commit two >/dev/null
	ci-deploy push >/dev/null 2>err 3>&- &
	pid=$!
	wait_for 'grep -q waiting err'
	sleep 0.5
	[ -e "$STATE.tmpLive01" ] || fail "removed while another run held the lock"
	touch go
	wait "$holder"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 0
	[ ! -e "$STATE.tmpLive01" ] || fail "not removed once the lock was taken"
}

@test "30 runs killed with SIGKILL and leftovers of their naming: the next run leaves only the state file and its lock" {
	ci-deploy push 2>/dev/null
	for i in $(seq 30); do
		c=$(commit "c$i")
		ci-deploy push --commit "$c" >/dev/null 2>&1 3>&- &
		pid=$!
		# Killed at once, or soon: sometimes while it writes the file.
		sleep "0.0$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# Left behind by a run killed while it wrote, as such a run would.
		[ $((i % 10)) = 0 ] && cp "$STATE" "$STATE.tmpK$(printf %05d "$i")"
	done
	run ci-deploy push --commit "$(commit last)"
	assert_success
	run ls -A .github
	assert_output "deployment-state.json
deployment-state.json.lock"
}

# --- a state file behind a symbolic link --------------------------------

@test "a state file behind a symlink stays a symlink: its target gets the records, the lock and temporary files are beside the target" {
	mkdir -p .github deploy
	# Relative to the link's directory; the target does not exist yet.
	ln -s ../deploy/state.json .github/deployment-state.json
	run ci-deploy push
	assert_success
	[ -L .github/deployment-state.json ] || fail "the link was replaced"
	assert_equal "$(readlink .github/deployment-state.json)" ../deploy/state.json
	valid_state deploy/state.json
	assert_equal "$(st .currentDeployment.commit_sha deploy/state.json)" "$C1"
	C2=$(commit two)
	touch deploy/state.json.tmpOld001
	run ci-deploy push
	assert_success
	[ -L .github/deployment-state.json ] || fail "the link was replaced"
	assert_equal "$(st .currentDeployment.commit_sha deploy/state.json)" "$C2"
	assert_equal "$(st '.history[0].commit_sha' deploy/state.json)" "$C1"
	run ls -A .github deploy
	assert_output ".github:
deployment-state.json

deploy:
state.json
state.json.lock"
	run ci-deploy status
	assert_line --index 0 --partial "$C2"
}

@test "a dangling symlink through another symlink, to a directory that does not exist yet: both links stay, the target is created" {
	ln -s link2.json link1.json
	ln -s new/dir/state.json link2.json
	run ci-deploy push --state link1.json
	assert_success
	[ -L link1.json ] || fail "link1.json was replaced"
	[ -L link2.json ] || fail "link2.json was replaced"
	valid_state new/dir/state.json
	assert_equal "$(st .currentDeployment.status new/dir/state.json)" success
	[ -e new/dir/state.json.lock ] || fail "no lock beside the target"
	run ls -A
	refute_output --partial link1.json.lock
}

@test "a symlink loop as the state file: exit 4 naming it, nothing pushed" {
	ln -s loop2.json loop1.json
	ln -s loop1.json loop2.json
	run --separate-stderr ci-deploy push --state loop1.json
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: loop1.json: Too many levels of symbolic links"
	run git --git-dir="$SRV/remote.git" for-each-ref refs/heads
	assert_output ""
}

@test "deployments through a symlink and through its target at once are serialised: all recorded, the file valid, the link kept" {
	mkdir real
	ln -s real/state.json link.json
	for i in $(seq 8); do git branch "b$i" "$(commit "c$i")"; done
	pids=()
	for i in $(seq 8); do
		if [ $((i % 2)) = 0 ]; then s=link.json; else s=$PWD/real/state.json; fi
		ci-deploy push --commit "b$i" --force --state "$s" >/dev/null 2>"err$i" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "a deployment failed: $(cat err*)"
	done
	[ -L link.json ] || fail "the link was replaced"
	valid_state real/state.json
	assert_equal "$(st '[.history[], .currentDeployment] | map(.deployment_id) | unique | length' real/state.json)" 8
	assert_equal "$(st '[.history[], .currentDeployment] | map(.commit_sha) | unique | length' real/state.json)" 8
	assert_equal "$(st '[.history[], .currentDeployment] | map(.status) | unique | join(" ")' real/state.json)" success
	assert_equal "$(ls_remote)" "$(st .currentDeployment.commit_sha real/state.json)"
	run ls -A real
	assert_output "state.json
state.json.lock"
	[ ! -e link.json.lock ] || fail "a lock beside the link"
}
