#!/usr/bin/env bats
# ci-deploy: pushes with retries against real repositories (a bare repository
# over the local transport, git daemon and git http-backend on 127.0.0.1 with
# hooks), the deployment state file, verification and rollback.
load helpers/common
load helpers/deploy

TOKEN=ghs_plantedT0kenThatMustNeverShow42

setup() { deploy_setup; }

teardown() {
	deploy_teardown
	# Whatever a test did, the state file it leaves is valid.
	[ ! -e "$STATE" ] || valid_state
}

# The remote's pre-receive hook refuses the first $1 pushes (a counter file)
# and keeps a copy of the state file as it was during each push.
reject_first() {
	cat >"$SRV/remote.git/hooks/pre-receive" <<-EOF
		#!/bin/sh
		n=\$(cat "$SRV/count" 2>/dev/null || echo 0)
		n=\$((n + 1))
		echo "\$n" >"$SRV/count"
		cp "$STATE" "$SRV/during-push-\$n.json" 2>/dev/null
		if [ "\$n" -le $1 ]; then
			echo "server busy: push \$n refused" >&2
			exit 1
		fi
	EOF
	chmod +x "$SRV/remote.git/hooks/pre-receive"
}

pushes_seen() { cat "$SRV/count" 2>/dev/null || echo none; }

# --- pushing ------------------------------------------------------------

@test "a push that succeeds at once records success with 1 attempt and becomes lastKnownGood" {
	new_run
	run --separate-stderr ci-deploy push
	assert_success
	assert_output ""
	[[ $stderr == *"deployed $C1 to refs/heads/main on $SRV/remote.git after 1 attempt"* ]]
	assert_equal "$(remote_head)" "$C1"
	valid_state
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	assert_equal "$(st '.currentDeployment | has("error_message")')" false
	assert_equal "$(st .lastKnownGood.deployment_id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(st .lastKnownGood.commit_sha)" "$C1"
	assert_equal "$(st '.history | length')" 0
	[[ $(st .currentDeployment.deployment_id) =~ ^deploy-[0-9]+$ ]]
	[[ $(st .currentDeployment.timestamp) =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "the deployment id is the epoch second of its timestamp" {
	ci-deploy push 2>/dev/null
	id=$(st .currentDeployment.deployment_id)
	ts=$(st .currentDeployment.timestamp)
	assert_equal "deploy-$(date -u -d "$ts" +%s)" "$id"
}

@test "a missing state file is created with its directory, lastKnownGood null until a success" {
	port=$(free_port)
	run ci-deploy push --state deep/er/state.json --remote "git://127.0.0.1:$port/r.git" --attempts 1
	assert_failure 5
	[ -f deep/er/state.json ] || fail "no state file"
	valid_state deep/er/state.json
	assert_equal "$(jq -r .lastKnownGood deep/er/state.json)" null
	assert_equal "$(jq -r .currentDeployment.status deep/er/state.json)" failure
}

@test "a pre-receive hook that rejects twice: 3 attempts, success, the 2^k schedule in the log" {
	start_daemon
	reject_first 2
	new_run
	run --separate-stderr ci-deploy push --remote "$DAEMON/remote.git" --backoff-base 0
	assert_success
	assert_equal "$(pushes_seen)" 3
	assert_equal "$(remote_head)" "$C1"
	valid_state
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 3
	id=$(st .currentDeployment.deployment_id)
	run messages
	assert_line --index 0 "$id: attempt 1 of 3: pushing $C1 to refs/heads/main on $DAEMON/remote.git"
	assert_line --index 1 "$id: remote: server busy: push 1 refused"
	assert_line --index 2 "$id: attempt 1 of 3 failed: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy: push 1 refused)"
	assert_line --index 3 "waiting 0 s before attempt 2 of 3 (backoff 2^1 x 0 s, $id)"
	assert_line --index 5 "$id: remote: server busy: push 2 refused"
	assert_line --index 6 "$id: attempt 2 of 3 failed: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy: push 2 refused)"
	assert_line --index 7 "waiting 0 s before attempt 3 of 3 (backoff 2^2 x 0 s, $id)"
	assert_line --index 9 "$id: deployed $C1 to refs/heads/main on $DAEMON/remote.git after 3 attempts"
	assert_equal "${#lines[@]}" 10
	validate log-schema.json "$CI_LOG_FILE"
}

@test "while attempts are under way the file says failure, in progress: attempt N of M" {
	start_daemon
	reject_first 2
	ci-deploy push --remote "$DAEMON/remote.git" --backoff-base 0 2>/dev/null
	for n in 1 2 3; do
		valid_state "$SRV/during-push-$n.json"
		assert_equal "$(jq -r .currentDeployment.status "$SRV/during-push-$n.json")" failure
		assert_equal "$(jq -r .currentDeployment.error_message "$SRV/during-push-$n.json")" "in progress: attempt $n of 3"
		assert_equal "$(jq -r .currentDeployment.git_operations_attempts "$SRV/during-push-$n.json")" "$n"
		assert_equal "$(jq -r .lastKnownGood "$SRV/during-push-$n.json")" null
	done
}

@test "waits double from the base: 2^k x base seconds, as the log's timestamps show" {
	start_daemon
	reject_first 2
	new_run
	ci-deploy push --remote "$DAEMON/remote.git" --backoff-base 0.15 2>/dev/null
	run messages
	assert_line --partial "waiting 0.3 s before attempt 2 of 3 (backoff 2^1 x 0.15 s"
	assert_line --partial "waiting 0.6 s before attempt 3 of 3 (backoff 2^2 x 0.15 s"
	# Each wait lies between its entry and the next attempt's entry.
	run jq -rs '
		def ms: .timestamp | capture("T(?<h>..):(?<m>..):(?<s>..)\\.(?<f>...)Z")
			| ((.h|tonumber)*3600 + (.m|tonumber)*60 + (.s|tonumber))*1000 + (.f|tonumber);
		[range(0; length - 1) as $i | select(.[$i].message | startswith("waiting"))
			| (.[$i + 1] | ms) - (.[$i] | ms)] | map(tostring) | join(" ")' "$CI_LOG_FILE"
	read -r gap1 gap2 <<<"$output"
	[ "$gap1" -ge 299 ] || fail "first wait took $gap1 ms"
	[ "$gap2" -ge 599 ] || fail "second wait took $gap2 ms"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a remote that rejects every push: exit 5 after 3 attempts, lastKnownGood kept" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	git remote set-url origin "$SRV/remote.git"
	start_daemon
	reject_first 1000
	C2=$(commit two)
	new_run
	run --separate-stderr ci-deploy push --remote "$DAEMON/remote.git" --backoff-base 0
	assert_failure 5
	assert_equal "$(pushes_seen)" 3
	assert_equal "$(remote_head)" "$C1"
	valid_state
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 3
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 3 attempts: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy: push 3 refused)"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$good"
	assert_equal "$(st '.history[0].deployment_id')" "$good"
	run jq -c 'select(.duration_ms != null) | [.level, (.message | test("Git operations failed after 3 attempts"))]' "$CI_LOG_FILE"
	assert_output '["error",true]'
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a non-fast-forward without --force fails at once; with --force it is pushed" {
	ci-deploy push 2>/dev/null
	git checkout -q --orphan other
	C2=$(commit unrelated)
	new_run
	run --separate-stderr ci-deploy push --ref main
	assert_failure 5
	[[ $stderr == *"attempt 1 of 3 failed, not retried: non-fast-forward: refs/heads/main on the remote is not an ancestor of the commit (--force replaces it)"* ]]
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	[[ $(st .currentDeployment.error_message) == "Git operations failed after 1 attempt: non-fast-forward"* ]]
	run messages
	refute_line --partial "waiting"
	assert_equal "$(remote_head)" "$C1"
	run ci-deploy push --ref main --force
	assert_success
	assert_equal "$(remote_head)" "$C2"
	valid_state
	validate log-schema.json "$CI_LOG_FILE"
}

@test "an unknown remote name fails at once with exit 5 and records nothing" {
	new_run
	run --separate-stderr ci-deploy push --remote upstream
	assert_failure 5
	assert_equal "$stderr" 'ci-deploy: --remote: no remote named "upstream" in this repository'
	[ ! -e "$STATE" ] || fail "a state file was written"
	run jq -r '[.level, .message, (.duration_ms | type)] | join(" ")' "$CI_LOG_FILE"
	assert_output 'error --remote: no remote named "upstream" in this repository number'
	validate log-schema.json "$CI_LOG_FILE"
}

@test "an unknown commit fails at once with exit 5 and records nothing" {
	run --separate-stderr ci-deploy push --commit no-such-rev
	assert_failure 5
	assert_equal "$stderr" 'ci-deploy: --commit: no commit "no-such-rev" in this repository'
	[ ! -e "$STATE" ] || fail "a state file was written"
	run git --git-dir="$SRV/remote.git" for-each-ref
	assert_output ""
}

@test "a remote path with no repository fails at once with exit 5" {
	run --separate-stderr ci-deploy push --remote "$SRV/missing.git"
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: --remote: no git repository at $SRV/missing.git"
}

@test "a repository the server does not have fails at once after 1 attempt" {
	start_daemon
	run --separate-stderr ci-deploy push --remote "$DAEMON/missing.git" --backoff-base 0
	assert_failure 5
	[[ $stderr == *"attempt 1 of 3 failed, not retried: remote error: access denied or repository not exported: /missing.git"* ]]
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	valid_state
}

@test "a server that cannot be reached is retried" {
	port=$(free_port)
	run --separate-stderr ci-deploy push --remote "git://127.0.0.1:$port/remote.git" --backoff-base 0
	assert_failure 5
	[[ $stderr == *"attempt 3 of 3 failed: failed to connect to 127.0.0.1: Connection refused"* ]]
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 3
	valid_state
}

@test "--commit and --ref choose what is pushed where; the commit is recorded in full" {
	C2=$(commit two)
	run ci-deploy push --commit HEAD~1 --ref production
	assert_success
	assert_equal "$(remote_head production)" "$C1"
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	run ci-deploy push --commit "${C2:0:7}" --ref refs/heads/production
	assert_success
	assert_equal "$(remote_head production)" "$C2"
	assert_equal "$(st .currentDeployment.commit_sha)" "$C2"
}

@test "the reference that names the commit for libgit2 is gone afterwards, and stale ones are removed" {
	git update-ref refs/ci-deploy/999999999 HEAD
	ci-deploy push 2>/dev/null
	run git for-each-ref refs/ci-deploy
	assert_output ""
}

@test "a run killed while it held its reference's lock: the next run removes the lock and the reference, a live run's stay" {
	# What SIGKILL during the reference's creation or deletion leaves.
	git update-ref refs/ci-deploy/999999999 HEAD
	: >.git/refs/ci-deploy/999999999.lock
	: >.git/refs/ci-deploy/999999998.lock
	sleep 60 &
	live=$!
	git update-ref "refs/ci-deploy/$live" HEAD
	: >".git/refs/ci-deploy/$live.lock"
	ci-deploy push 2>/dev/null
	run git for-each-ref --format='%(refname)' refs/ci-deploy
	kill "$live"
	assert_output "refs/ci-deploy/$live"
	run ls .git/refs/ci-deploy
	assert_output "$live
$live.lock"
}

@test "history keeps the 10 newest after 12 deployments, oldest first, the oldest gone" {
	for i in $(seq 12); do
		commit "c$i" >/dev/null
		ci-deploy push 2>/dev/null || fail "deployment $i failed"
		valid_state
		st .currentDeployment.deployment_id >>ids
	done
	assert_equal "$(sort -u ids | wc -l)" 12
	assert_equal "$(st '.history | length')" 10
	run st '.history[].deployment_id'
	assert_equal "$output" "$(sed -n 2,11p ids)"
	run grep -c "$(head -n 1 ids)" "$STATE"
	assert_output 0
	assert_equal "$(st .currentDeployment.deployment_id)" "$(tail -n 1 ids)"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$(tail -n 1 ids)"
}

@test "a deployment in the same second as the last one waits for the next second" {
	ci-deploy push 2>/dev/null
	ci-deploy push 2>/dev/null
	run st '.history[0].deployment_id, .currentDeployment.deployment_id'
	first=${lines[0]#deploy-}
	second=${lines[1]#deploy-}
	[ "$second" -gt "$first" ] || fail "ids $first then $second"
}

# --- local remotes obey the server -------------------------------------------

ls_remote() { git ls-remote "$1" "${2:-refs/heads/main}" | cut -f1; }

# A hook of the remote: hook NAME BODY.
hook() {
	printf '#!/bin/sh\n%s\n' "$2" >"$SRV/remote.git/hooks/$1"
	chmod +x "$SRV/remote.git/hooks/$1"
}

@test "a pre-receive hook that refuses: the same outcome as git push over a path, file:// and git daemon, retried with its message in every attempt" {
	start_daemon
	hook pre-receive 'echo "policy: no" >&2; exit 1'
	run git push -q "$SRV/remote.git" HEAD:main
	assert_failure
	assert_output --partial "pre-receive hook declined"
	for url in "$SRV/remote.git" "file://$SRV/remote.git" "$DAEMON/remote.git"; do
		rm -f "$STATE" "$BATS_TEST_TMPDIR/logs/ci.log"
		new_run
		run --separate-stderr ci-deploy push --remote "$url" --backoff-base 0
		assert_failure 5
		assert_equal "$(ls_remote "$url")" ""
		valid_state
		assert_equal "$(st .currentDeployment.status)" failure
		assert_equal "$(st .currentDeployment.git_operations_attempts)" 3
		assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 3 attempts: remote rejected refs/heads/main: pre-receive hook declined (remote: policy: no)"
		id=$(st .currentDeployment.deployment_id)
		run messages
		for k in 1 2 3; do
			assert_line "$id: attempt $k of 3 failed: remote rejected refs/heads/main: pre-receive hook declined (remote: policy: no)"
		done
		assert_equal "$(grep -c "^$id: remote: policy: no\$" <<<"$output")" 3
		validate log-schema.json "$CI_LOG_FILE"
	done
}

@test "the same outcome as git push over a path, file:// and git daemon: accepted, refused by a hook, refused as non-fast-forward, remote missing" {
	start_daemon
	git checkout -q --orphan other
	U=$(commit unrelated)
	git checkout -q main
	# remote KIND NAME: a bare repository of $SRV set up for the case.
	remote() {
		rm -rf "$SRV/$2"
		[ "$1" = missing ] && return
		git init -q --bare "$SRV/$2"
		case $1 in
		hook)
			printf '#!/bin/sh\necho "policy: no" >&2\nexit 1\n' >"$SRV/$2/hooks/pre-receive"
			chmod +x "$SRV/$2/hooks/pre-receive" ;;
		nonff)
			git push -q "$SRV/$2" "$U:refs/heads/main"
			git --git-dir="$SRV/$2" config receive.denyNonFastForwards true ;;
		esac
	}
	for kind in accepted hook nonff missing; do
		for form in path file daemon; do
			remote "$kind" git.git
			remote "$kind" deploy.git
			case $form in
			path) base=$SRV ;;
			file) base=file://$SRV ;;
			daemon) base=$DAEMON ;;
			esac
			force=()
			[ "$kind" = nonff ] && force=(--force)
			git_status=0 deploy_status=0
			git push -q ${force[@]+"${force[@]}"} "$base/git.git" HEAD:refs/heads/main 2>/dev/null || git_status=$?
			rm -f "$STATE"
			ci-deploy push ${force[@]+"${force[@]}"} --remote "$base/deploy.git" --ref main --attempts 2 --backoff-base 0 2>err || deploy_status=$?
			case $git_status:$deploy_status in
			0:0 | [1-9]*:5) ;;
			*) fail "$kind over $form: git push exited $git_status, ci-deploy $deploy_status: $(cat err)" ;;
			esac
			[ "$kind" = accepted ] && [ "$deploy_status" != 0 ] && fail "$kind over $form: $(cat err)"
			[ "$kind" != accepted ] && [ "$deploy_status" = 0 ] && fail "$kind over $form was accepted"
			if [ "$kind" != missing ]; then
				assert_equal "$(ls_remote "$SRV/deploy.git")" "$(ls_remote "$SRV/git.git")"
				valid_state
			fi
		done
	done
}

@test "the server's lines ended by CR LF are kept; a progress meter's overwritten states are not" {
	start_daemon
	hook pre-receive "printf 'check 1/3\\rcheck 2/3\\rcheck 3/3\\r\\ndone: ok\\r\\n' >&2"
	for url in "$SRV/remote.git" "$DAEMON/remote.git"; do
		rm -f "$CI_LOG_FILE"
		new_run
		run ci-deploy push --remote "$url"
		assert_success
		id=$(st .currentDeployment.deployment_id)
		run messages
		assert_line "$id: remote: check 3/3"
		assert_line "$id: remote: done: ok"
		refute_line --partial "check 1/3"
		validate log-schema.json "$CI_LOG_FILE"
	done
}

@test "a local push runs the update and post-receive hooks; their output is shown and logged as the server's message" {
	hook update 'echo "update $1 ok"'
	hook post-receive 'read old new ref; echo "$new" >"'"$SRV"'/deployed"; echo "post-receive: deployed $new"'
	new_run
	run --separate-stderr ci-deploy push --remote "file://$SRV/remote.git"
	assert_success
	assert_equal "$(cat "$SRV/deployed")" "$C1"
	id=$(st .currentDeployment.deployment_id)
	[[ $stderr == *"ci-deploy: $id: remote: update refs/heads/main ok"* ]]
	[[ $stderr == *"ci-deploy: $id: remote: post-receive: deployed $C1"* ]]
	run messages
	assert_line "$id: remote: post-receive: deployed $C1"
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C1"
	validate log-schema.json "$CI_LOG_FILE"
	hook update 'echo "frozen: $1" >&2; exit 1'
	C2=$(commit two)
	run --separate-stderr ci-deploy push --remote "$SRV/remote.git" --attempts 2 --backoff-base 0
	assert_failure 5
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 2 attempts: remote rejected refs/heads/main: hook declined (remote: error: hook declined to update refs/heads/main)"
	[[ $stderr == *"remote: frozen: refs/heads/main"* ]]
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C1"
}

@test "receive.denyNonFastForwards on a local remote refuses a forced push at once, as git push -f is refused" {
	ci-deploy push --remote "$SRV/remote.git" 2>/dev/null
	git --git-dir="$SRV/remote.git" config receive.denyNonFastForwards true
	git checkout -q --orphan other
	C2=$(commit unrelated)
	run git push -q -f "$SRV/remote.git" HEAD:main
	assert_failure
	for url in "$SRV/remote.git" "file://$SRV/remote.git"; do
		run --separate-stderr ci-deploy push --remote "$url" --ref main --force --backoff-base 0
		assert_failure 5
		[[ $stderr == *"attempt 1 of 3 failed, not retried: remote rejected refs/heads/main: non-fast-forward (remote: error: denying non-fast-forward refs/heads/main (you should pull first))"* ]]
		assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
		assert_equal "$(ls_remote "$url")" "$C1"
		valid_state
	done
}

@test "receive.denyCurrentBranch of a non-bare local repository refuses the push at once, as git push does" {
	git init -q -b main "$SRV/live"
	git -C "$SRV/live" commit -q --allow-empty -m base
	base=$(git -C "$SRV/live" rev-parse HEAD)
	git fetch -q "$SRV/live" main
	git reset -q --hard FETCH_HEAD
	C2=$(commit two)
	run git push -q "$SRV/live" HEAD:main
	assert_failure
	run --separate-stderr ci-deploy push --remote "$SRV/live" --ref main --backoff-base 0
	assert_failure 5
	[[ $stderr == *"not retried: remote rejected refs/heads/main: branch is currently checked out"* ]]
	assert_equal "$(ls_remote "$SRV/live")" "$base"
	git -C "$SRV/live" config receive.denyCurrentBranch updateInstead
	run ci-deploy push --remote "$SRV/live" --ref main
	assert_success
	assert_equal "$(ls_remote "$SRV/live")" "$C2"
}

@test "a local directory that is no repository fails at once with git's reason" {
	mkdir "$SRV/plain"
	run git push -q "$SRV/plain" HEAD:main
	assert_failure
	run --separate-stderr ci-deploy push --remote "file://$SRV/plain" --backoff-base 0
	assert_failure 5
	[[ $stderr == *"attempt 1 of 3 failed, not retried: git receive-pack: fatal: '$SRV/plain' does not appear to be a git repository"* ]]
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	valid_state
}

@test "a file:// URL is decoded: %20 reaches a path with a space" {
	git init -q --bare "$SRV/my prod.git"
	run ci-deploy push --remote "file://${SRV// /%20}/my%20prod.git"
	assert_success
	assert_equal "$(ls_remote "$SRV/my prod.git")" "$C1"
}

@test "a local remote without git on PATH: exit 4 naming git, nothing recorded" {
	run --separate-stderr env PATH="$CI_BUILD" ci-deploy push --remote "$SRV/remote.git"
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: git is not on PATH: a local remote ($SRV/remote.git) is pushed with git receive-pack"
	[ ! -e "$STATE" ] || fail "a state file was written"
}

# --- credentials ----------------------------------------------------------

@test "a token from GITHUB_TOKEN is used over http and appears in no output, entry or file" {
	start_http "$TOKEN"
	new_run
	GITHUB_TOKEN=$TOKEN run --separate-stderr ci-deploy push --remote "$HTTP/remote.git"
	assert_success
	assert_equal "$(remote_head)" "$C1"
	assert_equal "$(sort -u "$SRV/users")" x-access-token
	run grep -rl "$TOKEN" "$BATS_TEST_TMPDIR/work" "$CI_LOG_FILE"
	assert_output ""
	[[ $output$stderr != *"$TOKEN"* ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "GIT_TOKEN is used when GITHUB_TOKEN is not set" {
	start_http "$TOKEN"
	GIT_TOKEN=$TOKEN run --separate-stderr ci-deploy push --remote "$HTTP/remote.git"
	assert_success
	[[ $stderr != *"$TOKEN"* ]]
}

@test "a token in the remote URL is used and redacted: messages, log and state show the URL without it" {
	start_http "$TOKEN"
	git remote set-url origin "http://deployer:$TOKEN@${HTTP#http://}/remote.git"
	new_run
	run --separate-stderr ci-deploy push
	assert_success
	assert_equal "$(sort -u "$SRV/users")" deployer
	[[ $stderr == *"on $HTTP/remote.git after 1 attempt"* ]]
	[[ $output$stderr != *"$TOKEN"* ]]
	run grep -rl "$TOKEN" .github "$CI_LOG_FILE"
	assert_output ""
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a planted token appears in no output when the push fails" {
	port=$(free_port)
	new_run
	GITHUB_TOKEN=$TOKEN run --separate-stderr ci-deploy push --backoff-base 0 --attempts 2 \
		--remote "https://x:$TOKEN@127.0.0.1:$port/remote.git" --verify "true $TOKEN"
	assert_failure 5
	[[ $stderr == *"https://127.0.0.1:$port/remote.git"* ]]
	[[ $output$stderr != *"$TOKEN"* ]]
	run grep -rl "$TOKEN" .github "$CI_LOG_FILE"
	assert_output ""
	valid_state
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a refused token fails at once, without retrying" {
	start_http "$TOKEN"
	new_run
	GITHUB_TOKEN=wrong-$TOKEN-wrong run --separate-stderr ci-deploy push --remote "$HTTP/remote.git" --backoff-base 0
	assert_failure 5
	[[ $stderr == *"attempt 1 of 3 failed, not retried: authentication failed: the token was refused"* ]]
	assert_equal "$(st .currentDeployment.git_operations_attempts)" 1
	run messages
	refute_line --partial waiting
	[[ $output != *"$TOKEN"* ]]
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a server that asks for credentials when none are set fails at once" {
	start_http "$TOKEN"
	run --separate-stderr ci-deploy push --remote "$HTTP/remote.git" --backoff-base 0
	assert_failure 5
	[[ $stderr == *"not retried: authentication required: set GITHUB_TOKEN or GIT_TOKEN"* ]]
}

# --- verification and rollback -------------------------------------------

@test "--verify runs the check with CI_DEPLOY_COMMIT and CI_DEPLOY_ID after the push" {
	run --separate-stderr ci-deploy push --verify 'echo "$CI_DEPLOY_COMMIT $CI_DEPLOY_ID" >checked; echo health ok'
	assert_success
	assert_output ""
	[[ $stderr == *"health ok"* ]]
	assert_equal "$(cat checked)" "$C1 $(st .currentDeployment.deployment_id)"
	assert_equal "$(st .currentDeployment.status)" success
}

@test "--verify failing: recorded as failure, lastKnownGood not moved, exit 5, the remote keeps the push" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	new_run
	run --separate-stderr ci-deploy push --verify 'exit 3'
	assert_failure 5
	assert_equal "$(remote_head)" "$C2"
	valid_state
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.error_message)" "verification failed: exit 3 exited 3"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$good"
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output error
	validate log-schema.json "$CI_LOG_FILE"
}

@test "--verify failing with --rollback-on-failure rolls back at once and exits 5" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	new_run
	run --separate-stderr ci-deploy push --verify false --rollback-on-failure
	assert_failure 5
	assert_equal "$(remote_head)" "$C1"
	valid_state
	bad=$(st '.history[-1].deployment_id')
	assert_equal "$(st '.history[-1].status')" rolled_back
	assert_equal "$(st '.history[-1].commit_sha')" "$C2"
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$(st .currentDeployment.deployment_id)"
	run jq -r 'select(.duration_ms != null) | [.level, .message] | join(" ")' "$CI_LOG_FILE"
	assert_output "error $bad: verification failed: false exited 1; $(st .currentDeployment.deployment_id): rolled back $bad to $good ($C1) on refs/heads/main"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "--rollback-on-failure with nothing good to go back to: exit 5, the reason, nothing pushed back" {
	run --separate-stderr ci-deploy push --verify false --rollback-on-failure
	assert_failure 5
	[[ $stderr == *"verification failed: false exited 1; no rollback target: no deployment has succeeded"* ]]
	assert_equal "$(remote_head)" "$C1"
	assert_equal "$(st .currentDeployment.status)" failure
}

@test "rollback after a failed deployment puts the remote back at the last good commit" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push --verify false 2>/dev/null || true
	bad=$(st .currentDeployment.deployment_id)
	assert_equal "$(remote_head)" "$C2"
	new_run
	run --separate-stderr ci-deploy rollback
	assert_success
	assert_equal "$(remote_head)" "$C1"
	valid_state
	new=$(st .currentDeployment.deployment_id)
	run st '.history[] | "\(.deployment_id) \(.status)"'
	assert_output "$good success
$bad rolled_back"
	assert_equal "$(st '.history[-1] | has("error_message")')" false
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$new"
	run messages
	assert_line "$new: rolling back $bad to $good ($C1) on refs/heads/main"
	assert_line "$new: rolled back $bad to $good ($C1) on refs/heads/main"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "rollback after a rejected deployment goes back to lastKnownGood over the daemon" {
	start_daemon
	git remote set-url origin "$DAEMON/remote.git"
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	reject_first 3
	commit two >/dev/null
	run ci-deploy push --backoff-base 0
	assert_failure 5
	run ci-deploy rollback --backoff-base 0
	assert_success
	assert_equal "$(remote_head)" "$C1"
	assert_equal "$(st '.history[-1].status')" rolled_back
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	valid_state
}

@test "rollback after two successful deployments goes back to the first" {
	ci-deploy push 2>/dev/null
	first=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push 2>/dev/null
	second=$(st .currentDeployment.deployment_id)
	run ci-deploy rollback
	assert_success
	assert_equal "$(remote_head)" "$C1"
	run st '.history[] | "\(.deployment_id) \(.status)"'
	assert_output "$first success
$second rolled_back"
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	valid_state
}

@test "a failed rollback leaves the deployment it undid live and as it was; the next rollback still goes back to the good one" {
	start_daemon
	git remote set-url origin "$DAEMON/remote.git"
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push 2>/dev/null
	bad=$(st .currentDeployment.deployment_id)
	reject_first 3
	run --separate-stderr ci-deploy rollback --backoff-base 0
	assert_failure 5
	failed=$(st .currentDeployment.deployment_id)
	[[ $stderr == *"$failed: rollback of $bad to $good failed: Git operations failed after 3 attempts: remote rejected refs/heads/main: pre-receive hook declined (remote: server busy: push 3 refused); the remote is still at $C2"* ]]
	assert_equal "$(git ls-remote "$DAEMON/remote.git" refs/heads/main | cut -f1)" "$C2"
	valid_state
	run st '.history[] | "\(.deployment_id) \(.status)"'
	assert_output "$good success
$bad success"
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.commit_sha)" "$C1"
	assert_equal "$(st .currentDeployment.restored_deployment_id)" "$good"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$bad"
	run --separate-stderr ci-deploy rollback --backoff-base 0
	assert_success
	[[ $stderr == *"rolled back $bad to $good ($C1)"* ]]
	assert_equal "$(git ls-remote "$DAEMON/remote.git" refs/heads/main | cut -f1)" "$C1"
	run st '.history[] | "\(.deployment_id) \(.status)"'
	assert_output "$good success
$bad rolled_back
$failed failure"
	assert_equal "$(st .lastKnownGood.commit_sha)" "$C1"
	assert_equal "$(st .currentDeployment.restored_deployment_id)" "$good"
	valid_state
}

@test "rollback --to goes back to the named successful deployment" {
	ci-deploy push 2>/dev/null
	first=$(st .currentDeployment.deployment_id)
	commit two >/dev/null
	ci-deploy push 2>/dev/null
	second=$(st .currentDeployment.deployment_id)
	C3=$(commit three)
	ci-deploy push 2>/dev/null
	third=$(st .currentDeployment.deployment_id)
	run --separate-stderr ci-deploy rollback --to "$first"
	assert_success
	assert_equal "$(remote_head)" "$C1"
	run st '.history[] | "\(.deployment_id) \(.status)"'
	assert_output "$first success
$second success
$third rolled_back"
	valid_state
}

@test "rollback --to refuses what is not a successful deployment of the file" {
	ci-deploy push 2>/dev/null
	first=$(st .currentDeployment.deployment_id)
	commit two >/dev/null
	ci-deploy push --verify false 2>/dev/null || true
	failed=$(st .currentDeployment.deployment_id)
	commit three >/dev/null
	ci-deploy push 2>/dev/null
	cp "$STATE" before.json
	run --separate-stderr ci-deploy rollback --to "$failed"
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: no rollback target: $failed did not succeed (failure)"
	run --separate-stderr ci-deploy rollback --to deploy-1
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: no rollback target: no deployment deploy-1 in $STATE"
	run --separate-stderr ci-deploy rollback --to "$(st .currentDeployment.deployment_id)"
	assert_failure 5
	[[ $stderr == *"is the current deployment"* ]]
	run --separate-stderr ci-deploy rollback --to yesterday
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --to: \"yesterday\" is not a deployment id (deploy-<epoch seconds>) (see 'ci-deploy --help')"
	cmp "$STATE" before.json
}

@test "rollback with no state file: exit 5, no target, nothing pushed" {
	new_run
	run --separate-stderr ci-deploy rollback
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: no rollback target: no deployment recorded in $STATE"
	run git --git-dir="$SRV/remote.git" for-each-ref
	assert_output ""
	[ ! -e "$STATE" ] || fail "a state file was written"
	run jq -r '[.level, .message] | join(" ")' "$CI_LOG_FILE"
	assert_output "error no rollback target: no deployment recorded in $STATE"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "rollback with only one successful deployment has no target" {
	ci-deploy push 2>/dev/null
	cp "$STATE" before.json
	run --separate-stderr ci-deploy rollback
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: no rollback target: no successful deployment of another commit before $(st .currentDeployment.deployment_id)"
	cmp "$STATE" before.json
}

@test "denyNonFastForwards over git daemon: a refused rollback leaves the bad deployment live and as it was, its own failure record names --forward" {
	git --git-dir="$SRV/remote.git" config receive.denyNonFastForwards true
	start_daemon
	git remote set-url origin "$DAEMON/remote.git"
	ci-deploy push 2>/dev/null
	old=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C3=$(commit three)
	run --separate-stderr ci-deploy push --verify 'exit 1' --rollback-on-failure --backoff-base 0
	assert_failure 5
	bad=$(st '.history[-1].deployment_id')
	failed=$(st .currentDeployment.deployment_id)
	[[ $stderr == *"$failed: rollback of $bad to $good failed: Git operations failed after 1 attempt: remote rejected refs/heads/main: non-fast-forward"*"; the remote is still at $C3; the remote refuses non-fast-forward updates: rollback --forward pushes a new commit with the tree of $good instead"* ]]
	assert_equal "$(ls_remote "$DAEMON/remote.git")" "$C3"
	valid_state
	run st '.history[] | "\(.deployment_id) \(.status) \(.commit_sha)"'
	assert_output "$old success $C1
$good success $C2
$bad failure $C3"
	assert_equal "$(st '.history[-1].error_message')" "verification failed: exit 1 exited 1"
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.restored_deployment_id)" "$good"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$good"
	# A plain rollback is refused again, and never goes past $good.
	run --separate-stderr ci-deploy rollback --backoff-base 0
	assert_failure 5
	[[ $stderr == *"rollback of $bad to $good failed"*"rollback --forward"* ]]
	assert_equal "$(ls_remote "$DAEMON/remote.git")" "$C3"
	# --forward: a new commit on top of C3 with the tree of C2.
	run --separate-stderr ci-deploy rollback --forward --backoff-base 0
	assert_success
	new=$(st .currentDeployment.commit_sha)
	[[ $stderr == *"rolled back $bad to $good ($C2) on refs/heads/main with the new commit $new"* ]]
	assert_equal "$(ls_remote "$DAEMON/remote.git")" "$new"
	assert_equal "$(git rev-parse "$new^")" "$C3"
	assert_equal "$(git rev-parse "$new^{tree}")" "$(git rev-parse "$C2^{tree}")"
	[[ $(git log -1 --format=%B "$new") == *"$C2"*"$good"* ]]
	valid_state
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.restored_deployment_id)" "$good"
	assert_equal "$(st .lastKnownGood.commit_sha)" "$new"
	assert_equal "$(st '.history[] | select(.deployment_id == "'"$bad"'") | .status')" rolled_back
	assert_equal "$(st '[.history[] | select(.status == "rolled_back")] | length')" 1
}

@test "rollback --forward to a local path with denyNonFastForwards; without the option the refusal exits 5" {
	git --git-dir="$SRV/remote.git" config receive.denyNonFastForwards true
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push 2>/dev/null
	run --separate-stderr ci-deploy rollback --backoff-base 0
	assert_failure 5
	[[ $stderr == *"rollback --forward pushes a new commit"* ]]
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C2"
	run ci-deploy rollback --forward
	assert_success
	new=$(ls_remote "$SRV/remote.git")
	assert_equal "$(git rev-parse "$new^{tree}")" "$(git rev-parse "$C1^{tree}")"
	assert_equal "$(st .currentDeployment.commit_sha)" "$new"
	assert_equal "$(st .currentDeployment.restored_deployment_id)" "$good"
	valid_state
}

@test "each outcome of push, verify and rollback: the current record agrees with the remote's ref" {
	url=$SRV/remote.git
	ci-deploy push 2>/dev/null
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(ls_remote "$url")" "$(st .currentDeployment.commit_sha)"
	C2=$(commit two)
	hook pre-receive 'exit 1'
	ci-deploy push --backoff-base 0 --attempts 2 2>/dev/null || true
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(ls_remote "$url")" "$(st .lastKnownGood.commit_sha)"
	rm "$SRV/remote.git/hooks/pre-receive"
	ci-deploy push --verify false 2>/dev/null || true
	assert_equal "$(st .currentDeployment.error_message)" "verification failed: false exited 1"
	assert_equal "$(ls_remote "$url")" "$(st .currentDeployment.commit_sha)"
	ci-deploy rollback 2>/dev/null
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(ls_remote "$url")" "$(st .currentDeployment.commit_sha)"
	assert_equal "$(ls_remote "$url")" "$C1"
	valid_state
}

@test "--verify-timeout: a hung check is killed with its whole process group, the deployment fails saying so, the lock is released" {
	new_run
	start=$(date +%s)
	run --separate-stderr ci-deploy push --verify-timeout 1 --verify 'sleep 300 & echo $! >bg; sleep 300'
	assert_failure 5
	[ $(($(date +%s) - start)) -lt 60 ] || fail "it waited for the check"
	assert_equal "$(st .currentDeployment.error_message)" "verification failed: sleep 300 & echo \$! >bg; sleep 300 timed out after 1 s (--verify-timeout); its process group was killed"
	# Gone, or a zombie that whoever adopted it has yet to reap.
	bg=$(cat bg)
	for i in $(seq 50); do
		[ -e "/proc/$bg" ] && ! grep -q ') Z' "/proc/$bg/stat" 2>/dev/null || break
		sleep 0.1
	done
	[ ! -e "/proc/$bg" ] || grep -q ') Z' "/proc/$bg/stat" || fail "the check's background job $bg survived"
	run flock -n "$STATE.lock" true
	assert_success
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C1"
	valid_state
	validate log-schema.json "$CI_LOG_FILE"
}

@test "--verify-timeout: a check within the limit passes; bad values are usage errors" {
	run ci-deploy push --verify-timeout 30 --verify 'sleep 0.1'
	assert_success
	run --separate-stderr ci-deploy push --verify-timeout 5
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --verify-timeout needs --verify (see 'ci-deploy --help')"
	run --separate-stderr ci-deploy push --verify true --verify-timeout soon
	assert_failure 2
	[[ $stderr == *'--verify-timeout: "soon" is not a number from 0 to 86400'* ]]
}

@test "in GitHub Actions push and rollback append deployment-id, commit, status and previous-commit to GITHUB_OUTPUT" {
	export GITHUB_OUTPUT=$BATS_TEST_TMPDIR/gh-output
	out() { grep "^$1=" "$GITHUB_OUTPUT" | tail -n 1 | cut -d= -f2-; }
	ci-deploy push 2>/dev/null
	assert_equal "$(out deployment-id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(out commit)" "$C1"
	assert_equal "$(out status)" success
	assert_equal "$(out previous-commit)" ""
	C2=$(commit two)
	run ci-deploy push --verify false
	assert_failure 5
	assert_equal "$(out deployment-id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(out commit)" "$C2"
	assert_equal "$(out status)" failure
	assert_equal "$(out previous-commit)" "$C1"
	ci-deploy rollback 2>/dev/null
	assert_equal "$(out deployment-id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(out commit)" "$C1"
	assert_equal "$(out status)" success
	assert_equal "$(out previous-commit)" "$C2"
	assert_equal "$(wc -l <"$GITHUB_OUTPUT")" 12
	run ci-deploy push --remote nowhere
	assert_failure 5
	assert_equal "$(out status)" failure
	assert_equal "$(out deployment-id)" ""
	# A rollback that finds no target names no deployment.
	run ci-deploy rollback --to deploy-1
	assert_failure 5
	assert_equal "$(out status)" failure
	assert_equal "$(out deployment-id)" ""
	assert_equal "$(wc -l <"$GITHUB_OUTPUT")" 20
}

@test "GITHUB_OUTPUT that cannot be opened: exit 4 before anything is pushed" {
	GITHUB_OUTPUT=$BATS_TEST_TMPDIR/no/such/dir/out run --separate-stderr ci-deploy push
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: GITHUB_OUTPUT: cannot open $BATS_TEST_TMPDIR/no/such/dir/out: No such file or directory"
	assert_equal "$(ls_remote "$SRV/remote.git")" ""
	[ ! -e "$STATE" ] || fail "a state file was written"
}

@test "--dry-run for push: what it would do, from the remote's answer; nothing written, nothing pushed" {
	run --separate-stderr ci-deploy push --dry-run
	assert_success
	assert_output "dry run: would push $C1 to refs/heads/main on $SRV/remote.git, a new reference"
	[ ! -e .github ] || fail "something was written"
	assert_equal "$(ls_remote "$SRV/remote.git")" ""
	ci-deploy push 2>/dev/null
	cp "$STATE" before.json
	C2=$(commit two)
	run --separate-stderr ci-deploy push --dry-run
	assert_success
	assert_output "dry run: would push $C2 to refs/heads/main on $SRV/remote.git, a fast-forward from $C1"
	git checkout -q --orphan other
	C3=$(commit unrelated)
	run --separate-stderr ci-deploy push --dry-run --ref main
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: dry run: would not push $C3 to refs/heads/main on $SRV/remote.git: non-fast-forward: $C1 on the remote is not an ancestor of the commit (--force replaces it)"
	run --separate-stderr ci-deploy push --dry-run --ref main --force
	assert_success
	assert_output "dry run: would push $C3 to refs/heads/main on $SRV/remote.git, replacing $C1 (--force)"
	cmp "$STATE" before.json
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C1"
	run git for-each-ref refs/ci-deploy
	assert_output ""
}

@test "--dry-run for rollback names the target and how it would be pushed; nothing written, nothing pushed" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	ci-deploy push --verify false 2>/dev/null || true
	bad=$(st .currentDeployment.deployment_id)
	cp "$STATE" before.json
	run --separate-stderr ci-deploy rollback --dry-run
	assert_success
	assert_output "dry run: would roll back $bad to $good ($C1) on refs/heads/main at $SRV/remote.git, where it is at $C2, as a forced update"
	run --separate-stderr ci-deploy rollback --dry-run --forward
	assert_success
	assert_output --partial "with a new commit of its tree on top"
	cmp "$STATE" before.json
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C2"
	run --separate-stderr ci-deploy rollback --dry-run --to deploy-1
	assert_failure 5
	assert_equal "$stderr" "ci-deploy: no rollback target: no deployment deploy-1 in $STATE"
}

# --- the state file ---------------------------------------------------------

@test "a state file that is not JSON: exit 2 naming the file and the problem, left byte for byte" {
	mkdir -p .github
	printf '{"currentDeployment": {\n  "deployment_id": ' >"$STATE"
	cp "$STATE" before
	run --separate-stderr ci-deploy push
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: $STATE: not valid JSON (line 2) (the file is left as it is)"
	cmp "$STATE" before
	run git --git-dir="$SRV/remote.git" for-each-ref
	assert_output ""
	run ci-deploy status
	assert_failure 2
	run ci-deploy rollback
	assert_failure 2
	cmp "$STATE" before
	rm "$STATE"
}

@test "every state file that breaks the schema: exit 2 with the place named, left byte for byte" {
	for f in "$FIXTURES"/contracts/invalid/state-*.json; do
		cp "$f" state.json
		run --separate-stderr ci-deploy push --state state.json
		assert_failure 2
		[[ $stderr == "ci-deploy: state.json: "*" (the file is left as it is)" ]] || fail "$f: $stderr"
		cmp "$f" state.json
	done
	run git --git-dir="$SRV/remote.git" for-each-ref
	assert_output ""
}

@test "the problem named for a state file that breaks the schema" {
	check() {
		printf '%s' "$1" >bad.json
		run --separate-stderr ci-deploy status --state bad.json
		assert_failure 2
		assert_equal "$stderr" "ci-deploy: bad.json: $2 (the file is left as it is)"
	}
	rec='"deployment_id": "deploy-1", "timestamp": "2025-10-20T14:30:45Z", "commit_sha": "5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e"'
	check '[]' 'not an object: an array'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1}, "lastKnownGood": null}' 'missing field "history"'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 0}, "lastKnownGood": null, "history": []}' 'currentDeployment.git_operations_attempts: 0 is out of range (1 to 10)'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1.5}, "lastKnownGood": null, "history": []}' 'currentDeployment.git_operations_attempts: 1.5 is not an integer'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1e300}, "lastKnownGood": null, "history": []}' 'currentDeployment.git_operations_attempts: 1.0000000000000001e+300 is out of range (1 to 10)'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": "1"}, "lastKnownGood": null, "history": []}' 'currentDeployment.git_operations_attempts: "1" is not an integer'
	check '{"currentDeployment": {'"$rec"', "status": "done", "git_operations_attempts": 1}, "lastKnownGood": null, "history": []}' 'currentDeployment.status: "done" is not one of success, failure, rolled_back'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1}, "lastKnownGood": null, "history": [], "history": []}' 'field "history" appears twice'
	check '{"currentDeployment": {'"$rec"', "status": "failure", "git_operations_attempts": 1, "error_message": ""}, "lastKnownGood": null, "history": []}' 'currentDeployment.error_message: "" is empty'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1}, "lastKnownGood": null, "history": [{}]}' 'history[0]: missing field "deployment_id"'
	check $'{"a": "\xff"}' 'line 1: not valid UTF-8 (byte 0xFF at column 8)'
	check $'{\n"a": "\x01"}' 'line 2: not JSON: a raw control character (0x01) at column 7'
	check '' 'not valid JSON (line 1)'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1, "error_message": "x"}, "lastKnownGood": null, "history": []}' 'currentDeployment.error_message: is only for a failure'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1, "restored_deployment_id": "yesterday"}, "lastKnownGood": null, "history": []}' 'currentDeployment.restored_deployment_id: "yesterday" is not deploy-<epoch seconds>'
	check '{"currentDeployment": {'"$rec"', "status": "success", "git_operations_attempts": 1}, "lastKnownGood": {"deployment_id": "deploy-1", "commit_sha": "5C04", "timestamp": "2025-10-20T14:30:45Z"}, "history": []}' 'lastKnownGood.commit_sha: "5C04" is not 40 lowercase hex digits'
}

@test "the seed's state file example round-trips byte for byte through status --json" {
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	ci-deploy status --state state.json --json >out.json
	cmp out.json "$FIXTURES/contracts/valid/seed-deployment-state.json"
	valid_state out.json
}

@test "the seed's success and failure records load and round-trip through status --json" {
	F=$FIXTURES/contracts/valid
	jq '{currentDeployment: ., lastKnownGood: {deployment_id, commit_sha, timestamp}, history: []}' \
		"$F/seed-deployment-success.json" >success.json
	jq '{currentDeployment: ., lastKnownGood: null, history: []}' \
		"$F/seed-deployment-failure.json" >failure.json
	for f in success.json failure.json; do
		valid_state "$f"
		ci-deploy status --state "$f" --json >out.json
		cmp out.json "$f"
	done
	run ci-deploy status --state failure.json
	assert_output "current: deploy-1729433500 failure 7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b 2025-10-20T14:31:40Z
last known good: none
last attempt: Git operations failed after 3 attempts: remote rejected push"
}

@test "a deployment on top of the seed's file keeps its records" {
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	run ci-deploy push --state state.json
	assert_success
	valid_state state.json
	run jq -r '.history[].deployment_id' state.json
	assert_output "deploy-1729433400
deploy-1729433445"
	assert_equal "$(jq -r .lastKnownGood.commit_sha state.json)" "$C1"
}

@test "status shows what is deployed, what was last good and the last attempt's outcome" {
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	run --separate-stderr ci-deploy status --state state.json
	assert_success
	assert_output "current: deploy-1729433445 success 5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e 2025-10-20T14:30:45Z
last known good: deploy-1729433445 5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e 2025-10-20T14:30:45Z
last attempt: success after 1 attempt"
}

@test "history prints one line per deployment, newest first" {
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	ci-deploy push --state state.json --verify 'exit 4' 2>/dev/null || true
	id=$(jq -r .currentDeployment.deployment_id state.json)
	ts=$(jq -r .currentDeployment.timestamp state.json)
	run --separate-stderr ci-deploy history --state state.json
	assert_success
	assert_output "$id $ts $C1 failure 1 verification failed: exit 4 exited 4
deploy-1729433445 2025-10-20T14:30:45Z 5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e success 1
deploy-1729433400 2025-10-20T14:30:00Z 3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f success 2"
}

@test "status and history with no state file say so and succeed" {
	run --separate-stderr ci-deploy status
	assert_success
	assert_output "no deployment recorded in $STATE"
	run --separate-stderr ci-deploy status --json
	assert_output null
	run --separate-stderr ci-deploy history
	assert_success
	assert_output ""
}

@test "--state naming a file in a directory that does not exist: exit 2 for status and history" {
	for cmd in status history; do
		run --separate-stderr ci-deploy "$cmd" --state "$BATS_TEST_TMPDIR/nonexistent/x.json"
		assert_failure 2
		assert_equal "$stderr" "ci-deploy: --state: $BATS_TEST_TMPDIR/nonexistent/x.json: no directory $BATS_TEST_TMPDIR/nonexistent to read it from"
		run --separate-stderr ci-deploy "$cmd" --state "$BATS_TEST_TMPDIR/nonexistent/x.json" --json
		assert_failure 2
	done
	mkdir empty
	run --separate-stderr ci-deploy status --state empty/x.json
	assert_success
	assert_output "no deployment recorded in empty/x.json"
}

@test "history --json prints the records as one JSON array, newest first" {
	run --separate-stderr ci-deploy history --json
	assert_success
	assert_output "[]"
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	ci-deploy push --state state.json --verify 'exit 4' 2>/dev/null || true
	run --separate-stderr ci-deploy history --state state.json --json
	assert_success
	printf '%s\n' "$output" >history.json
	assert_equal "$(jq -c '[.currentDeployment] + (.history | reverse)' state.json)" "$(jq -c . history.json)"
	assert_equal "$(jq -r 'type' history.json)" array
	assert_equal "$(jq length history.json)" 3
	jq -c '.[]' history.json >records
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines --def deployment "$REPO/contracts/deployment-state-schema.json" records
}

@test "no message says 1 attempts" {
	new_run
	git checkout -q --orphan other
	commit unrelated >/dev/null
	ci-deploy push --ref main 2>/dev/null
	git checkout -q main
	run --separate-stderr ci-deploy push --ref main
	assert_failure 5
	[[ $stderr != *"1 attempts"* ]] || fail "$stderr"
	run grep -c "1 attempts" "$STATE" "$CI_LOG_FILE"
	refute_output --partial ":1"
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 1 attempt: non-fast-forward: refs/heads/main on the remote is not an ancestor of the commit (--force replaces it)"
}

@test "the default state file is at the top of the work tree, wherever ci-deploy runs" {
	mkdir -p sub/dir
	cd sub/dir
	ci-deploy push 2>/dev/null
	[ -f "$STATE" ] || fail "no $STATE"
	run ci-deploy status
	assert_line --index 0 --partial "$C1"
}

@test "16 concurrent deployments to one state file are serialised: all recorded, the file valid" {
	new_run
	for i in $(seq 16); do git branch "b$i" "$(commit "c$i")"; done
	pids=()
	for i in $(seq 16); do
		ci-deploy push --commit "b$i" --force >/dev/null 2>"err$i" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "a deployment failed: $(cat err*)"
	done
	valid_state
	validate log-schema.json "$CI_LOG_FILE"
	jq -r 'select(.duration_ms != null) | .message | capture("^(?<id>deploy-[0-9]+): deployed (?<sha>[0-9a-f]+)") | "\(.id) \(.sha)"' \
		"$CI_LOG_FILE" | sort >deployed
	assert_equal "$(wc -l <deployed)" 16
	assert_equal "$(cut -d' ' -f1 deployed | sort -u | wc -l)" 16
	assert_equal "$(cut -d' ' -f2 deployed | sort -u | wc -l)" 16
	# The file holds the 11 newest, oldest first, each as it was deployed.
	st '.history[], .currentDeployment | "\(.deployment_id) \(.commit_sha)"' >recorded
	assert_equal "$(cat recorded)" "$(tail -n 11 deployed)"
	assert_equal "$(st '[.history[], .currentDeployment] | map(.status) | unique | join(" ")')" success
	assert_equal "$(st .lastKnownGood.deployment_id)" "$(st .currentDeployment.deployment_id)"
	assert_equal "$(remote_head)" "$(st .currentDeployment.commit_sha)"
}

@test "a second deployment waits for the lock on the file beside the state file" {
	ci-deploy push 2>/dev/null
	# The holder takes the lock, and lets it go once told to.
	flock "$STATE.lock" sh -c 'touch held; for i in $(seq 1200); do [ -e go ] && break; sleep 0.05; done; touch released' 3>&- &
	holder=$!
	for _ in $(seq 1200); do [ -e held ] && break; sleep 0.05; done
	[ -e held ] || fail "the holder did not take the lock"
	ci-deploy push > out 2>&1 3>&- &
	pid=$!
	for _ in $(seq 1200); do grep -q waiting out && break; sleep 0.05; done
	# Still waiting, and nothing deployed, while the lock is held.
	sleep 0.5
	kill -0 "$pid" || fail "it did not wait for the lock"
	assert_equal "$(st '.history | length')" 0
	touch go
	wait "$holder"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 0
	run cat out
	assert_line --index 0 "ci-deploy: waiting for another deployment to release $STATE.lock"
	valid_state
	assert_equal "$(st '.history | length')" 1
}

@test "a deployment killed with SIGKILL mid-retry leaves a valid, honest state file" {
	start_daemon
	git remote set-url origin "$DAEMON/remote.git"
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	reject_first 1000
	commit two >/dev/null
	ci-deploy push --attempts 5 --backoff-base 1 >/dev/null 2>&1 3>&- &
	pid=$!
	for i in $(seq 600); do
		[ "$(st .currentDeployment.git_operations_attempts)" = 2 ] && break
		sleep 0.1
	done
	kill -KILL "$pid"
	wait "$pid" || true
	valid_state
	assert_equal "$(st .currentDeployment.status)" failure
	assert_equal "$(st .currentDeployment.error_message)" "in progress: attempt 2 of 5"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$good"
	run ls -A .github
	assert_output "deployment-state.json
deployment-state.json.lock"
	killed=$(st .currentDeployment.deployment_id)
	rm "$SRV/remote.git/hooks/pre-receive"
	run ci-deploy push
	assert_success
	assert_equal "$(st '.history[-1].deployment_id')" "$killed"
	valid_state
}

@test "a lock lost during a push (its file removed): the lock is taken again and the outcome recorded, agreeing with the remote" {
	ci-deploy push 2>/dev/null
	good=$(st .currentDeployment.deployment_id)
	C2=$(commit two)
	hook pre-receive 'rm -f "'"$STATE"'.lock"'
	new_run
	run --separate-stderr ci-deploy push
	assert_success
	id=$(st .currentDeployment.deployment_id)
	[[ $stderr == *"$id: lost the lock $STATE.lock (removed or replaced): taking it again to record the deployment"* ]]
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C2"
	assert_equal "$(st .currentDeployment.status)" success
	assert_equal "$(st .currentDeployment.commit_sha)" "$C2"
	assert_equal "$(st .lastKnownGood.deployment_id)" "$id"
	assert_equal "$(st '.history[-1].deployment_id')" "$good"
	[ -e "$STATE.lock" ] || fail "no lock file"
	valid_state
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a lock lost to another deployment: both are recorded, in order, and the file agrees with the remote" {
	ci-deploy push 2>/dev/null
	C2=$(commit two)
	git branch other "$(commit three)"
	git reset -q --hard "$C2"
	# The first push waits at the server; meanwhile its lock file is
	# removed and a second deployment runs to the end under a new lock.
	hook pre-receive '[ -e "'"$SRV"'/once" ] && exit 0; touch "'"$SRV"'/once"; while [ ! -e "'"$SRV"'/go" ]; do sleep 0.05; done; exit 1'
	ci-deploy push --backoff-base 0 --attempts 2 --force >out 2>err 3>&- &
	pid=$!
	for i in $(seq 200); do
		[ -e "$SRV/once" ] && break
		sleep 0.05
	done
	rm "$STATE.lock"
	run ci-deploy push --commit other --force
	assert_success
	touch "$SRV/go"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 0
	grep -q "lost the lock" err || fail "$(cat err)"
	valid_state
	run st '.history[-2:][] , .currentDeployment | "\(.commit_sha) \(.status)"'
	assert_output "$C1 success
$(git rev-parse other) success
$C2 success"
	assert_equal "$(st .lastKnownGood.commit_sha)" "$C2"
	assert_equal "$(ls_remote "$SRV/remote.git")" "$C2"
}

@test "SIGKILL at random moments of 100 deployments and rollbacks to a remote with hooks: the file stays valid and honest, the next run needs no repair" {
	hook pre-receive 'read -r old new ref; echo "$ref $old $new" >>"'"$SRV"'/asked"'
	hook post-receive 'read -r old new ref; echo "$new" >>"'"$SRV"'/deployed"'
	export CI_DEPLOY_TEST_SEED=${CI_DEPLOY_TEST_SEED:-$RANDOM}
	RANDOM=$CI_DEPLOY_TEST_SEED
	mkdir snaps
	# 200 commits in a line, made by one process.
	for i in $(seq 200); do
		printf 'commit refs/heads/main\ncommitter ci <ci@example.invalid> %d +0000\ndata 3\nc%02x\n' "$((1700000000 + i))" "$i"
		[ "$i" = 1 ] && printf 'from refs/heads/main^0\n'
		printf 'M 644 inline f\ndata 3\n%03d\n' "$i"
	done | git fast-import --quiet
	git rev-list --reverse main~200..main >commits
	mapfile -t c <commits
	# Microseconds, to kill within a run's span however fast the machine.
	t=${EPOCHREALTIME/./}
	ci-deploy push --commit main~200 2>/dev/null
	span=$(((${EPOCHREALTIME/./} - t) / 1000))
	# An id far enough ahead that each run takes the next one at once
	# instead of waiting for a second of its own.
	jq '(.currentDeployment, .lastKnownGood) |= (.deployment_id = "deploy-" + (.deployment_id[7:] | tonumber + 100000 | tostring))' \
		"$STATE" >s && mv s "$STATE"
	# The current record: id status commit error.
	cur() { jq -r '.currentDeployment | "\(.deployment_id)\t\(.status)\t\(.commit_sha)\t\(.error_message // "")"' "$STATE"; }
	before=0 interrupted=0 done=0 pushes=0 rollbacks=0
	for round in $(seq 100); do
		IFS=$'\t' read -r prev _ _ _ < <(cur)
		if [ $((round % 2)) = 0 ]; then
			args=(rollback)
			rollbacks=$((rollbacks + 1))
		else
			args=(push --commit "${c[2 * round - 2]}")
			[ $((round % 4)) = 1 ] && args+=(--verify 'sleep 0.02')
			pushes=$((pushes + 1))
		fi
		ci-deploy "${args[@]}" --backoff-base 0 >/dev/null 2>&1 3>&- &
		pid=$!
		d=$((RANDOM % (span + span / 4 + 1)))
		printf -v d '%d.%03d' $((d / 1000)) $((d % 1000))
		sleep "$d"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		[ -e "$STATE" ] || fail "run $round: no state file"
		cp "$STATE" "snaps/$round.json"
		IFS=$'\t' read -r id status sha error < <(cur)
		live=$(ls_remote "$SRV/remote.git")
		if [ "$id" = "$prev" ]; then
			before=$((before + 1)) # killed before it recorded anything
			assert_equal "$live" "$sha"
		elif [ "$status" = success ] && [ -z "$error" ]; then
			done=$((done + 1))
			assert_equal "$live" "$sha"
		elif [ "$status" = failure ] && [[ $error == "in progress: "* ]]; then
			interrupted=$((interrupted + 1))
		else
			fail "run $round (${args[*]}): $status: $error"
		fi
		# The next run proceeds without repair, and says what happened.
		t=${EPOCHREALTIME/./}
		run --separate-stderr ci-deploy push --commit "${c[2 * round - 1]}" --backoff-base 0
		assert_success
		span=$(((span * 3 + (${EPOCHREALTIME/./} - t) / 1000) / 4))
		cp "$STATE" "snaps/$round-next.json"
		IFS=$'\t' read -r status sha was < <(jq -r --arg id "$id" '[.currentDeployment.status, .currentDeployment.commit_sha,
			(.history[] | select(.deployment_id == $id) | .error_message // "-")] | join("\t")' "$STATE")
		assert_equal "$status" success
		assert_equal "$(ls_remote "$SRV/remote.git")" "$sha"
		assert_equal "$sha" "${c[2 * round - 1]}"
		[[ $was != "in progress"* ]] || fail "run $round: $id still says $was"
	done
	valid_state snaps/*.json
	run git for-each-ref refs/ci-deploy
	assert_output ""
	echo "# seed $CI_DEPLOY_TEST_SEED: $pushes pushes and $rollbacks rollbacks sent SIGKILL within a run's span (last ${span} ms): $before before they recorded anything, $interrupted in progress, $done after they finished" >&3
	[ "$interrupted" -gt 0 ] || fail "no run was interrupted"
}

@test "SIGINT mid-retry ends the deployment as a failure with its outcome logged" {
	start_daemon
	reject_first 1000
	new_run
	env --default-signal=INT ci-deploy push --remote "$DAEMON/remote.git" --attempts 5 --backoff-base 5 >/dev/null 2>&1 3>&- &
	pid=$!
	for i in $(seq 600); do
		grep -q waiting "$CI_LOG_FILE" 2>/dev/null && break
		sleep 0.1
	done
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 5
	valid_state
	assert_equal "$(st .currentDeployment.error_message)" "Git operations failed after 1 attempt: interrupted by SIGINT"
	run jq -r 'select(.duration_ms != null) | .level' "$CI_LOG_FILE"
	assert_output error
	validate log-schema.json "$CI_LOG_FILE"
}

# --- environment, usage, output -----------------------------------------

@test "outside a git repository: exit 4" {
	mkdir "$BATS_TEST_TMPDIR/plain"
	cd "$BATS_TEST_TMPDIR/plain"
	run --separate-stderr ci-deploy push --remote "$SRV/remote.git" --ref main
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: not inside a git repository"
	run --separate-stderr ci-deploy rollback --remote "$SRV/remote.git" --ref main
	assert_failure 4
}

@test "a URL scheme libgit2 has no transport for: exit 4" {
	run --separate-stderr ci-deploy push --remote foo://example.invalid/r.git
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: libgit2 has no transport for foo:// (file, git, http, https, ssh)"
	[ ! -e "$STATE" ] || fail "a state file was written"
}

@test "a state file that cannot be written: exit 4 before anything is pushed" {
	touch afile
	run --separate-stderr ci-deploy push --state afile/state.json
	assert_failure 4
	assert_equal "$stderr" "ci-deploy: cannot create directory afile: Not a directory"
	run git --git-dir="$SRV/remote.git" for-each-ref
	assert_output ""
}

@test "HEAD not on a branch needs --ref; a bad --ref is refused" {
	git checkout -q --detach
	run --separate-stderr ci-deploy push
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: HEAD is not on a branch: name the ref to update with --ref (see 'ci-deploy --help')"
	run --separate-stderr ci-deploy push --ref 'bad..ref'
	assert_failure 2
	assert_equal "$stderr" "ci-deploy: --ref: \"bad..ref\" is not a valid reference name (see 'ci-deploy --help')"
	run ci-deploy push --ref main
	assert_success
}

@test "a malformed CI_RUN_ID: exit 2 before anything is pushed" {
	CI_RUN_ID=bogus run --separate-stderr ci-deploy push
	assert_failure 2
	[[ $stderr == *'CI_RUN_ID: "bogus"'* ]]
	[ ! -e "$STATE" ] || fail "a state file was written"
}

@test "entries go to stdout when CI_LOG_FILE is unset, one completion entry per run" {
	export CI_RUN_ID=$(ci-runid)
	echo 'ci-deploy push' > deploy.sh
	run --separate-stderr bash ./deploy.sh
	assert_success
	printf '%s\n' "$output" >entries
	validate log-schema.json entries
	assert_equal "$(jq -r .step_name entries | sort -u)" deploy
	assert_equal "$(jq -c 'select(.duration_ms != null)' entries | wc -l)" 1
	# Entries name the script that ran ci-deploy, and ci-deploy itself.
	assert_equal "$(jq -r '.source_file + " " + .function_name' entries | sort -u)" "deploy.sh ci-deploy"
}

@test "-h and --help print the usage on stdout and exit 0" {
	run --separate-stderr ci-deploy --help
	assert_success
	assert_line --index 0 "usage: ci-deploy push [--remote NAME|URL] [--ref REF] [--commit REV] [--state FILE] [--token-file FILE] [--attempts N] [--backoff-base SEC] [--force] [--dry-run] [--verify CMD [--verify-timeout SEC] [--verify-env] [--rollback-on-failure]]"
	assert_line --index 1 "       ci-deploy rollback [--to DEPLOYMENT_ID] [--remote NAME|URL] [--ref REF] [--state FILE] [--token-file FILE] [--attempts N] [--backoff-base SEC] [--forward] [--dry-run]"
	assert_line --index 3 "       ci-deploy history [--state FILE] [--json]"
	assert_equal "$stderr" ""
	run ci-deploy push -h
	assert_success
	assert_line --index 2 "       ci-deploy status [--state FILE] [--json]"
}

@test "--version prints the name and version" {
	run ci-deploy --version
	assert_success
	[[ $output =~ ^ci-deploy\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "usage errors exit 2 with one line naming the problem" {
	check() {
		local want=$1
		shift
		run --separate-stderr ci-deploy "$@"
		assert_failure 2
		assert_equal "$stderr" "ci-deploy: $want (see 'ci-deploy --help')"
	}
	check "no command: push, rollback, status or history"
	check '"deploy" is not a command: push, rollback, status or history' deploy
	check "--bogus: unknown option" --bogus
	check "--bogus: unknown option" push --bogus
	check "--remote: missing argument" push --remote
	check "--json: not an option of push" push --json
	check "--force: not an option of rollback" rollback --force
	check '--attempts: "0" is out of range (expected a whole number from 1 to 10)' push --attempts 0
	check '--attempts: "11" is out of range (expected a whole number from 1 to 10)' push --attempts 11
	check '--backoff-base: "-1" is not a number from 0 to 3600' push --backoff-base -1
	check "--rollback-on-failure needs --verify" push --rollback-on-failure
	check 'unexpected argument "extra"' status extra
	check "--state: empty file name" status --state ''
	[ ! -e "$STATE" ] || fail "a state file was written"
}

@test "a closed stdout ends it quietly; a failing stdout is reported" {
	cp "$FIXTURES/contracts/valid/seed-deployment-state.json" state.json
	run --separate-stderr bash -c 'ci-deploy history --state state.json | head -n 1'
	assert_success
	assert_output --partial deploy-1729433445
	assert_equal "$stderr" ""
	run --separate-stderr bash -c 'ci-deploy status --state state.json > /dev/full'
	assert_failure 1
	assert_equal "$stderr" "ci-deploy: standard output: No space left on device"
}
