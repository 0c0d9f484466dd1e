#!/usr/bin/env bats
# ci-report: runs, steps, tests and messages rebuilt from NDJSON logs, in four
# formats, with malformed lines counted and never fatal.
load helpers/common

F=$FIXTURES/ci-report
SEED=run-20251020-143045-k8m3q2

# One line of --format json per run, for jq to pick apart.
json() {
	ci-report --format json "$@"
}

# --- the text report -------------------------------------------------------

@test "text: a complete run shows its result, times, profile and completed steps" {
	run --separate-stderr ci-report "$F/seed-run.log"
	assert_success
	assert_line --index 0 "Run $SEED: passed (exit 0) in 2m58s"
	assert_line --index 1 "  ran 2025-10-20 14:30:45 UTC to 14:33:43, profile dev, triggered by TUI"
	assert_line --index 2 "  steps completed: init env-check lint test-unit test-integration test-e2e test build cleanup complete"
	assert_equal "$stderr" ""
}

@test "text: a run shorter than its whole seconds suggest shows the time between its entries" {
	# pipeline_run counts whole seconds (2 here); the entries say 2.3 s.
	id=run-20251020-143045-abcdef
	cat > short.log <<LOG
{"timestamp":"2025-10-20T14:30:45.100Z","level":"info","message":"run started","run_id":"$id","source_file":"run.sh","line_number":1,"function_name":"main","step_name":"init","duration_ms":0,"exit_code":0,"run_start":{"start_time":1760970645,"profile":"dev","triggered_by":"CLI"}}
{"timestamp":"2025-10-20T14:30:47.400Z","level":"info","message":"run finished","run_id":"$id","source_file":"run.sh","line_number":9,"function_name":"main","step_name":"complete","duration_ms":2300,"pipeline_run":{"run_id":"$id","start_time":1760970645,"end_time":1760970647,"duration":2,"exit_code":0,"profile":"dev","triggered_by":"CLI","steps_completed":["init","complete"]}}
LOG
	run ci-report short.log
	assert_line --index 0 "Run $id: passed (exit 0) in 2.3s"
}

@test "text: each step has its status, duration and exit code, in the order they started" {
	run ci-report "$F/seed-run.log"
	assert_line --regexp '^  env-check +passed +1\.2s +0$'
	assert_line --regexp '^  lint +passed +12s +0$'
	assert_line --regexp '^  build +passed +40s +0$'
	steps=$(printf '%s\n' "$output" | awk '/^  STEP/{on=1; next} /^$/{on=0} on {print $1}' | paste -sd' ')
	assert_equal "$steps" "env-check lint test test-e2e test-integration test-unit build cleanup"
}

@test "text: test attempts show retries, flaky suites and the serial fallback" {
	run ci-report "$F/seed-run.log"
	assert_line --regexp '^  e2e #1 +failed +1m00s +3  parallel$'
	assert_line --regexp '^  e2e #2 +passed +1m00s +0  parallel, flaky: passed on retry$'
	assert_line --regexp '^  integration #2 +passed +55s +0  serial \(fallback\), flaky: passed on retry$'
	assert_line --regexp '^  unit #1 +passed +45s +0  parallel$'
}

@test "text: warnings and errors give their step and source_file:line_number (function)" {
	run ci-report "$F/seed-run.log"
	assert_line "Errors and warnings  3 errors, 3 warnings"
	assert_line "  WARN  14:30:50 lint scripts/lint.sh:42 (run_lint): lint: 2 style warnings in src/app.c"
	assert_line "  ERROR 14:31:30 test-e2e tests/e2e/checkout.spec.ts:88 (checkout flow): checkout flow timed out after 30 s"
}

@test "text: the timeline draws steps and parallel test attempts as bars against time" {
	run ci-report "$F/seed-run.log"
	assert_line "Timeline  2m58s from 14:30:45 UTC, one column = 3.5s"
	# Both first attempts start together (parallel); the failed one is x.
	e2e1=$(printf '%s\n' "${lines[@]}" | grep '^    e2e #1 ')
	unit1=$(printf '%s\n' "${lines[@]}" | grep '^    unit #1 ')
	[[ $e2e1 == *"|   xxxxxxxxxxxxxxxxxx "* ]]
	[[ $unit1 == *"|   ============== "* ]]
	# The retry starts where the first attempt ended.
	assert_line --regexp '^    e2e #2 +\| {21}={17} +\|$'
	assert_line --regexp '^  cleanup +\| {49}=\|$'
}

@test "text: a run without a complete entry is incomplete and still shows what it did" {
	run ci-report "$F/killed-run.log"
	assert_success
	assert_line --index 0 "Run run-20251023-110000-kil004: incomplete (no complete entry) after 30s"
	assert_line --index 2 "  steps completed: init env-check lint"
	assert_line --regexp '^  build +unfinished +-$'
	assert_line --regexp '^  build +\| {20}-{30}\|$'
	assert_line "  WARN  11:00:30 build scripts/build.sh:12 (check_disk): build: disk 95% full"
}

@test "text: colour on a terminal, none with NO_COLOR, TERM=dumb or a pipe" {
	run script -qec "ci-report '$F/failed-run.log'" /dev/null
	assert_success
	[[ $output == *$'\e[31mfailed\e[0m'* ]]
	run script -qec "NO_COLOR=1 ci-report '$F/failed-run.log'" /dev/null
	refute_output --partial $'\e['
	assert_output --partial "failed (exit 1)"
	run script -qec "TERM=dumb ci-report '$F/failed-run.log'" /dev/null
	refute_output --partial $'\e['
	run ci-report "$F/failed-run.log"
	refute_output --partial $'\e['
}

@test "text: several runs give a table, oldest first, and each step's median and slowest" {
	# Files in reverse order: the table is still ordered by start time.
	run --separate-stderr ci-report "$F/tests-failed.log" "$F/killed-run.log" "$F/failed-run.log" "$F/seed-run.log"
	assert_success
	assert_line --index 0 "4 runs"
	assert_line --regexp '^  run-20251020-143045-k8m3q2 +2025-10-20 14:30:45 +2m58s +passed +3 +3$'
	# (bats drops blank lines from $lines)
	assert_line --index 2 --regexp '^  run-20251020-143045-k8m3q2 '
	assert_line --index 3 --regexp '^  run-20251021-090000-abc123 .* failed \(exit 1\) +3 +0$'
	assert_line --index 4 --regexp '^  run-20251022-100000-tst003 .* failed \(exit 3\) +4 +0$'
	assert_line --index 5 --regexp '^  run-20251023-110000-kil004 .* incomplete +0 +1$'
	# lint took 12 s, 14.8 s, 15 s and 11 s: median 13.4 s, slowest 15 s.
	assert_line --regexp '^  lint +4 +13s +11s +15s  run-20251022-100000-tst003$'
	assert_line --regexp '^  env-check +4 +1\.1s +1\.0s +1\.5s  run-20251022-100000-tst003$'
}

@test "reads standard input when no file is given, and for -" {
	run ci-report < "$F/failed-run.log"
	assert_success
	assert_line --index 0 "Run run-20251021-090000-abc123: failed (exit 1) in 16s"
	run ci-report - < "$F/failed-run.log"
	assert_line --index 0 "Run run-20251021-090000-abc123: failed (exit 1) in 16s"
}

@test "no runs in the input is a report too" {
	: > empty.log
	run --separate-stderr ci-report empty.log
	assert_success
	assert_output "No runs found."
	run --separate-stderr ci-report --format json empty.log
	assert_success
	assert_output ""
}

# --- runs rebuilt ----------------------------------------------------------

@test "json: every line is valid against report-schema.json and the seed's fields are right" {
	json "$F"/*.log > report.ndjson
	validate report-schema.json report.ndjson
	assert_equal "$(wc -l < report.ndjson)" 9
	run jq -c "select(.run_id == \"$SEED\") | [.start_time, .end_time, .duration, .exit_code, .profile, .triggered_by, .complete, .result]" report.ndjson
	assert_output '[1760970645,1760970823,178,0,"dev","TUI",true,"passed"]'
	run jq -c "select(.run_id == \"$SEED\") | .steps_completed" report.ndjson
	assert_output '["init","env-check","lint","test-unit","test-integration","test-e2e","test","build","cleanup","complete"]'
}

@test "json: test executions are the seed's objects, grouped by suite with retries and flaky verdicts" {
	json "$F/seed-run.log" > report.ndjson
	run jq -c '.tests[] | [.test_type, .status, .attempts, .retries, .flaky, .fallback_to_serial]' report.ndjson
	assert_line --index 0 '["e2e","passed",2,1,true,false]'
	assert_line --index 1 '["integration","passed",2,1,true,true]'
	assert_line --index 2 '["unit","passed",1,0,false,false]'
	jq -c '.tests[].executions[]' report.ndjson > executions.ndjson
	assert_equal "$(wc -l < executions.ndjson)" 5
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines --def test_execution \
		"$REPO/contracts/log-schema.json" executions.ndjson
	assert_success
	# The same objects as the log's entries carry.
	jq -c 'select(.test_execution) | .test_execution' "$F/seed-run.log" | sort > logged
	sort executions.ndjson > reported
	run diff logged reported
	assert_success
}

@test "json: steps carry start, end, duration, exit code and completions" {
	json "$F/seed-run.log" > report.ndjson
	run jq -c '.steps[] | select(.name == "lint" or .name == "test-e2e")' report.ndjson
	assert_line --index 0 '{"name":"lint","status":"passed","start_ms":1760970646400,"end_ms":1760970658400,"duration_ms":12000,"exit_code":0,"completions":1}'
	assert_line --index 1 '{"name":"test-e2e","status":"passed","start_ms":1760970659000,"end_ms":1760970780000,"duration_ms":120000,"exit_code":0,"completions":2}'
}

@test "json: a failed step and its error with the source location" {
	json "$F/failed-run.log" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[.exit_code, .result, (.steps[] | select(.name == "lint") | [.status, .exit_code])]' report.ndjson
	assert_output '[1,"failed",["failed",1]]'
	run jq -r '.messages[] | "\(.level) \(.source_file):\(.line_number) (\(.function_name)) \(.file):\(.line)"' report.ndjson
	assert_line --index 0 "error scripts/lint.sh:57 (run_lint) $F/failed-run.log:5"
}

@test "json: a run killed midway is incomplete, with derived times and null exit code" {
	json "$F/killed-run.log" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[.complete, .result, .exit_code, .profile, .start_time, .end_time, .duration, .steps_completed]' report.ndjson
	assert_output '[false,"incomplete",null,"ui",1761217200,1761217230,30,["init","env-check","lint"]]'
	run jq -c '.steps[] | select(.name == "build") | [.status, .end_ms, .duration_ms]' report.ndjson
	assert_output '["unfinished",null,null]'
}

@test "json: a run with neither init nor complete is derived from its entries" {
	json "$F/events-only.log" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[.result, .profile, .triggered_by, .start_time, .duration, .error_count, .warning_count, .steps_completed]' report.ndjson
	assert_output '["incomplete",null,null,1761487200,9,1,1,[]]'
}

@test "interleaved runs in one file are told apart" {
	json "$F/interleaved.log" > report.ndjson
	run jq -c '[.run_id, .result, .entries, .steps_completed]' report.ndjson
	assert_line --index 0 '["run-20251024-120000-aaaaaa","passed",6,["init","lint","build","complete"]]'
	assert_line --index 1 '["run-20251024-120001-bbbbbb","failed",6,["init","lint","complete"]]'
	# Entries per run, counted by jq from the log itself.
	run jq -sc 'group_by(.run_id) | map(length)' "$F/interleaved.log"
	assert_output '[6,6]'
}

@test "a run spanning two files is one run, whichever file comes first" {
	json "$F/span-1.log" "$F/span-2.log" > a.ndjson
	json "$F/span-2.log" "$F/span-1.log" | jq -c 'del(.messages)' > b.ndjson
	assert_equal "$(wc -l < a.ndjson)" 1
	run jq -c '[.result, .entries, .duration, [.steps[].name]]' a.ndjson
	assert_output '["passed",6,12,["lint","build"]]'
	run diff <(jq -c 'del(.messages)' a.ndjson) b.ndjson
	assert_success
}

@test "a run's entries are counted whatever the size of the input (two cores, many blocks)" {
	/usr/bin/python3 "$F/gen-log.py" 4 30 > big.log
	json big.log > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '.entries' report.ndjson
	counted=$(jq -c '.run_id' big.log | sort | uniq -c | awk '{print $1}' | paste -sd' ')
	assert_equal "$(printf '%s\n' "${lines[@]}" | paste -sd' ')" "$counted"
	errors=$(jq -r 'select(.level == "error") | .run_id' big.log | sort | uniq -c | awk '{print $1}' | paste -sd' ')
	assert_equal "$(jq -r '.error_count' report.ndjson | paste -sd' ')" "$errors"
	run jq -c '[(.messages | length), (.messages_omitted + (.messages | length) == .error_count + .warning_count)]' report.ndjson
	assert_line --index 0 '[50,true]'
}

# --- filters ---------------------------------------------------------------

@test "--run reports one run; an id not in the input exits 2" {
	run --separate-stderr ci-report --run run-20251024-120001-bbbbbb "$F"/*.log
	assert_success
	assert_line --index 0 "Run run-20251024-120001-bbbbbb: failed (exit 1) in 18s"
	run --separate-stderr ci-report --run run-20200101-000000-zzzzzz "$F"/*.log
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "ci-report: --run: no run run-20200101-000000-zzzzzz in the input"
}

@test "--last reports the run that started last, whatever the order of files" {
	run ci-report --last "$F/events-only.log" "$F/seed-run.log"
	assert_line --index 0 "Run run-20251026-140000-evts07: incomplete (no complete entry) after 9.0s"
}

@test "--since keeps the runs that started at or after TIME, never half a run" {
	# A run that started before TIME but logged after it is left out whole.
	jq -c '.timestamp |= sub("2025-10-23T11:00:30"; "2025-10-24T00:00:30")' "$F/killed-run.log" > late.log
	json --since 2025-10-24 "$F"/*.log late.log > report.ndjson
	run jq -r .run_id report.ndjson
	assert_output "$(printf '%s\n' run-20251024-120000-aaaaaa run-20251024-120001-bbbbbb \
		run-20251025-130000-span05 run-20251026-140000-evts07 run-20251027-100000-bad008)"
	run jq -r .run_id < <(json --since 2025-10-26T14:00:00Z "$F"/*.log)
	assert_output "$(printf '%s\n' run-20251026-140000-evts07 run-20251027-100000-bad008)"
}

@test "--since takes an age: a run of now is kept, one of last year is not" {
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	id=$(ci-runid)
	jq -c --arg t "$now" --arg id "$id" '.timestamp = $t | .run_id = $id' "$F/events-only.log" > now.log
	run jq -r .run_id < <(json --since 30m now.log "$F/seed-run.log")
	assert_output "$id"
	run jq -r .run_id < <(json --since 1d now.log "$F/seed-run.log")
	assert_output "$id"
}

@test "--step reports one step, with the run's init and complete" {
	json --step test-e2e "$F/seed-run.log" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[[.steps[].name], [.tests[].test_type], ([.messages[].step_name] | unique), .complete]' report.ndjson
	assert_output '[["test-e2e"],["e2e"],["test-e2e"],true]'
}

@test "--level lists messages of that level and above" {
	run jq -c '[.messages[].level] | unique' < <(json --level error "$F/seed-run.log")
	assert_output '["error"]'
	run jq -c '[.messages[].level] | unique' < <(json "$F/seed-run.log")
	assert_output '["error","warn"]'
	run jq -c '.messages | length' < <(json --level info "$F/seed-run.log")
	assert_output "19"
	# Steps still come from the completion entries.
	run jq -c '[.steps[].status] | unique' < <(json --level error "$F/seed-run.log")
	assert_output '["passed"]'
}

# --- malformed lines -------------------------------------------------------

@test "--check flags every invalid log fixture of the contracts, with a reason" {
	for f in "$FIXTURES"/contracts/invalid/log-*.json; do
		jq -c . "$f" > line.ndjson
		run --separate-stderr ci-report --check line.ndjson
		assert_failure 1
		[[ $output =~ ^line\.ndjson:1:\ .+ ]] || fail "$f: $output"
	done
}

@test "--check accepts the valid log fixtures of the contracts and the tool's own fixtures" {
	for f in "$FIXTURES"/contracts/valid/log-*.json "$FIXTURES"/contracts/valid/seed-log-*.json; do
		jq -c . "$f"
	done > valid.ndjson
	assert_equal "$(wc -l < valid.ndjson)" 5
	run --separate-stderr ci-report --check valid.ndjson
	assert_success
	assert_output ""
	run ci-report --check "$F"/seed-run.log "$F"/failed-run.log "$F"/interleaved.log
	assert_success
}

@test "--check names the reason of each kind of malformed line" {
	run --separate-stderr ci-report --check "$F/malformed.log"
	assert_failure 1
	assert_equal "${#lines[@]}" 11
	M=$F/malformed.log
	assert_line --index 0 "$M:2: not JSON (syntax error at column 67)"
	assert_line --index 1 "$M:3: not JSON: a NUL byte at column 1"
	assert_line --index 2 "$M:4: not an object: an array"
	assert_line --index 3 "$M:5: not an object: \"just a string\""
	assert_line --index 4 "$M:6: line_number: \"7\" is not an integer"
	assert_line --index 5 "$M:7: unknown field \"severity\""
	assert_line --index 6 "$M:8: not valid UTF-8 (byte 0xE9 at column 70)"
	assert_line --index 7 "$M:9: not JSON: a raw control character (0x09) at column 68"
	assert_line --index 8 "$M:10: missing field \"timestamp\""
	assert_line --index 9 "$M:11: level: \"debug\" is not one of info, warn, error"
	assert_line --index 10 "$M:12: not JSON (syntax error at column 210)"
}

@test "--check agrees with python-jsonschema on hundreds of broken entries" {
	/usr/bin/python3 - "$FIXTURES/contracts/valid" > cases.ndjson <<'EOF'
import copy, json, sys
d = sys.argv[1]
bases = [json.load(open(d + "/" + n)) for n in
         ("log-with-run-start.json", "log-with-test-execution.json", "log-with-pipeline-run.json")]
values = [None, True, False, 0, 1, -1, 1.5, 256, 7, 1e20, "", "x", "info", "dev", "TUI", "passed",
          "run-20251020-143045-k8m3q2", "2025-10-20T14:30:45Z", "2025-02-31T23:59:60.5Z",
          "2025-10-20T24:00:00Z", "run-20251020-143060-k8m3q2", [], ["a"], [""], {}, "A", "a" * 33]
out = [json.dumps(b) for b in bases]
for b in bases:
    for path in [[k] for k in b] + [[k, j] for k in b if isinstance(b[k], dict) for j in b[k]]:
        c = copy.deepcopy(b); t = c
        for p in path[:-1]:
            t = t[p]
        del t[path[-1]]
        out.append(json.dumps(c))
        for v in values:
            c = copy.deepcopy(b); t = c
            for p in path[:-1]:
                t = t[p]
            t[path[-1]] = v
            out.append(json.dumps(c))
    for k in ("extra", "run_start", "test_execution", "pipeline_run", "continued", "exit_code"):
        for v in (True, {}, 3):
            c = copy.deepcopy(b); c[k] = v; out.append(json.dumps(c))
print("\n".join(out))
EOF
	[ "$(wc -l < cases.ndjson)" -gt 500 ]
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines "$REPO/contracts/log-schema.json" cases.ndjson |
		cut -d: -f2 | sort -un > python.bad
	ci-report --check cases.ndjson | cut -d: -f2 | sort -un > ours.bad
	[ "$(wc -l < python.bad)" -gt 400 ]
	run diff python.bad ours.bad
	assert_success
}

@test "malformed lines are counted and shown, and the rest is still reported" {
	run --separate-stderr ci-report "$F/malformed.log"
	assert_success
	assert_line --index 0 "Run run-20251027-100000-bad008: passed (exit 0) in 11s"
	assert_line "11 malformed lines (not valid log entries; skipped):"
	assert_line "  $F/malformed.log:2: not JSON (syntax error at column 67)"
	assert_line "  ... and 6 more"
	assert_equal "$stderr" ""
}

@test "json and junit keep stdout machine-readable: malformed lines go to stderr" {
	run --separate-stderr ci-report --format json "$F/malformed.log"
	assert_success
	printf '%s\n' "$output" > report.ndjson
	validate report-schema.json report.ndjson
	[[ $stderr == *"ci-report: 11 malformed lines (not valid log entries; skipped)"* ]]
	[[ $stderr == *"ci-report: $F/malformed.log:3: not JSON: a NUL byte at column 1"* ]]
	run --separate-stderr ci-report --format junit "$F/malformed.log"
	assert_success
	printf '%s\n' "$output" > report.xml
	xmllint --noout report.xml
	[[ $stderr == *"11 malformed lines"* ]]
}

@test "a 10 MB line is reported as too long; lines after it keep their numbers" {
	{
		head -n 3 "$F/seed-run.log"
		/usr/bin/python3 -c 'import sys; sys.stdout.write("{\"message\":\"" + "x" * 10485760 + "\"}\n")'
		echo 'not json'
		tail -n +4 "$F/seed-run.log"
	} > long.log
	run --separate-stderr ci-report --check long.log
	assert_failure 1
	assert_line --index 0 "long.log:4: longer than 8 MiB (10485774 bytes)"
	assert_line --index 1 "long.log:5: not JSON (syntax error at column 1)"
	run --separate-stderr ci-report long.log
	assert_success
	assert_line --index 0 "Run $SEED: passed (exit 0) in 2m58s"
	assert_line "2 malformed lines (not valid log entries; skipped):"
}

@test "a 5 MB entry is read whole, and a last line without newline counts" {
	head -n 1 "$F/failed-run.log" | jq -c '.message = ("y" * 5000000)' > big-entry.log
	tail -n +2 "$F/failed-run.log" | head -c -1 >> big-entry.log
	run --separate-stderr ci-report --check big-entry.log
	assert_success
	run jq -c '[.entries, .result]' < <(json big-entry.log)
	assert_output '[7,"failed"]'
	printf '\n{"timestamp":"2025-' >> big-entry.log
	run ci-report --check big-entry.log
	assert_failure 1
	assert_output "big-entry.log:8: not JSON (syntax error at column 15)"
}

@test "CRLF line ends and blank lines are accepted" {
	sed 's/$/\r/' "$F/failed-run.log" > crlf.log
	printf '\n   \n' >> crlf.log
	run ci-report --check crlf.log
	assert_success
	run jq -c .result < <(json crlf.log)
	assert_output '"failed"'
}

# --- markdown --------------------------------------------------------------

@test "markdown: result line, steps table, test attempts and errors as file:line" {
	run --separate-stderr ci-report --format markdown "$F/seed-run.log"
	assert_success
	assert_line --index 0 "## ✅ $SEED passed (exit 0) in 2m58s"
	assert_line "| Step | Status | Duration | Exit code |"
	assert_line "| lint | ✅ passed | 12s | 0 |"
	assert_line "| e2e | 1 | ❌ failed | 3 | 1m00s | parallel |"
	assert_line "| e2e | 2 | ✅ passed (flaky) | 0 | 1m00s | parallel |"
	assert_line "| integration | 2 | ✅ passed (flaky) | 0 | 55s | serial (fallback) |"
	assert_line '- ❌ `tests/e2e/checkout.spec.ts:88` (checkout flow) **test-e2e**: checkout flow timed out after 30 s'
}

@test "markdown: a Mermaid gantt with dateFormat x and task names without ':'" {
	# A step name with characters Mermaid would misread.
	sed 's/"step_name":"lint"/"step_name":"lint: style; #1"/' "$F/seed-run.log" > odd.log
	ci-report --format markdown odd.log > summary.md
	run awk '/^```mermaid$/{on=1; next} /^```$/{on=0} on' summary.md
	assert_line --index 0 "gantt"
	assert_line "    dateFormat x"
	assert_line "    lint_ style_ _1 :done, 1760970646400, 1760970658400"
	assert_line "    e2e attempt 1 :crit, 1760970659000, 1760970719000"
	# Every task: a name without ':', then tags and two epoch-ms times.
	tasks=$(printf '%s\n' "${lines[@]}" | grep -E '^    [^ ].* :' | grep -cvE '^    [^:]+ :(done|crit|active), [0-9]{13}, [0-9]{13}$' || true)
	assert_equal "$tasks" 0
}

@test "markdown: locations link to the commit's file in a GitHub Actions job" {
	GITHUB_SERVER_URL=https://github.com GITHUB_REPOSITORY=acme/shop GITHUB_SHA=0123abc \
		run ci-report --format markdown "$F/failed-run.log"
	assert_line --partial '[scripts/lint.sh:57](https://github.com/acme/shop/blob/0123abc/scripts/lint.sh#L57)'
}

@test "markdown: a huge report stays under GitHub's 1 MiB with a note, fences intact" {
	# 300 runs of 60 errors each: about 3 MB of Markdown before the cut.
	/usr/bin/python3 - > many.log <<'EOF'
import json
for r in range(300):
    rid = "run-20251101-%02d%02d00-%06d" % (r // 60, r % 60, r)
    for k in range(60):
        print(json.dumps({"timestamp": "2025-11-01T%02d:%02d:%02d.000Z" % (r // 60, r % 60, k),
                          "level": "error", "message": "check %d failed: expected 200, got 503" % k,
                          "run_id": rid, "source_file": "scripts/smoke.sh", "line_number": k + 1,
                          "function_name": "smoke_test", "step_name": "smoke"}))
EOF
	ci-report --format markdown many.log > summary.md
	size=$(wc -c < summary.md)
	[ "$size" -le 1048576 ]
	[ "$size" -gt 900000 ]
	run grep -c '^```' summary.md
	[ $((output % 2)) -eq 0 ]
	run tail -n 1 summary.md
	assert_output --regexp "^> ✂️ \*\*Truncated\*\*: [0-9]+ more items left out to stay under GitHub's 1 MiB step summary limit"
	run head -n 1 summary.md
	assert_output "## ⚠️ 300 runs: 0 passed, 0 failed, 300 incomplete"
}

@test "markdown: several runs start with the runs table and the step statistics" {
	run ci-report --format markdown "$F/seed-run.log" "$F/failed-run.log" "$F/killed-run.log"
	assert_line --index 0 "## ❌ 3 runs: 1 passed, 1 failed, 1 incomplete"
	assert_line "| run-20251021-090000-abc123 | 2025-10-21 09:00:00 | 16s | ❌ failed (exit 1) | 3 | 0 |"
	assert_line "| lint | 3 | 12s | 11s | 14s | run-20251021-090000-abc123 |"
	assert_line "### ⚠️ run-20251023-110000-kil004 incomplete: no complete entry, seen for 30s"
}

@test "markdown: malformed lines are noted in the summary" {
	run --separate-stderr ci-report --format markdown "$F/malformed.log"
	assert_success
	assert_line "> ⚠️ **11 malformed lines** in the input (not valid log entries; skipped):"
	assert_line "> - \`$F/malformed.log:2\`: not JSON (syntax error at column 67)"
}

# --- junit -----------------------------------------------------------------

@test "junit: one testsuite per test type, every attempt a testcase, flaky marked" {
	run --separate-stderr ci-report --format junit "$F/seed-run.log" "$F/tests-failed.log"
	assert_success
	printf '%s\n' "$output" > junit.xml
	xmllint --noout junit.xml
	run /usr/bin/python3 - junit.xml <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites"
for s in root.findall("testsuite"):
    props = {p.get("name"): p.get("value") for p in s.find("properties")}
    cases = s.findall("testcase")
    assert int(s.get("tests")) == len(cases)
    assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
    print(props["run_id"][-6:], s.get("name"), s.get("tests"), s.get("failures"), props["flaky"],
          props["fallback_to_serial"],
          " ".join("%s:%s" % (c.get("name").split()[-1],
                              "flaky" if c.find("flakyFailure") is not None else
                              "failure" if c.find("failure") is not None else "ok") for c in cases))
print(root.get("tests"), root.get("failures"))
EOF
	assert_success
	assert_line --index 0 "k8m3q2 e2e 2 0 true false 1:flaky 2:ok"
	assert_line --index 1 "k8m3q2 integration 2 0 true true 1:flaky 2:ok"
	assert_line --index 2 "k8m3q2 unit 1 0 false false 1:ok"
	assert_line --index 3 "tst003 e2e 2 2 false false 1:failure 2:failure"
	assert_line --index 4 "tst003 unit 1 0 false false 1:ok"
	assert_line --index 5 "8 2"
}

@test "junit: a failure carries the suite's messages logged during the attempt" {
	ci-report --format junit "$F/seed-run.log" > junit.xml
	run /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
for c in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    f = c.find("flakyFailure")
    if f is not None:
        print(c.get("name"), "|", f.get("message"), "|", f.text.splitlines()[0])' junit.xml
	assert_line --index 0 "e2e attempt 1 | attempt 1 failed: 3 failures; passed on a later attempt | tests/e2e/checkout.spec.ts:88 (checkout flow): checkout flow timed out after 30 s"
}

@test "junit: markup in messages is escaped" {
	jq -c 'if .level == "error" then .message = "<b>&\"quote\"</b>\u0001" else . end' "$F/tests-failed.log" > markup.log
	ci-report --format junit markup.log > junit.xml
	xmllint --noout junit.xml
	run /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
print([f.text for f in ET.parse(sys.argv[1]).getroot().iter("failure")][0].splitlines()[0])' junit.xml
	assert_output 'tools/ci-testpar.c:310 (report_attempt): <b>&"quote"</b>?'
}

# --- logs of the real tools ------------------------------------------------

@test "reports a log written by ci-log" {
	command -v ci-log > /dev/null || skip "ci-log is not built"
	new_run
	ci-log -s build "compiling" || skip "ci-log does not take -s here"
	ci-log -l error -s build "compile failed" || true
	run ci-report --check "$CI_LOG_FILE"
	assert_success
	json "$CI_LOG_FILE" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[.run_id == env.CI_RUN_ID, .result]' report.ndjson
	assert_output '[true,"incomplete"]'
}

@test "reports a run written by ci-step and ci-testpar, a flaky suite included" {
	command -v ci-step > /dev/null || skip "ci-step is not built"
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	new_run
	ci-step init --profile dev --trigger CLI || skip "ci-step init failed"
	ci-step lint -- true
	ci-testpar --retries 1 unit='exit 0' e2e='test -e flag || { touch flag; exit 1; }' > /dev/null 2>&1
	ci-step complete --exit-code 0 > /dev/null
	run ci-report --check "$CI_LOG_FILE"
	assert_success
	json "$CI_LOG_FILE" > report.ndjson
	validate report-schema.json report.ndjson
	run jq -c '[.result, .profile, .steps_completed[0], .steps_completed[-1], (.tests[] | select(.test_type == "e2e") | [.attempts, .flaky])]' report.ndjson
	assert_output '["passed","dev","init","complete",[2,true]]'
	run ci-report --format junit "$CI_LOG_FILE"
	assert_success
	printf '%s\n' "$output" | xmllint --noout -
}

# --- memory ----------------------------------------------------------------

@test "peak memory does not grow with the input: 20 MB and 200 MB of log" {
	if ldd "$(command -v ci-report)" | grep -q libasan; then
		skip "a sanitizer build's memory is not the tool's"
	fi
	/usr/bin/python3 "$F/gen-log.py" 10 20 > small.log
	/usr/bin/python3 "$F/gen-log.py" 10 200 > large.log
	[ "$(wc -c < large.log)" -gt 190000000 ]
	/usr/bin/time -f %M -o small.kb ci-report small.log > /dev/null
	/usr/bin/time -f %M -o large.kb ci-report large.log > /dev/null
	small=$(tail -n 1 small.kb) large=$(tail -n 1 large.kb)
	echo "peak RSS: $small KiB for 20 MB, $large KiB for 200 MB"
	[ "$large" -lt $((small + 4096)) ]
	[ "$large" -lt 32768 ]
	rm -f small.log large.log
}

# --- the command line ------------------------------------------------------

@test "-h and --help print the usage on stdout and exit 0" {
	run --separate-stderr ci-report -h
	assert_success
	assert_line --index 0 "usage: ci-report [--format FORMAT] [--run ID | --last] [--level LEVEL] [--step NAME] [--since TIME] [FILE ...]"
	assert_line --index 1 "       ci-report --follow [--run ID] [--output DIR] [FILE ...]"
	assert_line --index 2 "       ci-report --check [FILE ...]"
	assert_equal "$stderr" ""
	run ci-report --help
	assert_success
}

@test "--version prints the name and version" {
	run ci-report --version
	assert_success
	[[ $output =~ ^ci-report\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "exits 2 and names the option on an unknown option or a missing argument" {
	run --separate-stderr ci-report --bogus
	assert_failure 2
	assert_equal "$stderr" "ci-report: --bogus: unknown option (see 'ci-report --help')"
	run --separate-stderr ci-report --format
	assert_failure 2
	assert_equal "$stderr" "ci-report: --format: missing argument (see 'ci-report --help')"
}

@test "exits 2 on a bad --format, --level, --run, --since or --step" {
	run --separate-stderr ci-report --format yaml
	assert_failure 2
	assert_equal "$stderr" "ci-report: --format: \"yaml\" is not text, json, markdown or junit (see 'ci-report --help')"
	run --separate-stderr ci-report --level debug
	assert_failure 2
	assert_equal "$stderr" "ci-report: --level: \"debug\" is not info, warn or error (see 'ci-report --help')"
	run --separate-stderr ci-report --run run-2025
	assert_failure 2
	assert_equal "$stderr" "ci-report: --run: \"run-2025\" is not of the form run-YYYYMMDD-HHMMSS-xxxxxx (see 'ci-report --help')"
	run --separate-stderr ci-report --since yesterday
	assert_failure 2
	[[ $stderr == "ci-report: --since: \"yesterday\" is not a UTC time (2025-10-20T14:30:45Z), a date (2025-10-20) or an age (30m, 12h, 7d) (see 'ci-report --help')" ]]
	run --separate-stderr ci-report --since 2025-13-01
	assert_failure 2
	run --separate-stderr ci-report --step ""
	assert_failure 2
	assert_equal "$stderr" "ci-report: --step: the name is empty (see 'ci-report --help')"
}

@test "exits 2 on conflicting options" {
	run --separate-stderr ci-report --run "$SEED" --last
	assert_failure 2
	assert_equal "$stderr" "ci-report: --run and --last cannot be combined (see 'ci-report --help')"
	run --separate-stderr ci-report --check --format json
	assert_failure 2
	assert_equal "$stderr" "ci-report: --check reads every line: it takes no --format and no filter (see 'ci-report --help')"
}

@test "an unreadable file exits 2 and the readable ones are still reported" {
	run --separate-stderr ci-report missing.log "$F/failed-run.log" .
	assert_failure 2
	assert_line --index 0 "Run run-20251021-090000-abc123: failed (exit 1) in 16s"
	assert_equal "$stderr" "ci-report: cannot read missing.log: No such file or directory
ci-report: cannot read .: Is a directory"
	run --separate-stderr ci-report --check missing.log "$F/failed-run.log"
	assert_failure 2
}

@test "a closed stdout ends it quietly" {
	/usr/bin/python3 "$F/gen-log.py" 300 3 > many.log
	run --separate-stderr bash -c "set -o pipefail; ci-report --format json many.log | head -n 1"
	assert_success
	assert_equal "$stderr" ""
	[[ $output == '{"run_id":"run-'* ]]
}

@test "a failing stdout is reported and exits non-zero" {
	run --separate-stderr bash -c "ci-report '$F/seed-run.log' > /dev/full"
	assert_failure 1
	assert_equal "$stderr" "ci-report: standard output: No space left on device"
	run --separate-stderr bash -c "ci-report --format json '$F/seed-run.log' > /dev/full"
	assert_failure 1
	assert_equal "$stderr" "ci-report: standard output: No space left on device"
}

# --- the reports, byte for byte --------------------------------------------

@test "every format's report on the fixtures stays byte-identical to the golden files" {
	G=$F/golden
	run "$G/update.sh" "$BATS_TEST_TMPDIR/got"
	assert_success
	run diff -r -x cases -x update.sh "$G" "$BATS_TEST_TMPDIR/got"
	assert_success
	for f in "$BATS_TEST_TMPDIR"/got/*.json; do
		[ -s "$f" ] || continue
		validate report-schema.json "$f"
	done
}

@test "text: a skipped test attempt is drawn as skipped, in yellow, not as a passed bar" {
	run -0 script -qec "env -u NO_COLOR TERM=xterm ci-report '$F/skipped-attempt.ndjson'" /dev/null
	line=$(printf '%s\n' "$output" | tr -d '\r' | grep -F '    e2e #2 ')
	[[ $line == *$'\033[33m'......................$'\033[0m|' ]]
	[[ $line != *=* ]]
	run -0 ci-report "$F/skipped-attempt.ndjson"
	assert_line --partial 'e2e #2                 skipped'
	run -0 ci-report --format markdown "$F/skipped-attempt.ndjson"
	assert_line '| e2e | 2 | ⚠️ skipped | 0 | 59s | parallel |'
}
