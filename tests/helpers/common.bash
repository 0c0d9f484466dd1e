# Loaded by every test file: the tools under test first on PATH, a private
# HOME and TMPDIR, bats-assert, and an independent JSON Schema validator.
bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
CI_BUILD=${CI_BUILD:-$REPO/build}
FIXTURES=$REPO/tests/fixtures
PATH=$CI_BUILD:$PATH
export REPO CI_BUILD FIXTURES PATH

common_setup() {
	export HOME=$BATS_TEST_TMPDIR TMPDIR=$BATS_TEST_TMPDIR
	# Nothing of the caller's run, job, colour choice or locale: a test that
	# needs one sets it (terminal tests set TERM; C.UTF-8 is in Debian's
	# libc-bin).
	unset CI_RUN_ID CI_LOG_FILE CI_LOG_DIR CI_STEP GITHUB_ACTIONS NO_COLOR
	unset GITHUB_SERVER_URL GITHUB_REPOSITORY GITHUB_SHA GITHUB_TOKEN GIT_TOKEN
	export LC_ALL=C.UTF-8
	cd "$BATS_TEST_TMPDIR" || return 1
}
setup() { common_setup; }

# validate SCHEMA FILE...: every line of each NDJSON file against
# contracts/SCHEMA, with Debian's python3-jsonschema (not our code).
validate() {
	local schema=$1; shift
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" --lines \
		"$REPO/contracts/$schema" "$@"
}

# validate_doc SCHEMA FILE...: each file is one JSON document.
validate_doc() {
	local schema=$1; shift
	/usr/bin/python3 "$REPO/tests/helpers/validate.py" \
		"$REPO/contracts/$schema" "$@"
}

# A run id and log file in the test's directory.
new_run() {
	CI_RUN_ID=$(ci-runid) || return 1
	CI_LOG_FILE=$BATS_TEST_TMPDIR/logs/ci.log
	export CI_RUN_ID CI_LOG_FILE
}
