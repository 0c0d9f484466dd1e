#!/usr/bin/env bats
# ci-runid: minting, checking and exporting the run's correlation id.
load helpers/common

ID_RE='^run-[0-9]{8}-[0-9]{6}-[a-z0-9]{6}$'

@test "prints one id of the form run-YYYYMMDD-HHMMSS-xxxxxx for the current UTC time" {
	before=$(date -u +%s)
	run --separate-stderr ci-runid
	after=$(date -u +%s)
	assert_success
	[[ $output =~ $ID_RE ]]
	stamp=${output:4:15}
	t=$(date -u -d "${stamp:0:8} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}" +%s)
	[ "$t" -ge "$before" ]
	[ "$t" -le "$after" ]
}

@test "the id matches the run_id pattern of log-schema.json" {
	ci-runid -n 50 > ids
	run /usr/bin/python3 -c '
import json, re, sys
pat = json.load(open(sys.argv[1]))["$defs"]["run_id"]["pattern"]
ids = open(sys.argv[2]).read().split()
bad = [i for i in ids if not re.search(pat, i)]
print(len(ids), "ids,", len(bad), "bad")' "$REPO/contracts/log-schema.json" ids
	assert_output "50 ids, 0 bad"
}

@test "--time fixes the clock" {
	run ci-runid --time 1729433445
	assert_success
	[[ $output =~ ^run-20241020-141045-[a-z0-9]{6}$ ]]
	run ci-runid --time 0
	[[ $output =~ ^run-19700101-000000-[a-z0-9]{6}$ ]]
}

@test "--env prints CI_RUN_ID and CI_LOG_FILE of the same UTC second, whatever TZ says" {
	TZ=Asia/Tokyo run --separate-stderr ci-runid --env --time 1729433445
	assert_success
	assert_equal "${#lines[@]}" 3
	[[ ${lines[0]} =~ ^"export CI_RUN_ID="run-20241020-141045-[a-z0-9]{6}$ ]]
	assert_equal "${lines[1]}" "export CI_LOG_FILE=logs/ci-20241020_141045.log"
	[[ ${lines[2]} =~ ^"export TRACEPARENT="00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]]
}

@test "--env prints the TRACEPARENT of the run's root span, the same for the same run id" {
	eval "$(ci-runid --env)"
	[[ $TRACEPARENT =~ ^00-([0-9a-f]{32})-([0-9a-f]{16})-01$ ]]
	[[ ${BASH_REMATCH[1]} != 00000000000000000000000000000000 ]]
	[[ ${BASH_REMATCH[2]} != 0000000000000000 ]]
	local first=$CI_RUN_ID tp=$TRACEPARENT
	eval "$(ci-runid --env)"
	# Another run: another trace. The ids are derived from the run id,
	# which ci-report --format otlp reads back (tests/ci-report.bats).
	[[ $CI_RUN_ID == "$first" || $TRACEPARENT != "$tp" ]]
	[[ ${TRACEPARENT:3:32} != "${tp:3:32}" ]]
}

@test "--env takes the log directory from CI_LOG_DIR" {
	CI_LOG_DIR=/var/log/ci/ run ci-runid --env --time 0
	assert_line --index 1 "export CI_LOG_FILE=/var/log/ci/ci-19700101_000000.log"
}

@test "eval of --env exports CI_RUN_ID and CI_LOG_FILE to the commands a script runs" {
	eval "$(ci-runid --env)"
	run ci-runid --check "$CI_RUN_ID"
	assert_success
	run bash -c 'printf "%s\n" "$CI_RUN_ID" "$CI_LOG_FILE"'
	assert_line --index 0 "$CI_RUN_ID"
	[[ ${lines[1]} =~ ^logs/ci-[0-9]{8}_[0-9]{6}\.log$ ]]
}

@test "--env quotes a log directory with a space, a quote and a dollar sign so that eval keeps it whole" {
	CI_LOG_DIR="my logs" run ci-runid --env --time 0
	assert_line --index 1 "export CI_LOG_FILE='my logs/ci-19700101_000000.log'"
	eval "$(CI_LOG_DIR="it's \$HOME here" ci-runid --env --time 0)"
	assert_equal "$CI_LOG_FILE" "it's \$HOME here/ci-19700101_000000.log"
	# ci-log then writes into that directory, not into a file named by a piece of it
	mkdir "it's \$HOME here"
	run ci-log -q "into the right file"
	assert_success
	run jq -r .message "it's \$HOME here/ci-19700101_000000.log"
	assert_output "into the right file"
	run ls
	assert_output "it's \$HOME here"
}

# What GitHub's runner does with a line of GITHUB_ENV: NAME=value taken
# literally, or NAME<<DELIM, the value's lines, DELIM.
github_env() {
	local line name delim value
	while IFS= read -r line; do
		if [[ $line == *"<<"* && $line != *=* ]]; then
			name=${line%%<<*} delim=${line#*<<} value=
			while IFS= read -r line && [ "$line" != "$delim" ]; do
				value+=${value:+$'\n'}$line
			done
		else
			name=${line%%=*} value=${line#*=}
		fi
		printf '%s=[%s]\n' "$name" "$value"
	done
}

@test "--env --format github writes GITHUB_ENV lines that keep a space, a quote and a dollar sign literally" {
	CI_LOG_DIR="it's \$HOME here" ci-runid --env --format github --time 0 >>env
	run github_env <env
	[[ ${lines[0]} =~ ^CI_RUN_ID=\[run-19700101-000000-[a-z0-9]{6}\]$ ]]
	assert_line --index 1 "CI_LOG_FILE=[it's \$HOME here/ci-19700101_000000.log]"
	[[ ${lines[2]} =~ ^TRACEPARENT=\[00-[0-9a-f]{32}-[0-9a-f]{16}-01\]$ ]]
	assert_equal "${#lines[@]}" 3
}

@test "--env --format github gives a value with a line break the delimited form" {
	CI_LOG_DIR=$'two\nlines' ci-runid --env --format github --time 0 >env
	run grep -c '^CI_LOG_FILE<<' env
	assert_output 1
	run github_env <env
	assert_line --index 1 "CI_LOG_FILE=[two"
	assert_line --index 2 "lines/ci-19700101_000000.log]"
}

@test "--format is refused without --env, and names the formats when unknown" {
	run --separate-stderr ci-runid --format github
	assert_failure 2
	assert_equal "$stderr" "ci-runid: --format is the format of --env: give --env (see 'ci-runid --help')"
	run --separate-stderr ci-runid --env --format yaml
	assert_failure 2
	assert_equal "$stderr" "ci-runid: --format: \"yaml\" is not shell or github (see 'ci-runid --help')"
}

@test "--check accepts a well-formed id silently" {
	run --separate-stderr ci-runid --check run-20251020-143045-k8m3q2
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "--check accepts what ci-runid mints" {
	run ci-runid --check "$(ci-runid)"
	assert_success
}

@test "--check exits 1 and says what is wrong with a malformed id" {
	check_bad() {
		run --separate-stderr ci-runid --check "$1"
		assert_failure 1
		assert_output ""
		assert_equal "$stderr" "ci-runid: \"$1\" $2"
	}
	check_bad "" 'does not start with "run-"'
	check_bad "build-20251020-143045-k8m3q2" 'does not start with "run-"'
	check_bad "run-20251020-143045-k8m3q" "is not of the form run-YYYYMMDD-HHMMSS-xxxxxx"
	check_bad "run-20251020-143045-k8m3q2x" "is not of the form run-YYYYMMDD-HHMMSS-xxxxxx"
	check_bad "run-2025102-0143045-k8m3q2" "is not of the form run-YYYYMMDD-HHMMSS-xxxxxx"
	check_bad "run-20251320-143045-k8m3q2" 'has no valid date YYYYMMDD after "run-"'
	check_bad "run-20250229-143045-k8m3q2" 'has no valid date YYYYMMDD after "run-"'
	check_bad "run-20251020-243045-k8m3q2" "has no valid time HHMMSS after the date"
	check_bad "run-20251020-143060-k8m3q2" "has no valid time HHMMSS after the date"
	check_bad "run-20251020-143045-K8M3Q2" "does not end in 6 characters from a-z and 0-9"
	check_bad "run-20251020-143045-k8m3q_" "does not end in 6 characters from a-z and 0-9"
}

@test "--check accepts the 29th of February of a leap year" {
	run ci-runid --check run-20240229-000000-aaaaaa
	assert_success
}

@test "1,000 ids minted by separate processes in the same second are all distinct" {
	for i in $(seq 1000); do ci-runid --time 1729433445; done > ids
	assert_equal "$(wc -l < ids)" 1000
	assert_equal "$(sort -u ids | wc -l)" 1000
}

@test "100,000 suffixes use each character at each position uniformly (within 5 sd)" {
	ci-runid -n 100000 > ids
	assert_equal "$(wc -l < ids)" 100000
	run awk '
	{ s = substr($0, 21, 6); for (p = 1; p <= 6; p++) n[p, substr(s, p, 1)]++ }
	END {
		split("abcdefghijklmnopqrstuvwxyz0123456789", cs, "")
		e = NR / 36; sd = sqrt(NR * (1 / 36) * (35 / 36)); bad = 0
		for (p = 1; p <= 6; p++) for (i = 1; i <= 36; i++) {
			d = n[p, cs[i]] - e; if (d < 0) d = -d
			if (d > 5 * sd) { bad++; print "position", p, cs[i], n[p, cs[i]] }
		}
		print bad, "cells off"
	}' ids
	assert_output "0 cells off"
}

@test "-h and --help print the usage on stdout and exit 0" {
	run --separate-stderr ci-runid -h
	assert_success
	assert_line --index 0 "usage: ci-runid [--time EPOCH] [--env [--format shell | github] | -n COUNT]"
	assert_equal "$stderr" ""
	run ci-runid --help
	assert_success
	assert_line --index 1 "       ci-runid --check ID"
}

@test "--version prints the name and version" {
	run ci-runid --version
	assert_success
	[[ $output =~ ^ci-runid\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "exits 2 and names the option on an unknown option" {
	run --separate-stderr ci-runid --bogus
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "ci-runid: --bogus: unknown option (see 'ci-runid --help')"
	run --separate-stderr ci-runid -x
	assert_failure 2
	assert_equal "$stderr" "ci-runid: -x: unknown option (see 'ci-runid --help')"
}

@test "exits 2 and names the option whose argument is missing" {
	run --separate-stderr ci-runid --check
	assert_failure 2
	assert_equal "$stderr" "ci-runid: --check: missing argument (see 'ci-runid --help')"
	run --separate-stderr ci-runid -n
	assert_failure 2
	assert_equal "$stderr" "ci-runid: -n: missing argument (see 'ci-runid --help')"
}

@test "exits 2 on a --time or --count that is not a number in range" {
	run --separate-stderr ci-runid --time yesterday
	assert_failure 2
	assert_equal "$stderr" "ci-runid: --time: \"yesterday\" is not a number (expected a whole number from 0 to 253402300799) (see 'ci-runid --help')"
	run --separate-stderr ci-runid --time -5
	assert_failure 2
	assert_equal "$stderr" "ci-runid: --time: \"-5\" is out of range (expected a whole number from 0 to 253402300799) (see 'ci-runid --help')"
	run --separate-stderr ci-runid -n 0
	assert_failure 2
	[[ $stderr == *'-count: "0" is out of range'* ]]
}

@test "exits 2 on an unexpected argument and on conflicting options" {
	run --separate-stderr ci-runid extra
	assert_failure 2
	assert_equal "$stderr" "ci-runid: unexpected argument \"extra\" (see 'ci-runid --help')"
	run --separate-stderr ci-runid --env -n 2
	assert_failure 2
	[[ $stderr == *"cannot be combined with --count"* ]]
	run --separate-stderr ci-runid --check run-20251020-143045-k8m3q2 --env
	assert_failure 2
}

@test "a closed stdout ends it quietly" {
	run --separate-stderr bash -c 'set -o pipefail; ci-runid -n 1000000 | head -n 1'
	assert_success
	[[ $output =~ $ID_RE ]]
	assert_equal "$stderr" ""
}

@test "a failing stdout is reported and exits non-zero" {
	run --separate-stderr bash -c 'ci-runid > /dev/full'
	assert_failure 1
	assert_equal "$stderr" "ci-runid: standard output: No space left on device"
}

@test "under GitHub Actions --env also gives later steps run-id and log-file in GITHUB_OUTPUT" {
	export GITHUB_OUTPUT=$BATS_TEST_TMPDIR/output
	GITHUB_ACTIONS=false run ci-runid --env
	assert_success
	[ ! -e "$GITHUB_OUTPUT" ]
	export GITHUB_ACTIONS=true
	CI_LOG_DIR=/var/log/ci run ci-runid --env --time 0
	assert_success
	id=$(sed -n 's/^export CI_RUN_ID=//p' <<<"$output")
	run cat "$GITHUB_OUTPUT"
	assert_line --index 0 "run-id=$id"
	assert_line --index 1 "log-file=/var/log/ci/ci-19700101_000000.log"
	assert_equal "${#lines[@]}" 2
	GITHUB_OUTPUT=$BATS_TEST_TMPDIR/no/such/dir/output run --separate-stderr ci-runid --env
	assert_failure 4
	assert_equal "$stderr" "ci-runid: GITHUB_OUTPUT: cannot write $BATS_TEST_TMPDIR/no/such/dir/output: No such file or directory"
}
