#!/usr/bin/env bats
# ci-ship and contracts/clickhouse.sql against a real ClickHouse server on
# 127.0.0.1: logs of real pipeline runs and hundreds of generated runs are
# shipped, and every view answers what ci-report --format json answers on
# the same files; shipping twice or after a log grew counts nothing twice;
# retries, credentials, refusals and the reference pipeline's shipment.
load helpers/common
load helpers/clickhouse

G=$FIXTURES/ci-ship

setup_file() {
	ch_need || return 0
	ch_start
	# Logs of the real tools: full pipeline runs of a fixture project, one
	# of them with a failing lint, one with a flaky suite.
	local p=$BATS_FILE_TMPDIR/project
	mkdir -p "$p" && cd "$p" || return 1
	export HOME=$BATS_FILE_TMPDIR TMPDIR=$BATS_FILE_TMPDIR
	unset CI_RUN_ID CI_LOG_FILE CI_LOG_DIR CI_STEP GITHUB_ACTIONS CI_CLICKHOUSE_URL
	cp "$FIXTURES/pipeline/green.conf" green.conf
	sed 's/^lint = .*/lint = echo "lint: 2 problems"; exit 1/' green.conf > red.conf
	sed 's|^test.e2e = .*|test.e2e = if [ -e tried ]; then echo "1..1"; echo "ok 1"; else touch tried; echo "1..1"; echo "not ok 1"; exit 1; fi|' \
		green.conf > flaky.conf
	for c in green red flaky green; do
		"$REPO/scripts/local-ci/run.sh" --profile full --config $c.conf > /dev/null 2>&1 3>&- || true
	done
	ls logs/ci-*.log > /dev/null || return 1
}

teardown_file() {
	ch_stop
}

setup() {
	ch_skip
	common_setup
	export CI_CLICKHOUSE_URL=$CH_URL
	unset CI_CLICKHOUSE_USER CI_CLICKHOUSE_PASSWORD CI_CLICKHOUSE_PASSWORD_FILE CI_SHIP_RETRIES CI_SHIP_BATCH
	ch_schema
}

# same_answers FILE...: every view equals ci-report --format json and
# ci-report --trends --format json on FILEs.
same_answers() {
	ci-report --format json "$@" > report.json 2> /dev/null
	validate report-schema.json report.json
	ci-report --trends --format json "$@" > trends.json 2> /dev/null
	validate report-schema.json trends.json
	run /usr/bin/python3 "$G/compare.py" "$CH_URL" report.json trends.json
	echo "$output"
	assert_success
	assert_line --regexp '^ci.runs: [0-9]+ rows equal$'
	for v in steps step_durations test_suites test_health errors health \
		'test_cases flakiest_cases' 'test_cases slowest_cases'; do
		assert_line --regexp "^ci.$v: [1-9][0-9]* rows equal$"
	done
	# None when the latest run is a real one that passed.
	assert_line --regexp '^ci.test_cases failed_in_latest: [0-9]+ rows equal$'
}

real_logs() { ls "$BATS_FILE_TMPDIR"/project/logs/ci-*.log; }

@test "real pipeline runs and hundreds of generated runs: every view equals ci-report --format json row by row" {
	/usr/bin/python3 "$G/gen-runs.py" 1 300 40 > a.log
	/usr/bin/python3 "$G/gen-runs.py" 2 200 25 > b.log
	mapfile -t real < <(real_logs)
	# Small batches, so that the logs go in many inserts.
	CI_SHIP_BATCH=1000 run --separate-stderr ci-ship "${real[@]}" a.log b.log
	assert_success
	total=$(ci-report --format clickhouse "${real[@]}" a.log b.log 2> /dev/null | wc -l)
	bad=$(ci-report --check "${real[@]}" a.log b.log | wc -l)
	[ "$bad" -gt 100 ]
	assert_output "$total rows sent to ci.entries, $bad lines skipped"
	assert_equal "$(ch 'SELECT count() FROM ci.entries')" "$total"
	assert_equal "$(ch 'SELECT count() FROM ci.runs')" 504
	same_answers "${real[@]}" a.log b.log
}

@test "shipping the same files twice, and a log again after it grew, counts every entry once" {
	/usr/bin/python3 "$G/gen-runs.py" 3 150 30 > a.log
	/usr/bin/python3 "$G/gen-runs.py" 4 100 30 > grow.log
	mapfile -t real < <(real_logs)
	run ci-ship "${real[@]}" a.log grow.log
	assert_success
	run ci-ship "${real[@]}" a.log grow.log
	assert_success
	# The log grows: runs added after the first shipment, one of them in
	# the middle of being written; then the whole file is shipped again.
	/usr/bin/python3 "$G/gen-runs.py" 5 40 30 >> grow.log
	run ci-ship grow.log
	assert_success
	ci-report --format clickhouse "${real[@]}" a.log grow.log 2> /dev/null > rows
	assert_equal "$(ch 'SELECT count() FROM ci.entries FINAL')" "$(wc -l < rows)"
	assert_equal "$(ch 'SELECT sum(entries) FROM ci.runs')" "$(wc -l < rows)"
	same_answers "${real[@]}" a.log grow.log
}

@test "the Distributed variant of clickhouse.sql, on a cluster of one shard, gives the same answers and no double count" {
	# As the file says: the schema, the table renamed, a Distributed table
	# in its place; then the recipe's own lines, from the comment.
	sed -n '/^--     RENAME TABLE/,/^--     ENGINE = Distributed/s/^--     //p' "$REPO/contracts/clickhouse.sql" |
		sed 's/CLUSTER/one_shard/' > variant.sql
	assert_equal "$(grep -c . variant.sql)" 3
	clickhouse-client --host 127.0.0.1 --port "$CH_TCP" --multiquery < variant.sql
	assert_equal "$(ch "SELECT engine FROM system.tables WHERE database = 'ci' AND name = 'entries'")" Distributed
	/usr/bin/python3 "$G/gen-runs.py" 7 120 30 > a.log
	export CI_CLICKHOUSE_USER=cluster
	run ci-ship a.log
	assert_success
	run ci-ship a.log
	assert_success
	assert_equal "$(ch 'SELECT count() FROM ci.entries_local FINAL')" "$(ci-report --format clickhouse a.log 2> /dev/null | wc -l)"
	same_answers a.log
	# The latest run is a generated one: a new failure and one standing.
	assert_line --regexp '^ci.test_cases failed_in_latest: [2-9] rows equal$'
	assert_equal "$(ch "SELECT latest_kind FROM ci.test_cases WHERE name = 'steady failure'")" "already failing"
	assert_equal "$(ch "SELECT latest_kind FROM ci.test_cases WHERE name = 'fresh failure 7'")" "new failure"
	assert_equal "$(ch "SELECT kind, name, latest_ms FROM ci.health WHERE regression = 1")" "$(printf 'step\tbuild\t90000')"
}

@test "the test cases of a real bats suite are rows of ci.case_runs, and ARRAY JOIN finds them as clickhouse.sql shows" {
	new_run
	cp "$FIXTURES/ci-testpar/cases.bats" .
	ci-testpar --max-load 0 --min-free-mb 0 --retries 1 \
		unit='env -i PATH=/usr/bin:/bin CI_TEST_ATTEMPT=$CI_TEST_ATTEMPT /usr/bin/bats --tap --timing cases.bats' > /dev/null 2>&1 || true
	run ci-ship "$CI_LOG_FILE"
	assert_success
	run ch "SELECT test_type, name, attempts, status, failed_attempts, flaky, isNotNull(duration_ms) FROM ci.case_runs ORDER BY name"
	assert_output "$(printf 'unit\t%s\n' 'adds	2	passed	0	0	1' 'divides by zero	2	failed	2	0	1' \
		'needs a network	2	skipped	0	0	1' 'races the clock	2	passed	1	1	1')"
	# The query of the file's comment, as it is written there.
	sed -n '/^--     SELECT run_id, test_type, c, s FROM ci.entries FINAL/,/^--     ARRAY JOIN/s/^--     //p' \
		"$REPO/contracts/clickhouse.sql" > q.sql
	assert_equal "$(wc -l < q.sql)" 2
	run ch "$(cat q.sql)"
	assert_output "$(printf '%s\tunit\t%s\tfailed\n' "$CI_RUN_ID" 'divides by zero' "$CI_RUN_ID" 'races the clock' "$CI_RUN_ID" 'divides by zero')"
	# Shipped again: no case counted twice.
	run ci-ship "$CI_LOG_FILE"
	assert_success
	assert_equal "$(ch 'SELECT sum(attempts) FROM ci.case_runs')" 8
	assert_equal "$(ch "SELECT runs, failed, flaky FROM ci.test_cases WHERE name = 'races the clock'")" "$(printf '1\t0\t1')"
}

@test "malformed lines are reported as ci-report --check reports them, counted and skipped, and the rest is stored" {
	cp "$FIXTURES/ci-report/malformed.log" .
	run --separate-stderr ci-ship malformed.log
	assert_success
	ci-report --check malformed.log > check.out || true
	assert_equal "$stderr" "$(sed 's/^/ci-report: /' check.out)"
	assert_output "$(ci-report --format clickhouse malformed.log 2> /dev/null | wc -l) rows sent to ci.entries, $(wc -l < check.out) lines skipped"
	[ "$(ch 'SELECT count() FROM ci.entries')" -gt 0 ]
}

@test "a log from standard input, and an empty log, are shipped" {
	run ci-ship - < "$FIXTURES/ci-report/seed-run.log"
	assert_success
	assert_output "19 rows sent to ci.entries, 0 lines skipped"
	: > empty.log
	run ci-ship empty.log
	assert_success
	assert_output "0 rows sent to ci.entries, 0 lines skipped"
	assert_equal "$(ch "SELECT result FROM ci.runs")" passed
}

@test "a batch that the server answers with 503 is sent again after a backoff, and stored once" {
	/usr/bin/python3 "$G/flaky-proxy.py" "$CH_URL" 2 > port 3>&- &
	proxy=$!
	for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
	/usr/bin/python3 "$G/gen-runs.py" 6 20 0 > a.log
	CI_SHIP_BATCH=100 CI_SHIP_RETRIES=3 run --separate-stderr ci-ship --url "http://127.0.0.1:$(cat port)/" a.log
	kill "$proxy"
	assert_success
	assert_equal "${stderr_lines[0]}" "ci-ship: attempt 1 failed (HTTP 503: overloaded, try again); retrying in 1 s"
	assert_equal "${stderr_lines[1]}" "ci-ship: attempt 2 failed (HTTP 503: overloaded, try again); retrying in 2 s"
	assert_equal "${#stderr_lines[@]}" 2
	assert_equal "$(ch 'SELECT count() FROM ci.entries')" "$(wc -l < a.log)"
	same_answers a.log
}

@test "exits 4 after the retries when nothing listens at the URL" {
	port=$(free_port)
	CI_SHIP_RETRIES=2 run --separate-stderr ci-ship --url "http://127.0.0.1:$port/" "$FIXTURES/ci-report/seed-run.log"
	assert_failure 4
	assert_output "0 rows sent to ci.entries, 0 lines skipped"
	assert_equal "${#stderr_lines[@]}" 3
	[[ ${stderr_lines[0]} == "ci-ship: attempt 1 failed ("*"); retrying in 1 s" ]]
	[[ ${stderr_lines[1]} == "ci-ship: attempt 2 failed ("*"); retrying in 2 s" ]]
	[[ ${stderr_lines[2]} == "ci-ship: server at http://127.0.0.1:$port/: cannot store the rows after 3 attempts: "* ]]
}

@test "exits 2 with the server's message when the table does not exist, without retrying" {
	run --separate-stderr ci-ship --table ci.nowhere "$FIXTURES/ci-report/seed-run.log"
	assert_failure 2
	assert_output "0 rows sent to ci.nowhere, 0 lines skipped"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "ci-ship: server at $CH_URL: the server refused the rows: HTTP 404: Code: 60, "*"ci.nowhere doesn't exist"* ]]
}

@test "the user and password come from the environment or a file, and are never on a command line or in the output" {
	# A curl that records its command line, in front of the real one.
	mkdir bin
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s/argv"\nexec %s "$@"\n' "$PWD" "$(command -v curl)" > bin/curl
	chmod +x bin/curl
	export PATH=$PWD/bin:$PATH
	log=$FIXTURES/ci-report/seed-run.log
	CI_CLICKHOUSE_USER=shipper CI_CLICKHOUSE_PASSWORD=s3cret-Pa55 run ci-ship "$log"
	assert_success
	assert_output "19 rows sent to ci.entries, 0 lines skipped"
	printf 's3cret-Pa55\n' > password
	CI_CLICKHOUSE_USER=shipper CI_CLICKHOUSE_PASSWORD_FILE=password run ci-ship "$log"
	assert_success
	CI_CLICKHOUSE_USER=shipper CI_CLICKHOUSE_PASSWORD=wrong-Pa55 run ci-ship "$log"
	assert_failure 2
	assert_output --partial "the server refused the rows: HTTP"
	refute_output --partial "Pa55"
	[ -s argv ]
	run grep -c -e Pa55 -e shipper -e 127.0.0.1 argv
	assert_output 0
	# What the server got: the rows of the user with the right password.
	assert_equal "$(ch "SELECT count() FROM ci.entries FINAL")" 19
	assert_equal "$(ch "SELECT entries FROM ci.runs")" 19
}

@test "usage errors exit 2 and name the problem" {
	log=$FIXTURES/ci-report/seed-run.log
	run --separate-stderr ci-ship
	assert_failure 2
	assert_equal "${stderr_lines[1]}" "ci-ship: no log file given"
	unset CI_CLICKHOUSE_URL
	run --separate-stderr ci-ship "$log"
	assert_failure 2
	assert_equal "${stderr_lines[1]}" "ci-ship: no server: give --url URL or set CI_CLICKHOUSE_URL"
	run --separate-stderr ci-ship --url "http://shipper:s3cret-Pa55@127.0.0.1:1/" "$log"
	assert_failure 2
	[[ ${stderr_lines[1]} == "ci-ship: --url: not an http:// or https:// URL of ClickHouse's HTTP interface, without user or password"* ]]
	refute_output --partial Pa55
	[[ $stderr != *Pa55* ]]
	run --separate-stderr ci-ship --url "http://127.0.0.1:1/?user=a&password=s3cret-Pa55" "$log"
	assert_failure 2
	[[ $stderr != *Pa55* ]]
	run --separate-stderr ci-ship --url ftp://127.0.0.1/ "$log"
	assert_failure 2
	run --separate-stderr ci-ship --url "$CH_URL" --table entries "$log"
	assert_failure 2
	assert_equal "${stderr_lines[1]}" 'ci-ship: --table: "entries" is not DATABASE.TABLE (letters, digits and _)'
	run --separate-stderr ci-ship --bogus "$log"
	assert_failure 2
	assert_equal "${stderr_lines[1]}" "ci-ship: --bogus: unknown option"
	run --separate-stderr ci-ship --url "$CH_URL" "$log" missing.log
	assert_failure 2
	assert_equal "$stderr" "ci-ship: cannot read missing.log"
	CI_SHIP_RETRIES=many run --separate-stderr ci-ship --url "$CH_URL" "$log"
	assert_failure 2
	# Nothing was sent for any of them.
	assert_equal "$(ch 'SELECT count() FROM ci.entries')" 0
}

@test "the reference pipeline ships its closed run when CI_CLICKHOUSE_URL is set, or clickhouse.url in its config" {
	mkdir project && cd project
	cp "$FIXTURES/pipeline/green.conf" pipeline.conf
	run --separate-stderr "$REPO/scripts/local-ci/run.sh" --profile dev --config pipeline.conf
	assert_success
	[[ $stderr == *"rows sent to ci.entries, 0 lines skipped"* ]]
	id=$(ch "SELECT run_id FROM ci.runs")
	assert_equal "$(ch "SELECT result, complete FROM ci.runs")" "passed	1"
	ci-report --format json logs/ci-*.log > report.json
	assert_equal "$(jq -r .run_id report.json)" "$id"
	unset CI_CLICKHOUSE_URL
	printf 'clickhouse.url = %s\n' "$CH_URL" >> pipeline.conf
	run "$REPO/scripts/local-ci/run.sh" --profile dev --config pipeline.conf
	assert_success
	assert_equal "$(ch "SELECT count() FROM ci.runs WHERE result = 'passed'")" 2
}

@test "a failed shipment is a warning of the reference pipeline, never a failed run" {
	mkdir project && cd project
	cp "$FIXTURES/pipeline/green.conf" pipeline.conf
	CI_SHIP_RETRIES=0 CI_CLICKHOUSE_URL=http://127.0.0.1:$(free_port)/ \
		run --separate-stderr "$REPO/scripts/local-ci/run.sh" --profile dev --config pipeline.conf
	assert_success
	assert_line --partial "passed"
	[[ $stderr == *"run.sh: warning: the log was not shipped to ClickHouse (ci-ship exited 4); the run's result stands"* ]]
	sed 's/^lint = .*/lint = exit 1/' "$FIXTURES/pipeline/green.conf" > pipeline.conf
	CI_SHIP_RETRIES=0 CI_CLICKHOUSE_URL=http://127.0.0.1:$(free_port)/ \
		run --separate-stderr "$REPO/scripts/local-ci/run.sh" --profile dev --config pipeline.conf
	assert_failure 1
}
