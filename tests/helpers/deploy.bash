# The repositories and servers of ci-deploy's tests: a work repository with
# a commit ($C1) whose origin is a bare repository under $SRV, git daemon and
# git http-backend on 127.0.0.1, stopped by deploy_teardown.

deploy_setup() {
	common_setup
	export GIT_AUTHOR_NAME=ci GIT_AUTHOR_EMAIL=ci@example.invalid
	export GIT_COMMITTER_NAME=ci GIT_COMMITTER_EMAIL=ci@example.invalid
	unset GITHUB_TOKEN GIT_TOKEN
	# For sanitizer builds: leaks of libgit2 1.5 itself are not ours.
	export LSAN_OPTIONS=suppressions=$FIXTURES/ci-deploy/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
	SRV=$BATS_TEST_TMPDIR/srv
	mkdir -p "$SRV"
	git init -q --bare "$SRV/remote.git"
	git init -q -b main work
	cd work || return 1
	git remote add origin "$SRV/remote.git"
	C1=$(commit one)
	STATE=$PWD/.github/deployment-state.json
}

# Stops the servers the test started, by pid.
deploy_teardown() {
	local pid
	for pid in $(cat "$BATS_TEST_TMPDIR/servers.pids" 2>/dev/null); do
		kill "$pid" 2>/dev/null || true
	done
}

commit() { git commit -q --allow-empty -m "$1" && git rev-parse HEAD; }
remote_head() { git --git-dir="$SRV/remote.git" rev-parse "refs/heads/${1:-main}"; }
st() { jq -r "$1" "$STATE"; }
valid_state() { validate_doc deployment-state-schema.json "${1:-$STATE}"; }
messages() { jq -r .message "$CI_LOG_FILE"; }

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# git daemon on 127.0.0.1 serving $SRV, pushes allowed, hooks run. `git
# daemon` runs git-daemon as a child: both pids are stopped in teardown.
start_daemon() {
	local port i
	port=$(free_port)
	git daemon --enable=receive-pack --export-all --base-path="$SRV" \
		--port="$port" --listen=127.0.0.1 --reuseaddr \
		--pid-file="$BATS_TEST_TMPDIR/daemon.pid" \
		>"$BATS_TEST_TMPDIR/daemon.log" 2>&1 3>&- &
	echo $! >>"$BATS_TEST_TMPDIR/servers.pids"
	DAEMON=git://127.0.0.1:$port
	for i in $(seq 600); do
		git ls-remote "$DAEMON/remote.git" >/dev/null 2>&1 && break
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/daemon.pid" >>"$BATS_TEST_TMPDIR/servers.pids"
}

# git http-backend on 127.0.0.1 behind a CGI shim; with $1, it asks for
# HTTP Basic credentials whose password is $1.
start_http() {
	local i
	/usr/bin/python3 "$FIXTURES/ci-deploy/http-git.py" "$SRV" \
		"$BATS_TEST_TMPDIR/http.port" "$@" \
		>"$BATS_TEST_TMPDIR/http.log" 2>&1 3>&- &
	echo $! >>"$BATS_TEST_TMPDIR/servers.pids"
	for i in $(seq 600); do
		[ -s "$BATS_TEST_TMPDIR/http.port" ] && break
		sleep 0.05
	done
	HTTP=http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/http.port")
}

