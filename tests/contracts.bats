#!/usr/bin/env bats
# The data contracts: the seed's examples validate, broken documents do not,
# checked by Debian's python3-jsonschema rather than by our own code.
load helpers/common

F=$FIXTURES/contracts

@test "both schemas are valid JSON Schema 2020-12" {
	run /usr/bin/python3 -c '
import json, sys, jsonschema
for p in sys.argv[1:]:
    s = json.load(open(p))
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema", p
    jsonschema.Draft202012Validator.check_schema(s)
print("ok")' "$REPO/contracts/log-schema.json" "$REPO/contracts/deployment-state-schema.json"
	assert_success
	assert_output ok
}

@test "the seed's log entry examples validate against log-schema.json" {
	run validate_doc log-schema.json "$F"/valid/seed-log-info.json "$F"/valid/seed-log-error.json
	assert_success
}

@test "entries embedding a test execution, a run start and a pipeline run validate" {
	run validate_doc log-schema.json "$F"/valid/log-with-*.json
	assert_success
}

@test "the seed's pipeline run example validates against the pipeline_run definition" {
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --def pipeline_run \
		"$REPO/contracts/log-schema.json" "$F"/valid/seed-pipeline-run.json
	assert_success
}

@test "the seed's three test execution examples validate against the test_execution definition" {
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --def test_execution \
		"$REPO/contracts/log-schema.json" "$F"/valid/seed-test-*.json
	assert_success
}

@test "the seed's deployment records and state file validate" {
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --def deployment \
		"$REPO/contracts/deployment-state-schema.json" \
		"$F"/valid/seed-deployment-success.json "$F"/valid/seed-deployment-failure.json
	assert_success
	run validate_doc deployment-state-schema.json "$F"/valid/seed-deployment-state.json
	assert_success
}

@test "every invalid log entry fixture is rejected" {
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --invalid \
		"$REPO/contracts/log-schema.json" "$F"/invalid/log-*.json
	assert_success
	refute_output --partial "should be rejected"
}

@test "every invalid state file fixture is rejected" {
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --invalid \
		"$REPO/contracts/deployment-state-schema.json" "$F"/invalid/state-*.json
	assert_success
}

@test "each invalid fixture is rejected for the reason its name gives" {
	# A fixture broken in two ways would hide a schema that misses one.
	check() {
		run /usr/bin/python3 "$REPO/tests/helpers/validate.py" \
			"$REPO/contracts/$1" "$F/invalid/$2"
		assert_failure
		assert_output --partial "$3"
		assert_equal "$(printf '%s\n' "$output" | wc -l)" 1
	}
	check log-schema.json log-level-debug.json "level: 'debug' is not one of"
	check log-schema.json log-missing-run-id.json "'run_id' is a required property"
	check log-schema.json log-run-id-malformed.json "run_id: 'run-2025-10-20-k8m3q2' does not match"
	check log-schema.json log-line-number-zero.json "line_number: 0 is less than the minimum of 1"
	check log-schema.json log-test-passed-with-failures.json "test_execution/failure_count"
	check log-schema.json log-pipeline-exit-code-7.json "pipeline_run/exit_code: 7"
	check log-schema.json log-test-shard-zero.json "test_execution/shard/index: 0 is less than the minimum of 1"
	check deployment-state-schema.json state-commit-sha-39.json "commit_sha: '5c04b60a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6' does not match"
	check deployment-state-schema.json state-history-11.json "is too long"
	check deployment-state-schema.json state-error-message-on-success.json "currentDeployment"
}

@test "the validator itself rejects what is not JSON" {
	printf '{"level": "info",\n' > broken.json
	run validate_doc log-schema.json broken.json
	assert_failure
	assert_output --partial "not JSON"
}

@test "exit-codes.md lists the six codes of the contract" {
	for code in 0 1 2 3 4 5; do
		run grep -E "^\| $code \| " "$REPO/contracts/exit-codes.md"
		assert_success
	done
}

@test "lnav reads a log the tools wrote with contracts/lnav-ci-tools.json: every entry, its level, step and place" {
	command -v lnav >/dev/null || skip "lnav is not installed (Debian package lnav)"
	new_run
	ci-log -s build "plain"
	ci-log -l warn -s lint --source src/a.c --line 7 'quotes " and \ and ünïcode'
	ci-log -l error -s test-unit $'two\nlines'
	ci-step build -- sh -c 'echo to stdout; echo to stderr >&2; exit 3' || true
	printf 'one\ntwo\n' | ci-log -s deploy
	mkdir -p cfg/formats/ci-tools
	cp "$REPO/contracts/lnav-ci-tools.json" cfg/formats/ci-tools/
	# lnav calls the warn level "warning"; everything else is as written.
	TERM=dumb lnav -I cfg -n \
		-c ';SELECT log_level AS level, step_name, source_file, line_number, log_body AS message FROM ci_tools_log ORDER BY log_line' \
		-c ':write-json-to -' "$CI_LOG_FILE" |
		jq -c '.[] | [(if .level == "warning" then "warn" else .level end), .step_name, .source_file, .line_number, .message]' >lnav.out
	jq -c '[.level, .step_name, .source_file, .line_number, .message]' "$CI_LOG_FILE" >jq.out
	assert_equal "$(wc -l <jq.out)" 7
	run diff jq.out lnav.out
	assert_success
}
