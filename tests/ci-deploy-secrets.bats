#!/usr/bin/env bats
# ci-deploy and credentials: a recognisable token planted in each remote URL
# form git accepts (http, https, git://, ssh://, scp-like, one that insteadOf
# rewrites), in --token-file and in GITHUB_TOKEN is looked for in everything
# the run leaves: standard output and error (annotations included), the log,
# the state file, GITHUB_OUTPUT, .git/config, and /proc/PID/cmdline read
# while the run waits; and the --verify command gets no token unless
# --verify-env passes them on.
load helpers/common
load helpers/deploy

TOKEN=ghs_plantedT0kenThatMustNeverShow42

setup() {
	deploy_setup
	new_run
	export GITHUB_ACTIONS=true GITHUB_OUTPUT=$BATS_TEST_TMPDIR/github-output
	OUT=$BATS_TEST_TMPDIR/out ERR=$BATS_TEST_TMPDIR/err
	CMDLINE=$BATS_TEST_TMPDIR/cmdline
}

teardown() {
	touch "$BATS_TEST_TMPDIR/go" # a lock holder left by a failed test
	deploy_teardown
}

# Hold the state file's lock in the background until $BATS_TEST_TMPDIR/go.
hold_lock() {
	local i
	mkdir -p "${STATE%/*}"
	flock "$STATE.lock" sh -c 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done' \
		sh "$BATS_TEST_TMPDIR/held" "$BATS_TEST_TMPDIR/go" 3>&- &
	for i in $(seq 1200); do
		[ -e "$BATS_TEST_TMPDIR/held" ] && return 0
		sleep 0.05
	done
	fail "the lock holder did not start"
}

# push_waiting ARGS...: ci-deploy push ARGS, started while another run holds
# the lock, so that its /proc/PID/cmdline is read (into $CMDLINE, NULs as
# spaces) while it waits; then the lock is released and the run ends.
# $status, $OUT and $ERR are its exit status and outputs.
push_waiting() {
	local i pid
	hold_lock
	ci-deploy push "$@" >"$OUT" 2>"$ERR" 3>&- &
	pid=$!
	for i in $(seq 1200); do
		grep -q 'waiting for another deployment' "$ERR" && break
		sleep 0.05
	done
	grep -q 'waiting for another deployment' "$ERR" || fail "the run did not wait: $(cat "$ERR")"
	tr '\0' ' ' <"/proc/$pid/cmdline" >"$CMDLINE"
	touch "$BATS_TEST_TMPDIR/go"
	status=0
	wait "$pid" || status=$?
}

# The token is in none of the files the run wrote or read out of it.
assert_nowhere() {
	local f
	for f in "$OUT" "$ERR" "$CI_LOG_FILE" "$STATE" "$GITHUB_OUTPUT" .git/config \
		"$CMDLINE" "$@"; do
		[ -e "$f" ] || fail "no $f to look into"
		if grep -F "$TOKEN" "$f"; then
			fail "the token is in $f"
		fi
	done
	validate log-schema.json "$CI_LOG_FILE"
	valid_state
}

# plant URL SHOWN: a push to URL (a closed port) fails and shows SHOWN, in
# its messages and its command line, never the token.
plant() {
	push_waiting --remote "$1" --attempts 2 --backoff-base 0
	[ "$status" -eq 5 ] || fail "exit $status, not 5: $(cat "$ERR")"
	grep -qF "on $2" "$ERR" || fail "$2 is not shown: $(cat "$ERR")"
	grep -qF -- "--remote $2" "$CMDLINE" || fail "the command line is $(cat "$CMDLINE")"
	grep -q '^::warning ' "$ERR" || fail "no annotation was written"
	assert_nowhere
}

@test "a password in an ssh:// URL is shown nowhere; the URL keeps its user name" {
	port=$(free_port)
	plant "ssh://deployer:$TOKEN@127.0.0.1:$port/remote.git" "ssh://deployer@127.0.0.1:$port/remote.git"
}

@test "a password in a scp-like user:password@host:path URL is shown nowhere" {
	plant "deployer:$TOKEN@127.0.0.1:remote.git" "deployer@127.0.0.1:remote.git"
}

@test "a token in a https://user:token@ URL is shown nowhere, the command line included" {
	port=$(free_port)
	plant "https://x-access-token:$TOKEN@127.0.0.1:$port/remote.git" "https://127.0.0.1:$port/remote.git"
}

@test "a token as the user of a https://token@ URL is shown nowhere" {
	port=$(free_port)
	plant "https://$TOKEN@127.0.0.1:$port/remote.git" "https://127.0.0.1:$port/remote.git"
}

@test "a password in a git:// URL is shown nowhere, when the push fails" {
	port=$(free_port)
	plant "git://x:$TOKEN@127.0.0.1:$port/remote.git" "git://127.0.0.1:$port/remote.git"
}

@test "a password in a git:// URL is shown nowhere, when git daemon takes the push" {
	start_daemon
	push_waiting --remote "git://x:$TOKEN@${DAEMON#git://}/remote.git"
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(remote_head)" "$C1"
	grep -qF "deployed $C1 to refs/heads/main on $DAEMON/remote.git" "$ERR"
	assert_nowhere
}

@test "a token in an http URL is sent to git http-backend and shown nowhere, the command line read during --verify included" {
	start_http "$TOKEN"
	push_waiting --remote "http://deployer:$TOKEN@${HTTP#http://}/remote.git" \
		--verify 'tr "\0" " " </proc/$PPID/cmdline >../verify-saw'
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(sort -u "$SRV/users")" deployer
	assert_equal "$(remote_head)" "$C1"
	grep -qF -- "--remote $HTTP/remote.git" "$BATS_TEST_TMPDIR/verify-saw"
	assert_nowhere "$BATS_TEST_TMPDIR/verify-saw"
}

@test "a URL that insteadOf rewrites to one with a token: the token is sent, and shown nowhere" {
	start_http "$TOKEN"
	git config --global url."http://deployer:$TOKEN@${HTTP#http://}/".insteadOf deploy:
	push_waiting --remote deploy:remote.git
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(sort -u "$SRV/users")" deployer
	assert_equal "$(remote_head)" "$C1"
	grep -qF "on $HTTP/remote.git after 1 attempt" "$ERR"
	assert_nowhere
}

@test "a named remote whose URL pushInsteadOf rewrites to an ssh URL with a password: shown nowhere" {
	port=$(free_port)
	git config --global url."ssh://deployer:$TOKEN@127.0.0.1:$port/".pushInsteadOf deploy:
	git remote set-url origin deploy:remote.git
	push_waiting --attempts 2 --backoff-base 0
	[ "$status" -eq 5 ] || fail "exit $status: $(cat "$ERR")"
	grep -qF "on ssh://deployer@127.0.0.1:$port/remote.git" "$ERR"
	assert_nowhere
}

@test "--token-file: the token of its first line is sent, and shown nowhere" {
	start_http "$TOKEN"
	printf '%s\r\nsecond line\n' "$TOKEN" >"$BATS_TEST_TMPDIR/token"
	push_waiting --remote "$HTTP/remote.git" --token-file "$BATS_TEST_TMPDIR/token"
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(sort -u "$SRV/users")" x-access-token
	assert_equal "$(remote_head)" "$C1"
	assert_nowhere
}

@test "--token-file replaces a token of the URL" {
	start_http "$TOKEN"
	printf '%s\n' "$TOKEN" >"$BATS_TEST_TMPDIR/token"
	push_waiting --remote "http://deployer:stale-token-1@${HTTP#http://}/remote.git" \
		--token-file "$BATS_TEST_TMPDIR/token"
	[ "$status" -eq 0 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(sort -u "$SRV/users")" deployer
	assert_nowhere
	run grep -rF stale-token-1 "$OUT" "$ERR" "$CI_LOG_FILE" "$CMDLINE"
	assert_output ""
}

@test "a token of GITHUB_TOKEN is sent, and shown nowhere when the verification fails" {
	start_http "$TOKEN"
	export GITHUB_TOKEN=$TOKEN
	push_waiting --remote "$HTTP/remote.git" --verify 'echo checking; exit 3'
	[ "$status" -eq 5 ] || fail "exit $status: $(cat "$ERR")"
	assert_equal "$(sort -u "$SRV/users")" x-access-token
	grep -q '^::error .*verification failed: echo checking; exit 3 exited 3' "$ERR"
	assert_nowhere
}

@test "--token-file that cannot be read or holds no token: one line, exit 2, nothing recorded" {
	: >"$BATS_TEST_TMPDIR/empty"
	printf '\nsecond\n' >"$BATS_TEST_TMPDIR/blank"
	run --separate-stderr ci-deploy push --token-file "$BATS_TEST_TMPDIR/missing"
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --token-file: cannot read $BATS_TEST_TMPDIR/missing: No such file or directory"
	run --separate-stderr ci-deploy push --token-file "$BATS_TEST_TMPDIR"
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --token-file: cannot read $BATS_TEST_TMPDIR: Is a directory"
	for f in empty blank; do
		run --separate-stderr ci-deploy rollback --token-file "$BATS_TEST_TMPDIR/$f"
		assert_failure 2
		assert_equal "$stderr" "ci-deploy: --token-file: $BATS_TEST_TMPDIR/$f is empty: its first line is the token"
	done
	[ ! -e "$STATE" ] || fail "a state file was written"
	run ci-deploy status --token-file "$BATS_TEST_TMPDIR/empty"
	assert_failure 2
	assert_output --partial "--token-file: not an option of status"
}

@test "an option given to the wrong command is named, never its argument (a URL with a token)" {
	run --separate-stderr ci-deploy status "--remote=https://x:$TOKEN@127.0.0.1/remote.git"
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --remote: not an option of status (see 'ci-deploy --help')"
	run --separate-stderr ci-deploy history --remote "https://x:$TOKEN@127.0.0.1/remote.git"
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --remote: not an option of history (see 'ci-deploy --help')"
}

@test "the --verify command gets no GITHUB_TOKEN or GIT_TOKEN without --verify-env" {
	export GITHUB_TOKEN=$TOKEN GIT_TOKEN=git-$TOKEN
	run --separate-stderr ci-deploy push --verify 'env >../verify-env'
	assert_success
	grep -q '^CI_DEPLOY_ID=deploy-' "$BATS_TEST_TMPDIR/verify-env"
	run grep -E '^(GITHUB_TOKEN|GIT_TOKEN)=' "$BATS_TEST_TMPDIR/verify-env"
	assert_output ""
}

@test "--verify-env passes GITHUB_TOKEN and GIT_TOKEN on to the --verify command" {
	export GITHUB_TOKEN=$TOKEN GIT_TOKEN=git-$TOKEN
	run --separate-stderr ci-deploy push --verify-env --verify 'env >../verify-env'
	assert_success
	run grep -E '^(GITHUB_TOKEN|GIT_TOKEN)=' "$BATS_TEST_TMPDIR/verify-env"
	assert_line "GITHUB_TOKEN=$TOKEN"
	assert_line "GIT_TOKEN=git-$TOKEN"
	[[ $stderr != *"$TOKEN"* ]]
}

@test "--verify-env without --verify is a usage error" {
	run --separate-stderr ci-deploy push --verify-env
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --verify-env needs --verify (see 'ci-deploy --help')"
}
