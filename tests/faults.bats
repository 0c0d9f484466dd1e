#!/usr/bin/env bats
# Real faults: a small tmpfs filled up under ci-log, the shell library (both
# ways) and ci-report's output; SIGHUP, SIGTERM and SIGINT sent with kill to
# every long-running tool but ci-deploy (tests/ci-deploy.bats has its own).
# A full disk needs root to mount the tmpfs; those tests skip otherwise.
load helpers/common
load helpers/disk

setup() {
	common_setup
	new_run
	# A name no other process on the machine has: pgrep finds only ours.
	MARK=faults-$BATS_TEST_NUMBER-$$-$RANDOM
}

teardown() {
	local p
	for p in $(marked); do kill -KILL "$p" 2>/dev/null; done
	small_disk_free
}

# wait_for FILE: until it exists and is not empty (a generous bound).
wait_for() {
	local end=$((SECONDS + 120))
	until [ -s "$1" ]; do
		[ $SECONDS -lt $end ] || fail "$1 never appeared"
		sleep 0.05
	done
}

# ended PID: PID exits within 60 s of a signal; $rc is its status.
ended() {
	local end=$((SECONDS + 60))
	while kill -0 "$1" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then
			kill -KILL "$1"
			fail "pid $1 went on for 60 s after the signal"
		fi
		sleep 0.05
	done
	rc=0
	wait "$1" || rc=$?
}

# marked: the processes carrying this test's mark, none when it passes.
marked() {
	pgrep -f "$MARK" || true
}

# intact FILE: the messages of its valid entries, one a line.
intact() {
	/usr/bin/python3 -c '
import json, sys
for l in open(sys.argv[1], "rb").read().split(b"\n"):
    try:
        print(json.loads(l)["message"])
    except ValueError:
        pass' "$1"
}

@test "full disk: each ci-log call that cannot write exits 4 with one line; the entries of calls that exited 0 are whole, and the next one after space is freed stands on its own line" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	ok=0 failed=0
	for i in $(seq 1500); do
		if ci-log -q "call $i, long enough to fill a small disk in a few hundred entries" 2>>err; then
			ok=$((ok + 1))
		else
			failed=$((failed + 1))
			[ $failed -lt 20 ] || break
		fi
	done
	[ "$failed" -eq 20 ] || fail "the disk never filled ($ok calls)"
	assert_equal "$(sort -u err)" "ci-log: cannot write to $CI_LOG_FILE: No space left on device"
	assert_equal "$(wc -l < err)" 20
	rm "$DISK/filler"
	run ci-log -q after
	assert_success
	run intact "$CI_LOG_FILE"
	assert_equal "${#lines[@]}" "$((ok + 1))"
	assert_equal "${lines[$((ok - 1))]}" "call $ok, long enough to fill a small disk in a few hundred entries"
	assert_equal "${lines[$ok]}" after
	run lines_check "$CI_LOG_FILE"
	assert_output --regexp '^[0-9]+ entries, [01] torn, ends with a newline$'
}

@test "full disk: four background writers through the library, both ways: each call returns 0 exactly when its entry was written" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	mkdir repo && git -C repo init -q
	cat > repo/s.sh <<'SH'
source "$REPO/scripts/lib/ci.sh"
# The main shell logs first: then the subshells share its ci-log, if any.
log_info start && echo start >> "$OUT.0"
for w in 1 2 3 4; do
	(
		for ((i = 1; i <= 400; i++)); do
			if log_info "w$w $i, long enough to fill a small disk in a few hundred entries"; then
				echo "w$w $i, long enough to fill a small disk in a few hundred entries" >> "$OUT.$w"
			fi
		done
	) &
done
wait
echo done
SH
	for mode in 1 0; do
		rm -f "$CI_LOG_FILE" ok.*
		head -c 65536 /dev/zero > "$DISK/filler"
		OUT=$PWD/ok CI_LOG_BUILTIN=$mode run --separate-stderr bash repo/s.sh
		assert_success
		assert_output done
		[ -n "$stderr" ] || fail "the disk never filled (CI_LOG_BUILTIN=$mode)"
		refute_output --partial "Broken pipe"
		assert_equal "$(sort -u <<<"$stderr")" "ci-log: cannot write to $CI_LOG_FILE: No space left on device"
		# Returned 0 <=> written, whatever the order of the writers.
		assert_equal "$(intact "$CI_LOG_FILE" | sort)" "$(cat ok.* | sort)"
		# One line on stderr per call that returned non-zero.
		assert_equal "$(wc -l <<<"$stderr")" "$((1601 - $(cat ok.* | wc -l)))"
	done
}

@test "full disk: ci-step does not run a command whose start cannot be logged, and ci-testpar says the log is lost; both exit 4 with one line" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	head -c 1048576 /dev/zero > "$DISK/more" 2>/dev/null || true
	run --separate-stderr ci-step build -- touch "$BATS_TEST_TMPDIR/ran"
	assert_failure 4
	assert_equal "$stderr" "ci-step: cannot write to $CI_LOG_FILE: No space left on device"
	[ ! -e ran ] || fail "the command ran without its start entry"
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit=true
	assert_failure 4
	assert_equal "$stderr" "ci-testpar: cannot write to $CI_LOG_FILE: No space left on device; no more entries"
}

@test "full disk: ci-report in every format says so in one line and exits 1" {
	new_run
	ci-step init --profile dev --trigger CLI
	for s in build test lint; do ci-step "$s" -- true; done
	ci-step complete --exit-code 0 > /dev/null
	small_disk
	head -c 1048576 /dev/zero > "$DISK/more" 2>/dev/null || true
	for args in "--format text" "--format json" "--format markdown" "--format junit" \
		"--format otlp" "--format clickhouse" "--trends" "--trends --format json"; do
		# shellcheck disable=SC2086
		run --separate-stderr sh -c 'ci-report "$@" > "$DISK/report"' sh $args "$CI_LOG_FILE"
		assert_failure 1
		assert_equal "$stderr" "ci-report: standard output: No space left on device"
	done
}

@test "ci-step: SIGHUP, SIGTERM and SIGINT reach the command and its children; the step is recorded interrupted with the command's status, which ci-step exits with" {
	for sig in HUP TERM INT; do
		rm -f child.pid got
		env --default-signal=HUP,INT,TERM ci-step test -- bash -c '
			trap "echo \"got $0\" > got; exit 3" HUP TERM INT
			(exec -a "$1" sleep 300) &
			echo $$ > child.pid
			wait' "$sig" "$MARK" 3>&- 2>err &
		pid=$!
		wait_for child.pid
		until [ -n "$(marked)" ]; do sleep 0.05; done
		kill "-$sig" "$pid"
		ended "$pid"
		assert_equal "$rc" 3
		assert_equal "$(cat got)" "got $sig"
		assert_equal "$(marked)" ""
		run jq -r 'select(.step_name == "test" and .exit_code != null) | [.level, .exit_code, .message] | @tsv' "$CI_LOG_FILE"
		assert_line --index -1 --regexp "^error	3	interrupted by SIG$sig: exited with status 3 after [0-9.]+ s$"
	done
	validate log-schema.json "$CI_LOG_FILE"
}

@test "ci-testpar: SIGHUP, SIGTERM and SIGINT end every running suite and its children, record each, and end ci-testpar by the same signal" {
	for sig in HUP TERM INT; do
		rm -f "$CI_LOG_FILE"
		rm -f a.on b.on
		env --default-signal=HUP,INT,TERM ci-testpar -j 2 --max-load 0 --min-free-mb 0 \
			a="bash -c 'exec -a \$0 sleep 300' $MARK-a & echo on > a.on; wait" \
			b="bash -c 'exec -a \$0 sleep 300' $MARK-b & echo on > b.on; wait" \
			c=true > out 2> err 3>&- &
		pid=$!
		wait_for a.on
		wait_for b.on
		kill "-$sig" "$pid"
		ended "$pid"
		case $sig in HUP) want=129 ;; TERM) want=143 ;; INT) want=130 ;; esac
		assert_equal "$rc" "$want"
		assert_equal "$(marked)" ""
		run jq -r 'select(.test_execution) | [.test_execution.test_type, .test_execution.status] | @tsv' "$CI_LOG_FILE"
		assert_line "a	failed"
		assert_line "b	failed"
		assert_line "c	skipped"
		run jq -r 'select(.test_execution.test_type == "a") | .message' "$CI_LOG_FILE"
		assert_output --partial "interrupted by SIG$sig"
	done
	validate log-schema.json "$CI_LOG_FILE"
}

@test "ci-log in filter mode from a pipe: SIGHUP, SIGTERM and SIGINT do not end it before the writer does; every line is logged" {
	for sig in HUP TERM INT; do
		rm -f "$CI_LOG_FILE"
		rm -f sent
		{
			echo "before $sig"
			for _ in $(seq 2400); do [ -e sent ] && break; sleep 0.05; done
			echo "after $sig"
		} | env --default-signal=HUP,INT,TERM ci-log -s sig 3>&- &
		pid=$!
		until [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ci-log ] && [ -s "$CI_LOG_FILE" ]; do
			sleep 0.05
		done
		kill "-$sig" "$pid"
		touch sent
		ended "$pid"
		assert_equal "$rc" 0
		assert_equal "$(intact "$CI_LOG_FILE")" "before $sig
after $sig"
	done
}

@test "ci-report --follow: SIGHUP, SIGTERM and SIGINT end it with 128+N, after what it read was shown" {
	ci-step init --profile dev --trigger CLI
	ci-step build -- true
	for sig in HUP TERM INT; do
		rm -f out err # the last round's would be read before this one's
		env --default-signal=HUP,INT,TERM ci-report --follow "$CI_LOG_FILE" > out 2> err < /dev/null 3>&- &
		pid=$!
		end=$((SECONDS + 120))
		until grep -qs 'step build passed' out; do
			[ $SECONDS -lt $end ] || fail "ci-report --follow showed nothing: $(cat out err)"
			sleep 0.05
		done
		kill "-$sig" "$pid"
		ended "$pid"
		case $sig in HUP) want=129 ;; TERM) want=143 ;; INT) want=130 ;; esac
		assert_equal "$rc" "$want"
		assert_equal "$(cat err)" ""
	done
}

@test "ci-ship: SIGHUP, SIGTERM and SIGINT end it at once, in a backoff wait too, with 128+N, no process of it left and its temporary files removed" {
	ci-step init --profile dev --trigger CLI
	ci-step build -- true
	mkdir tmp
	export TMPDIR=$PWD/tmp
	# Nothing listens on port 1: each attempt fails at once, then waits.
	for sig in HUP TERM INT; do
		rm -f out err # the last round's would be read before this one's
		env --default-signal=HUP,INT,TERM ci-ship --url http://127.0.0.1:1/ "$CI_LOG_FILE" > out 2> err 3>&- &
		pid=$!
		end=$((SECONDS + 120))
		until grep -qs 'retrying in' err; do
			[ $SECONDS -lt $end ] || fail "ci-ship never retried: $(cat err)"
			sleep 0.05
		done
		s=$SECONDS
		kill "-$sig" "$pid"
		ended "$pid"
		case $sig in HUP) want=129 ;; TERM) want=143 ;; INT) want=130 ;; esac
		assert_equal "$rc" "$want"
		# The backoffs left would take 30 s.
		[ $((SECONDS - s)) -lt 20 ] || fail "ci-ship took $((SECONDS - s)) s to end on SIG$sig"
		# Every process of it (curl, the backoff's sleep) has its state
		# directory in its environment.
		sleep 0.5
		run grep -lsa "CI_SHIP_STATE=$TMPDIR/" /proc/[0-9]*/environ
		assert_output ""
		assert_equal "$(ls tmp)" ""
	done
}
