#!/usr/bin/env bats
# ci-testpar: suites run as real processes in parallel, retried, falling back
# to serial, stopped by signals and timeouts; one valid entry per attempt.
#
# Whether suites run in parallel depends on -j (else the number of
# processors), the 1-minute load and the free memory: every run that is
# meant to go in parallel says -j and turns both checks off with --max-load 0
# --min-free-mb 0, so that a busy machine does not send it to serial; the
# fallback itself is driven through the options. Suites that race each other
# wait for a file the other writes, never for a fixed time.
load helpers/common

setup() {
	common_setup
	new_run
}

teardown() {
	# The copy of ci-testpar the process limit test makes, whatever its end.
	if [ -s "$BATS_TEST_TMPDIR/pub.dir" ]; then
		rm -rf "$(cat "$BATS_TEST_TMPDIR/pub.dir")"
	fi
}

# Every entry of the log, checked against log-schema.json by the independent
# validator, then one line per entry: type attempt status parallel fallback
# level.
records() {
	validate log-schema.json "$CI_LOG_FILE" || return 1
	jq -r '[.test_execution | .test_type, .attempt_number, .status,
		.run_in_parallel, .fallback_to_serial] + [.level] |
		map(tostring) | join(" ")' "$CI_LOG_FILE"
}

# The value of a field of the Nth entry (1-based).
field() {
	sed -n "${1}p" "$CI_LOG_FILE" | jq -r "$2"
}

# A process that exists and is not a zombie.
alive() {
	[ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Wait up to 60 s for a file to be written.
wait_file() {
	for _ in $(seq 1200); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "suites that pass run in parallel, one info entry each, exit 0" {
	# Each waits for the other: they end only if both run at once.
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --timeout 20 \
		unit='touch u.on; while [ ! -e i.on ]; do sleep 0.05; done' \
		integration='touch i.on; while [ ! -e u.on ]; do sleep 0.05; done'
	assert_success
	run records
	assert_success
	assert_line --index 0 --regexp '^(unit|integration) 1 passed true false info$'
	assert_line --index 1 --regexp '^(unit|integration) 1 passed true false info$'
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -r .step_name "$CI_LOG_FILE" | sort | tr '\n' ' ')" "test-integration test-unit "
	assert_equal "$(jq -r '[.exit_code, .test_execution.failure_count] | @text' "$CI_LOG_FILE" | sort -u)" "[0,0]"
}

@test "every entry carries all nine test_execution fields, duration_ms and the run id" {
	# Entries name the script that ran ci-testpar, and ci-testpar itself.
	printf '%s\n' "ci-testpar -j 2 --max-load 0 --min-free-mb 0 e2e='sleep 1.1'" > suites.sh
	bash ./suites.sh
	run jq -r '.test_execution | keys_unsorted | join(" ")' "$CI_LOG_FILE"
	assert_output "test_type attempt_number status duration failure_count started_at completed_at run_in_parallel fallback_to_serial"
	run jq -r '[.run_id == env.CI_RUN_ID, .duration_ms >= 1100,
		.test_execution.completed_at - .test_execution.started_at == .test_execution.duration,
		.test_execution.duration >= 1, .source_file, .function_name] | map(tostring) | join(" ")' "$CI_LOG_FILE"
	assert_output "true true true true ./suites.sh ci-testpar"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a suite runs under /bin/sh in its own process group with CI_TEST_TYPE, CI_TEST_ATTEMPT and CI_STEP" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --output prefixed \
		unit='echo "$CI_TEST_TYPE $CI_TEST_ATTEMPT $CI_STEP"; ps -o pgid= -p $$ | tr -d " "; echo $$; readlink /proc/$$/fd/0; readlink /proc/$$/exe'
	assert_success
	assert_line --index 0 "[unit] unit 1 test-unit"
	pgid=${lines[1]#\[unit\] }
	assert_equal "${lines[2]}" "[unit] $pgid"
	[ "$pgid" != "$(ps -o pgid= -p $$ | tr -d ' ')" ]
	assert_line --index 3 "[unit] /dev/null"
	assert_line --index 4 --regexp '^\[unit\] /(usr/)?bin/(dash|bash|sh)$'
}

@test "a suite that fails once then passes has two entries, the second a flaky warn, and exits 0" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 integration='echo try $CI_TEST_ATTEMPT; [ "$CI_TEST_ATTEMPT" = 2 ]'
	assert_success
	run records
	assert_success
	assert_line --index 0 "integration 1 failed true false warn"
	assert_line --index 1 "integration 2 passed true false warn"
	assert_equal "${#lines[@]}" 2
	run field 2 .message
	assert_output --partial "flaky"
	run field 1 .exit_code
	assert_output "1"
}

@test "a suite that always fails has two failed entries and exits 3" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit=true e2e='exit 4'
	assert_failure 3
	run records
	assert_success
	assert_line "unit 1 passed true false info"
	# Retried, the first failure is a warning; the last is the error.
	assert_line "e2e 1 failed true false warn"
	assert_line "e2e 2 failed true false error"
	assert_equal "${#lines[@]}" 3
	assert_equal "$(jq -r 'select(.step_name == "test-e2e") | [.exit_code, .test_execution.failure_count] | @text' "$CI_LOG_FILE" | sort -u)" "[4,1]"
	assert_equal "$stderr" ""
}

@test "--retries sets how many times a failed suite is started again" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit=false
	assert_failure 3
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
	rm "$CI_LOG_FILE"
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 3 unit='[ "$CI_TEST_ATTEMPT" = 4 ]'
	assert_success
	run records
	assert_output "unit 1 failed true false warn
unit 2 failed true false warn
unit 3 failed true false warn
unit 4 passed true false warn"
}

@test "an ordinary failure is retried in parallel with the other suites" {
	# The retry of unit overlaps e2e, which waits for it.
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --timeout 20 \
		unit='[ "$CI_TEST_ATTEMPT" = 2 ] && touch u2.on' \
		e2e='while [ ! -e u2.on ]; do sleep 0.05; done'
	assert_success
	run records
	assert_line "unit 2 passed true false warn"
	assert_line "e2e 1 passed true false info"
}

@test "little memory before the start runs every suite alone, fallback_to_serial true, and says why" {
	run --separate-stderr ci-testpar -j 4 --max-load 0 --min-free-mb 1099511627776 \
		unit='echo start-u >> order; sleep 0.2; echo end-u >> order' \
		e2e='echo start-e >> order; sleep 0.2; echo end-e >> order'
	assert_success
	run records
	assert_output "unit 1 passed false true info
e2e 1 passed false true info"
	assert_equal "$(cat order | tr '\n' ' ')" "start-u end-u start-e end-e "
	run field 1 .message
	assert_output --regexp 'serial fallback: MemAvailable is [0-9]+ MB, below --min-free-mb 1099511627776'
}

@test "--min-free-mb 0 and --max-load 0 turn the checks off" {
	run ci-testpar -j 2 --min-free-mb 0 --max-load 0 unit=true
	assert_success
	run records
	assert_output "unit 1 passed true false info"
}

@test "--serial runs suites one at a time in order, neither parallel nor a fallback" {
	run ci-testpar --serial \
		unit='echo start-u >> order; sleep 0.2; echo end-u >> order' \
		e2e='echo start-e >> order; echo end-e >> order'
	assert_success
	run records
	assert_output "unit 1 passed false false info
e2e 1 passed false false info"
	assert_equal "$(cat order | tr '\n' ' ')" "start-u end-u start-e end-e "
	run ci-testpar -j 1 unit=true
	run field 3 .test_execution.run_in_parallel
	assert_output "false"
}

@test "a suite killed by SIGKILL is retried alone after the parallel batch, fallback_to_serial true" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 \
		e2e='echo "start-e$CI_TEST_ATTEMPT" >> order; [ "$CI_TEST_ATTEMPT" = 2 ] || kill -9 $$' \
		unit='for i in $(seq 1200); do grep -q start-e1 order 2> /dev/null && break; sleep 0.05; done; sleep 0.5; echo end-u >> order'
	assert_success
	run records
	assert_output "e2e 1 failed true false warn
unit 1 passed true false info
e2e 2 passed false true warn"
	assert_equal "$(cat order | tr '\n' ' ')" "start-e1 end-u start-e2 "
	run field 1 '[.exit_code, .message] | @text'
	assert_output --partial '[137,"e2e failed (attempt 1 of 2'
	assert_output --partial "killed by signal 9 (SIGKILL), a sign of contention; will retry alone after the parallel batch"
	run field 3 .message
	assert_output --partial "serial fallback: attempt 1 showed contention: killed by signal 9 (SIGKILL)"
}

@test "exit status 137 and a failed fork in the output are contention too" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 \
		unit='[ "$CI_TEST_ATTEMPT" = 2 ] || exit 137' \
		e2e='[ "$CI_TEST_ATTEMPT" = 2 ] || { echo "sh: fork: Resource temporarily unavailable"; exit 2; }'
	assert_success
	run records
	assert_line "unit 2 passed false true warn"
	assert_line "e2e 2 passed false true warn"
	run jq -r 'select(.test_execution.attempt_number == 1) | .message' "$CI_LOG_FILE"
	assert_line --partial "exited with status 137, a sign of contention"
	assert_line --partial "exited with status 2 after a fork failed, a sign of contention"
}

@test "a suite whose fork fails with EAGAIN is retried alone after the parallel batch" {
	[ "$(id -u)" = 0 ] || skip "needs root to run as another user under a process limit"
	command -v setpriv > /dev/null || skip "setpriv (Debian package util-linux) is not installed"
	unset CI_LOG_FILE
	# A user of its own, so that other tests running as nobody do not count
	# against its limit, and a copy of the tool it can reach wherever the
	# checkout is (a home directory may be closed to other users).
	uid=$((40000 + $$ % 20000))
	pub=$(mktemp -d /tmp/ci-testpar-pub.XXXXXX)
	echo "$pub" > "$BATS_TEST_TMPDIR/pub.dir"
	chmod 755 "$pub"
	cp "$(command -v ci-testpar)" "$pub/"
	chmod 755 "$pub/ci-testpar"
	# It may have ci-testpar and one suite's shell, no more: b cannot start
	# while a runs.
	n=$(($(ps -u "$uid" -o pid= | wc -l) + 2))
	run --separate-stderr setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		prlimit --nproc="$n" "$pub/ci-testpar" -j 4 --max-load 0 --min-free-mb 0 --output quiet a='exec sleep 1' b=true
	assert_success
	printf '%s\n' "$output" > entries
	validate log-schema.json entries
	run jq -r '[.test_execution | .test_type, .attempt_number, .status,
		.run_in_parallel, .fallback_to_serial] + [.exit_code, .message] | map(tostring) | join(" ")' entries
	assert_line --index 0 "b 1 failed true false null b failed (attempt 1 of 2, 0.0 s, in parallel): cannot start: Resource temporarily unavailable, a sign of contention; will retry alone after the parallel batch"
	assert_line --index 1 --regexp '^a 1 passed true false 0 '
	assert_line --index 2 --regexp '^b 2 passed false true 0 b passed .*; serial fallback: attempt 1 showed contention: cannot start: Resource temporarily unavailable$'
}

@test "a suite killed by SIGKILL under --serial is retried in turn, not as a fallback" {
	run ci-testpar --serial unit='[ "$CI_TEST_ATTEMPT" = 2 ] || kill -9 $$'
	assert_success
	run records
	assert_output "unit 1 failed false false warn
unit 2 passed false false warn"
}

@test "failure_count is the number of TAP not ok lines of a real bats run" {
	cp "$FIXTURES/ci-testpar/two-failing.bats" .
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit='env -i PATH=/usr/bin:/bin /usr/bin/bats --tap two-failing.bats'
	assert_failure 3
	run field 1 '[.test_execution.failure_count, .level] | @text'
	assert_output '[2,"error"]'
	run field 1 .message
	assert_output --partial "2 tests failed"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "TAP lines marked TODO or SKIP are not failures, and indented ones are not counted" {
	printf '1..5\nok 1 a\nnot ok 2 b\nnot ok 3 c # TODO later\nnot ok 4 d # skip no db\n    not ok 1 sub\nnot ok 5 e\n' > tap
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1'
	run field 1 .test_execution.failure_count
	assert_output "2"
}

@test "a passed suite counts 0 failures whatever its output says" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit='echo "not ok 1 known"'
	assert_success
	run field 1 '[.test_execution.status, .test_execution.failure_count] | @text'
	assert_output '["passed",0]'
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a failed suite without TAP or a report counts 1" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit='echo plain text; exit 2'
	run field 1 .test_execution.failure_count
	assert_output "1"
}

@test "failure_count comes from a JUnit XML report given with --junit" {
	cp "$FIXTURES/ci-testpar/junit-three-failed.xml" fixture.xml
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 --junit e2e=reports/e2e.xml \
		e2e='mkdir -p reports && cp fixture.xml reports/e2e.xml; echo "not ok 1 ignored"; exit 1'
	assert_failure 3
	run field 1 '[.test_execution.failure_count, .message] | @text'
	assert_output --partial '[3,"e2e failed'
	assert_output --partial "3 tests failed"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a malformed, missing or stale JUnit report is named and not used" {
	cp "$FIXTURES/ci-testpar/junit-malformed.xml" bad.xml
	cp "$FIXTURES/ci-testpar/junit-three-failed.xml" old.xml
	touch -d '2020-01-01' old.xml
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 --junit a=bad.xml --junit b=none.xml --junit c=old.xml \
}

	run ci-testpar --max-load 0 --min-free-mb 0 --retries 0 --junit a=bad.xml --junit b=none.xml --junit c=old.xml \
		a='touch bad.xml; exit 1' b='exit 1' c='echo "not ok 1 x"; exit 1'
	assert_failure 3
	run jq -r '[.test_execution.test_type, .test_execution.failure_count, .message] | map(tostring) | join(" | ")' "$CI_LOG_FILE"
	assert_line --regexp '^a \| 1 \| .*; JUnit report bad.xml: line [0-9]+: mismatched tag$'
	assert_line --regexp '^b \| 1 \| .*; JUnit report none.xml: No such file or directory$'
	assert_line --regexp '^c \| 1 \| .*1 test failed; JUnit report old.xml: not written by this attempt; failing: x$'
	validate log-schema.json "$CI_LOG_FILE"
}

# The cases of the Nth entry, one line each: name status duration? message?
cases() {
	sed -n "${1}p" "$CI_LOG_FILE" | jq -r '.test_execution.cases[] |
		[(if .classname then .classname + "." else "" end) + .name,
		 .status, (.duration_ms != null), ((.message // "") | split("\n")[0] // "")] |
		map(tostring) | join(" | ")'
}

@test "a real bats suite's TAP cases are recorded with status, duration and message, and retried" {
	cp "$FIXTURES/ci-testpar/cases.bats" .
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 1 \
		unit='env -i PATH=/usr/bin:/bin CI_TEST_ATTEMPT=$CI_TEST_ATTEMPT /usr/bin/bats --tap --timing cases.bats'
	assert_failure 3
	validate log-schema.json "$CI_LOG_FILE"
	run cases 1
	assert_output "adds | passed | true | 
divides by zero | failed | true | (in test file cases.bats, line 12)
needs a network | skipped | true | 
races the clock | failed | true | (in test file cases.bats, line 20)"
	run field 1 '.test_execution.cases[1].message'
	assert_output --partial "4 / 2 is not 3"
	run field 1 '[.test_execution.failure_count, .test_execution.cases_omitted] | @text'
	assert_output '[2,0]'
	run cases 2
	assert_line --index 3 "races the clock | passed | true | "
	run field 2 .message
	assert_output --regexp '1 test failed; failing: divides by zero$'
}

@test "a real pytest JUnit report's cases are recorded with their class, time and failure message" {
	[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pytest' ||
		skip "needs python3-pytest (Debian package)"
	cp "$FIXTURES/ci-testpar/test_cases.py" .
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 0 --junit py=py.xml \
		py='/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=py.xml test_cases.py'
	assert_failure 3
	validate log-schema.json "$CI_LOG_FILE"
	run cases 1
	assert_output "test_cases.TestMath.test_adds | passed | true | 
test_cases.TestMath.test_divides | failed | true | AssertionError: 4 / 2 is not 3
test_cases.test_opens_db | failed | true | RuntimeError: no database
test_cases.test_fetches | skipped | true | 
test_cases.test_races_the_clock | failed | true | assert 1 > 1"
	run field 1 .test_execution.failure_count
	assert_output 3
	run field 1 .message
	assert_output --regexp '3 tests failed; failing: test_cases\.TestMath\.test_divides, test_cases\.test_opens_db, test_cases\.test_races_the_clock$'
}

@test "the final failure's annotation names the first 10 failing tests, then a count" {
	{ echo 1..12; for i in $(seq 12); do echo "not ok $i case $i"; done; } > tap
	printf '%s\n' "ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1'" > suites.sh
	GITHUB_ACTIONS=true run --separate-stderr bash ./suites.sh
	[ "$status" -eq 3 ]
	run grep '^::error ' <<<"$stderr"
	assert_line --regexp '^::error file=\./suites\.sh,title=test-unit::unit failed .*, 12 tests failed; failing: case 1, case 2, case 3, case 4, case 5, case 6, case 7, case 8, case 9, case 10 and 2 more$'
	validate log-schema.json "$CI_LOG_FILE"
}

@test "cases stop at 10,000 per attempt and messages at 1 KiB, the rest counted" {
	awk 'BEGIN { print "1..10050"; print "not ok 1 t1"
		for (i = 0; i < 300; i++) print "# line " i " of a long diagnostic"
		for (i = 2; i <= 10050; i++) print "ok " i " t" i }' > tap
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1'
	assert_failure 3
	validate log-schema.json "$CI_LOG_FILE"
	run field 1 '.test_execution | [(.cases | length), .cases_omitted, .cases[0].message_cut] | @text'
	assert_output '[10000,50,true]'
	run field 1 '.test_execution.cases[0].message | utf8bytelength <= 1024'
	assert_output true
}

@test "a suite that writes neither TAP nor JUnit has no cases" {
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='echo plain; exit 1'
	run field 1 '.test_execution | has("cases")'
	assert_output false
}

@test "--timeout stops an attempt's process group and records it failed, timed out" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 --timeout 2 unit='sleep 60 & echo $! > bg.pid; sleep 60'
	assert_failure 3
	run field 1 '[.exit_code, .test_execution.status, .message] | @text'
	assert_output --partial '[143,"failed","unit failed (attempt 1 of 1,'
	assert_output --partial 'timed out after 2 s, killed by signal 15 (SIGTERM)'
	run alive "$(cat bg.pid)"
	assert_failure
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a timed-out suite that ignores SIGTERM is killed, and that is not contention" {
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 1 --timeout 2 -j 2 unit='trap "" TERM; [ "$CI_TEST_ATTEMPT" = 2 ] || sleep 60'
	assert_success
	run records
	assert_output "unit 1 failed true false warn
unit 2 passed true false warn"
	run field 1 '[.exit_code, .message] | @text'
	assert_output --partial '[137,'
	refute_output --partial "contention"
}

@test "SIGINT reaches every suite and its grandchildren; suites never started are skipped" {
	env --default-signal=INT ci-testpar -j 1 \
		unit='sleep 300 & echo $! > gc.pid; sleep 300' e2e=true integration=true \
		> out 2> err 3>&- &
	pid=$!
	wait_file gc.pid
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 130
	run alive "$(cat gc.pid)"
	assert_failure
	run alive "$pid"
	assert_failure
	run records
	assert_output "unit 1 failed false false error
e2e 1 skipped false false warn
integration 1 skipped false false warn"
	run field 1 .message
	assert_output --partial "interrupted by SIGINT"
	run field 2 '[.message, .duration_ms, .exit_code] | @text'
	assert_output '["e2e skipped: interrupted by SIGINT before it started",0,null]'
	assert_equal "$(cat err)" ""
}

@test "SIGTERM is passed on to each suite's process group" {
	ci-testpar -j 2 --max-load 0 --min-free-mb 0 a='trap "echo got-term-a > a.term; exit 5" TERM; echo on > a.on; while :; do sleep 0.05; done' \
		b='trap "echo got-term-b > b.term; exit 6" TERM; echo on > b.on; while :; do sleep 0.05; done' \
		> out 2>&1 3>&- &
	pid=$!
	wait_file a.on
	wait_file b.on
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 143
	assert_equal "$(cat a.term b.term)" "got-term-a
got-term-b"
	run jq -r '[.exit_code, .test_execution.status] | @text' "$CI_LOG_FILE"
	assert_line "[5,\"failed\"]"
	assert_line "[6,\"failed\"]"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a suite that ignores SIGINT and SIGTERM is killed; nothing of it survives" {
	env --default-signal=INT ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit='trap "" INT TERM; (trap "" INT TERM; sleep 300) & echo $! > sub.pid; echo $$ > sh.pid; wait' \
		> out 2>&1 3>&- &
	pid=$!
	wait_file sh.pid
	wait_file sub.pid
	kill -INT "$pid"
	status=0
	wait "$pid" || status=$?
	assert_equal "$status" 130
	run alive "$(cat sh.pid)"
	assert_failure
	run alive "$(cat sub.pid)"
	assert_failure
	run field 1 '[.exit_code, .message] | @text'
	assert_output --partial "[137,"
	assert_output --partial "interrupted by SIGINT, killed by signal 9 (SIGKILL)"
}

@test "background processes a suite leaves behind are stopped when it ends" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit='sleep 300 > /dev/null 2>&1 & echo $! > bg.pid; sleep 300 & echo $! > bg2.pid; echo done'
	assert_success
	run alive "$(cat bg.pid)"
	assert_failure
	run alive "$(cat bg2.pid)"
	assert_failure
	assert_equal "$(jq -r .test_execution.status "$CI_LOG_FILE")" "passed"
}

@test "prefixed output streams whole lines only while suites write long lines in pieces at once" {
	# Each line is written in two halves by separate printf calls.
	half=$(printf '%01000d' 0)
	run --separate-stderr ci-testpar -j 3 --max-load 0 --min-free-mb 0 --output prefixed \
		a="for i in \$(seq 1500); do printf %s $half | tr 0 a; printf '%s\n' $half | tr 0 a; done" \
		b="for i in \$(seq 1500); do printf %s $half | tr 0 b; printf '%s\n' $half | tr 0 b; done" \
		c="for i in \$(seq 1500); do printf %s $half | tr 0 c; printf '%s\n' $half | tr 0 c; done"
	assert_success
	printf '%s\n' "$output" > out
	assert_equal "$(grep -c '^\[a\] a\{2000\}$' out)" 1500
	assert_equal "$(grep -c '^\[b\] b\{2000\}$' out)" 1500
	assert_equal "$(grep -c '^\[c\] c\{2000\}$' out)" 1500
	run grep -v -e '^\[a\] a\{2000\}$' -e '^\[b\] b\{2000\}$' -e '^\[c\] c\{2000\}$' -e '^==> ' out
	assert_output ""
	validate log-schema.json "$CI_LOG_FILE"
}

@test "prefixed output ends a last line that has no newline" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --output prefixed unit='printf "one\ntwo"'
	assert_output --regexp '^\[unit\] one
\[unit\] two
==> unit passed \(attempt 1 of 2, [0-9]+\.[0-9] s, in parallel\)$'
}

@test "grouped output shows each attempt's whole output under its result line" {
	# unit ends once e2e's entry, written after its output, is in the log.
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 \
		unit='echo u1; for i in $(seq 1200); do grep -q test-e2e "$CI_LOG_FILE" 2> /dev/null && break; sleep 0.05; done; echo u2 >&2' \
		e2e='echo e1; sleep 0.1; echo e2'
	assert_success
	assert_output --regexp '==> e2e passed \(attempt 1 of 2, [0-9]+\.[0-9] s, in parallel\)
e1
e2
==> unit passed \(attempt 1 of 2, [0-9]+\.[0-9] s, in parallel\)
u1
u2
==> 2 suites: 2 passed, 0 failed, 0 skipped; 2 attempts'
}

@test "grouped output of a large suite is shown whole" {
	seq 200000 > expect
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit='seq 200000'
	assert_success
	printf '%s\n' "$output" | sed 1d | cmp - expect
}

@test "on GitHub Actions grouped output is folded and failures become annotations" {
	printf '%s\n' "ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit='echo hello' e2e='echo bye; exit 1'" > suites.sh
	GITHUB_ACTIONS=true run --separate-stderr bash ./suites.sh
	assert_failure 3
	# Everything on stderr, so that $(...) never takes a workflow command.
	assert_output ""
	run grep -E '^::group::' <<< "$stderr"
	assert_line --regexp '^::group::unit passed \(attempt 1 of 1, [0-9]+\.[0-9] s, in parallel\)$'
	assert_line --regexp '^::group::e2e failed \(attempt 1 of 1, [0-9]+\.[0-9] s, in parallel\): exited with status 1$'
	assert_equal "$(grep -c '^::endgroup::$' <<< "$stderr")" 2
	[[ $stderr =~ (^|$'\n')"::error file=./suites.sh,title=test-e2e::e2e failed" ]] || fail "$stderr"
	run grep -A1 '^::group::unit' <<< "$stderr"
	assert_line --index 1 "hello"
}

@test "quiet output shows only the result lines" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --output quiet unit='echo noise' e2e='echo more noise'
	assert_success
	refute_output --partial "noise"
	assert_line --regexp '^==> unit passed'
	assert_line --regexp '^==> e2e passed'
}

@test "with the log on standard output, suite output goes to standard error" {
	unset CI_LOG_FILE
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --output prefixed unit='echo "{\"not\":\"an entry\"}"; echo err >&2'
	assert_success
	printf '%s\n' "$output" > entries
	assert_equal "$(wc -l < entries)" 1
	validate log-schema.json entries
	[[ $stderr == *'[unit] {"not":"an entry"}'* ]]
	[[ $stderr == *"[unit] err"* ]]
}

@test "a status line shows on a terminal only" {
	# A terminal that can redraw a line, and one that cannot.
	run script -qec 'TERM=xterm ci-testpar -j 2 --max-load 0 --min-free-mb 0 a="sleep 3" b="sleep 3" > /dev/null' /dev/null
	assert_success
	[[ $output == *$'\r\033[K[a #1 '* ]]
	[[ $output =~ \[b\ \#1\ [12]s\] ]]
	run script -qec 'TERM=dumb ci-testpar -j 2 --max-load 0 --min-free-mb 0 a="sleep 1.3" > /dev/null' /dev/null
	assert_success
	[[ $output != *$'\r'* ]]
	TERM=xterm run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 a='sleep 1.3'
	assert_success
	[[ $stderr != *$'\r'* ]]
	[[ $output != *$'\r'* ]]
}

@test "a command that is not found fails with exit_code 127" {
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 unit='no-such-command-here'
	assert_failure 3
	run field 1 '[.exit_code, .test_execution.status] | @text'
	assert_output '[127,"failed"]'
}

@test "a closed standard output does not stop the suites or the log" {
	run --separate-stderr bash -c 'ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit="seq 100000" e2e="echo ok > e2e.out" | true'
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(cat e2e.out)" "ok"
	run records
	assert_line "unit 1 passed true false info"
	assert_line "e2e 1 passed true false info"
}

@test "a log that cannot be written is reported once, the suites still run, exit 4" {
	CI_LOG_FILE=/dev/full run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit='echo a > a.out' e2e='echo b > b.out'
	assert_failure 4
	assert_equal "$stderr" "ci-testpar: cannot write to /dev/full: No space left on device; no more entries"
	assert_equal "$(cat a.out b.out)" "a
b"
}

@test "exits 2 without CI_RUN_ID or with a malformed one" {
	unset CI_RUN_ID
	run --separate-stderr ci-testpar unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: CI_RUN_ID is not set (mint one with: eval \"\$(ci-runid --env)\")"
	CI_RUN_ID=nope run --separate-stderr ci-testpar unit=true
	assert_failure 2
	[[ $stderr == 'ci-testpar: CI_RUN_ID: "nope" does not start with "run-"' ]]
	[ ! -e "$CI_LOG_FILE" ]
}

@test "exits 2 on malformed suites, naming them" {
	bad() {
		run --separate-stderr ci-testpar "$@"
		assert_failure 2
		assert_output ""
	}
	bad
	assert_equal "$stderr" "ci-testpar: no suites: expected TYPE=COMMAND arguments (see 'ci-testpar --help')"
	bad unit
	assert_equal "$stderr" "ci-testpar: \"unit\" is not TYPE=COMMAND (see 'ci-testpar --help')"
	bad Unit=true
	assert_equal "$stderr" "ci-testpar: suite type \"Unit\": expected 1 to 32 lowercase letters, digits, - or _, starting with a letter (see 'ci-testpar --help')"
	bad =true
	[[ $stderr == *'suite type "": expected'* ]]
	bad 1unit=true
	bad abcdefghijklmnopqrstuvwxyz0123456=true
	bad 'unit test=true'
	bad unit=
	assert_equal "$stderr" "ci-testpar: suite unit: the command is empty (see 'ci-testpar --help')"
	bad unit=true unit=false
	assert_equal "$stderr" "ci-testpar: suite unit is given twice (see 'ci-testpar --help')"
	[ ! -e "$CI_LOG_FILE" ]
}

@test "a 32-character type and other names than unit, integration and e2e are accepted" {
	run ci-testpar -j 2 --max-load 0 --min-free-mb 0 abcdefghijklmnopqrstuvwxyz012345=true lint_2-fast=true
	assert_success
	run records
	assert_line "abcdefghijklmnopqrstuvwxyz012345 1 passed true false info"
	assert_line "lint_2-fast 1 passed true false info"
}

@test "exits 2 on a malformed --junit, naming it" {
	run --separate-stderr ci-testpar --junit unit unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --junit: \"unit\" is not TYPE=PATH (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar --junit unit= unit=true
	assert_failure 2
	run --separate-stderr ci-testpar --junit e2e=r.xml unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --junit: no suite e2e among the TYPE=COMMAND arguments (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar --junit unit=a.xml --junit unit=b.xml unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --junit: suite unit has two reports (see 'ci-testpar --help')"
}

@test "exits 2 on option values out of range or malformed" {
	run --separate-stderr ci-testpar -j 0 unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: -j: \"0\" is out of range (expected a whole number from 1 to 256) (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar --retries many unit=true
	assert_failure 2
	[[ $stderr == *'--retries: "many" is not a number'* ]]
	run --separate-stderr ci-testpar --timeout -1 unit=true
	assert_failure 2
	run --separate-stderr ci-testpar --min-free-mb 1.5 unit=true
	assert_failure 2
	run --separate-stderr ci-testpar --max-load high unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --max-load: \"high\" is not a number from 0 to 1e+06 (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar --output loud unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --output: \"loud\" is not an output mode (expected grouped, prefixed or quiet) (see 'ci-testpar --help')"
	[ ! -e "$CI_LOG_FILE" ]
}

@test "exits 2 and names the option on an unknown option or a missing argument" {
	run --separate-stderr ci-testpar --bogus unit=true
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --bogus: unknown option (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar unit=true -j
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: -j: missing argument (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar unit=true --timeout
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --timeout: missing argument (see 'ci-testpar --help')"
}

@test "-h and --help print the usage on stdout and exit 0; --version the version" {
	run --separate-stderr ci-testpar -h
	assert_success
	assert_output --regexp '^usage: ci-testpar \[--check\] \[-j N\] \[--retries \[TYPE=\]N \.\.\.\] \[--retry-delay SEC\] \[--serial\] .* TYPE=COMMAND \.\.\.$'
	assert_equal "$stderr" ""
	run ci-testpar --help
	assert_success
	run ci-testpar --version
	assert_success
	[[ $output =~ ^ci-testpar\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "--check validates the options and suites, runs and logs nothing, and needs no run id" {
	unset CI_RUN_ID
	run --separate-stderr ci-testpar --check --retries 2 unit='touch ran'
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	[ ! -e ran ]
	run --separate-stderr ci-testpar --check --retries banana unit='touch ran'
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --retries: \"banana\" is not a number (expected a whole number from 0 to 100) (see 'ci-testpar --help')"
	run --separate-stderr ci-testpar --check --junit integration=x.xml unit='touch ran'
	assert_failure 2
	assert_equal "$stderr" "ci-testpar: --junit: no suite integration among the TYPE=COMMAND arguments (see 'ci-testpar --help')"
	[ ! -e ran ]
	[ ! -e logs ]
}

@test "under GitHub Actions a failure that will be retried is a warning, the final one an error, and result and flaky go to GITHUB_OUTPUT" {
	export GITHUB_ACTIONS=true GITHUB_OUTPUT=$BATS_TEST_TMPDIR/output
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 1 \
		unit='[ "$CI_TEST_ATTEMPT" = 2 ]' e2e='exit 1' smoke=true
	assert_failure 3
	run grep -E '^::(error|warning) ' <<<"$stderr"
	assert_equal "$(grep -c '^::error .*title=test-e2e::e2e failed (attempt 2 of 2' <<<"$output")" 1
	assert_equal "$(grep -c '^::warning .*title=test-e2e::e2e failed (attempt 1 of 2' <<<"$output")" 1
	assert_equal "$(grep -c '^::warning .*title=test-unit::unit failed (attempt 1 of 2' <<<"$output")" 1
	refute_output --partial "::error title=test-unit"
	refute_output --regexp "::error [^:]*title=test-unit"
	run cat "$GITHUB_OUTPUT"
	assert_output "$(printf 'result=failure\nflaky=unit')"
	rm "$GITHUB_OUTPUT"
	run --separate-stderr ci-testpar -j 2 --max-load 0 --min-free-mb 0 smoke=true
	assert_success
	run cat "$GITHUB_OUTPUT"
	assert_output "$(printf 'result=success\nflaky=')"
}

@test "--fail-on-flaky exits 3 when a suite passed only on a retry, and 0 when every suite passed at once" {
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --fail-on-flaky \
		unit='[ "$CI_TEST_ATTEMPT" = 2 ]' e2e=true
	assert_failure 3
	run records
	assert_success
	assert_line "unit 2 passed true false warn"
	rm "$CI_LOG_FILE"
	run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --fail-on-flaky unit=true e2e=true
	assert_success
}

@test "CI_MASK: a suite's secret is *** in its output, grouped and prefixed, its group title, its annotation and its recorded cases" {
	export SUITE_TOKEN=tok-61c0ffee CI_MASK=SUITE_TOKEN
	printf '1..2\nok 1 sees %s\nnot ok 2 leaks %s\n' "$SUITE_TOKEN" "$SUITE_TOKEN" > tap
	# More than the output kept in memory, so that the rest is read back from
	# a temporary file, the secret on every line.
	for i in $(seq 40000); do printf 'line %d %s\n' "$i" "$SUITE_TOKEN"; done > big
	for mode in grouped prefixed; do
		rm -f "$CI_LOG_FILE"
		GITHUB_ACTIONS=true run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 0 \
			--output "$mode" unit='cat tap; exit 1' bulk='cat big'
		assert_failure 3
		[[ $output != *"$SUITE_TOKEN"* ]] || fail "$mode: the secret on stdout"
		[[ $stderr != *"$SUITE_TOKEN"* ]] || fail "$mode: the secret on stderr"
		run grep -c "$SUITE_TOKEN" "$CI_LOG_FILE"
		assert_output 0
		run jq -r 'select(.test_execution.cases) | .test_execution.cases[].name' "$CI_LOG_FILE"
		assert_output "$(printf 'sees ***\nleaks ***')"
	done
	run --separate-stderr ci-testpar -j 1 --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1' bulk='cat big'
	assert_line --partial "ok 1 sees ***"
	[ "$(grep -c '^line [0-9]* \*\*\*$' <<<"$output")" = 40000 ] || fail "not every line masked"
	GITHUB_ACTIONS=true run --separate-stderr ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1'
	run grep '^::group::unit' <<<"$stderr"
	assert_output --partial "failing: leaks ***"
}
