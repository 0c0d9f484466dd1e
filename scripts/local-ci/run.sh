#!/usr/bin/env bash
# The reference pipeline: init, env-check, lint, the test suites, build,
# cleanup and complete, each step logged through the ci-tools, the run closed
# with the exit code of contracts/exit-codes.md, and a report at the end.
#
# usage: scripts/local-ci/run.sh [--profile dev|ui|full] [--trigger CLI|TUI]
#                                [--config FILE]
#
# What each step runs comes from the config file (by default pipeline.conf
# next to this script); see its comments, or ci-tools(7), for the format.
# Commands run in the current directory, the project's root. Logs go to
# $CI_LOG_DIR (default logs). The ci-* tools must be on PATH.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
profile=dev trigger=CLI config=$here/pipeline.conf

usage() {
	echo "usage: scripts/local-ci/run.sh [--profile dev|ui|full] [--trigger CLI|TUI] [--config FILE]"
}
die() { # die CODE MESSAGE: before the run is open
	echo "run.sh: $2" >&2
	exit "$1"
}

while [ $# -gt 0 ]; do
	case $1 in
	--profile) [ $# -ge 2 ] || die 2 "--profile: missing argument"; profile=$2; shift 2 ;;
	--profile=*) profile=${1#*=}; shift ;;
	--trigger) [ $# -ge 2 ] || die 2 "--trigger: missing argument"; trigger=$2; shift 2 ;;
	--trigger=*) trigger=${1#*=}; shift ;;
	--config) [ $# -ge 2 ] || die 2 "--config: missing argument"; config=$2; shift 2 ;;
	--config=*) config=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die 2 "$1: unknown argument" ;;
	esac
done
case $profile in dev | ui | full) ;; *) die 2 "--profile: \"$profile\" is not a profile (expected dev, ui or full)" ;; esac
case $trigger in CLI | TUI) ;; *) die 2 "--trigger: \"$trigger\" is not a trigger (expected CLI or TUI)" ;; esac

# The config: "key = value" lines, # comments. A later line of a key
# replaces an earlier one, except requires, whose lines add up.
declare -A conf=()
read_config() {
	local line key value n=0
	[ -r "$config" ] || die 2 "config $config: cannot be read"
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%$'\r'}
		[[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
		[[ $line =~ ^[[:space:]]*([a-z0-9_.-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] ||
			die 2 "config $config:$n: expected \"key = value\", got: $line"
		key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
		case $key in
		requires) conf[requires]+=" $value" ;;
		lint | build | cleanup | test.unit | test.integration | test.e2e | \
			profile.dev | profile.ui | profile.full | tests.options | \
			logs.keep | logs.max_age | clickhouse.url)
			conf[$key]=$value ;;
		*) die 2 "config $config:$n: unknown key \"$key\"" ;;
		esac
	done < "$config"
	# Each profile names the steps it runs; the defaults are the seed's.
	: "${conf[profile.dev]=lint test-unit build}"
	: "${conf[profile.ui]=lint test-unit test-e2e build}"
	: "${conf[profile.full]=lint test-unit test-integration test-e2e build}"
	local s
	for s in ${conf[profile.$profile]}; do
		case $s in
		lint | build) [ -n "${conf[$s]:-}" ] || die 2 "config $config: profile $profile runs $s, but \"$s\" is not set" ;;
		test-unit | test-integration | test-e2e)
			[ -n "${conf[test.${s#test-}]:-}" ] || die 2 "config $config: profile $profile runs $s, but \"test.${s#test-}\" is not set" ;;
		*) die 2 "config $config: profile.$profile: unknown step \"$s\" (expected lint, test-unit, test-integration, test-e2e or build)" ;;
		esac
	done
	for s in logs.keep logs.max_age; do
		[[ ${conf[$s]:-1} =~ ^[0-9]+$ ]] || die 2 "config $config: $s: \"${conf[$s]}\" is not a whole number"
	done
}
read_config

runs() { [[ " ${conf[profile.$profile]} " == *" $1 "* ]]; }

# The tools themselves are the first prerequisite.
for tool in ci-runid ci-log ci-step ci-testpar ci-report; do
	command -v "$tool" >/dev/null ||
		die 4 "env-check: missing prerequisite: $tool is not on PATH (build the ci-tools and put them on PATH)"
done

export CI_LOG_DIR=${CI_LOG_DIR:-logs}
ids=$(ci-runid --env) || die 4 "cannot mint a run id"
eval "$ids" # quoted by ci-runid where needed
export CI_RUN_ID CI_LOG_FILE
export CI_STEP=main
lib=$here/../lib/ci.sh
[ -r "$lib" ] || lib=$(dirname "$(command -v ci-log)")/../share/ci-tools/ci.sh
# shellcheck source=../lib/ci.sh
source "$lib" || die 4 "cannot read the shell library ci.sh"

ci-step init --profile "$profile" --trigger "$trigger" || exit $?
status=0
finish() {
	local code=$status
	ci-step complete --exit-code "$code" >/dev/null
	ship
	echo
	ci-report --run "$CI_RUN_ID" "$CI_LOG_FILE"
	exit "$code"
}
# With a ClickHouse server (CI_CLICKHOUSE_URL, else clickhouse.url in the
# config), the run's whole log goes there once closed; a failure to ship is
# a warning, never the run's result.
ship() {
	local url=${CI_CLICKHOUSE_URL:-${conf[clickhouse.url]:-}} rc=0
	[ -n "$url" ] || return 0
	CI_CLICKHOUSE_URL=$url ci-ship "$CI_LOG_FILE" >&2 || rc=$?
	[ "$rc" -eq 0 ] || echo "run.sh: warning: the log was not shipped to ClickHouse (ci-ship exited $rc); the run's result stands" >&2
}
trap finish EXIT
trap 'status=1; log_error "interrupted"; exit' INT TERM HUP

# env-check: every required command, and a writable log directory.
env_check() {
	local start=$EPOCHREALTIME missing=() cmd ms
	export CI_STEP=env-check
	for cmd in ${conf[requires]:-}; do
		command -v "$cmd" >/dev/null || missing+=("$cmd")
	done
	ms=$(((${EPOCHREALTIME/[.,]/} - ${start/[.,]/}) / 1000))
	if [ ${#missing[@]} -gt 0 ]; then
		for cmd in "${missing[@]}"; do
			log_error "missing prerequisite: $cmd is not on PATH"
		done
		ci-log -l error --duration-ms "$ms" "env-check failed: missing ${missing[*]}"
		echo "run.sh: env-check: missing prerequisite: ${missing[*]}" >&2
		return 4
	fi
	ci-log --duration-ms "$ms" "env-check passed: ${conf[requires]:-nothing required}"
}

step() { # step NAME: run the configured command of a step
	CI_STEP=$1 ci-step "$1" -- bash -c "${conf[$1]}"
}

run_tests() {
	local suites=() s opts
	for s in unit integration e2e; do
		runs "test-$s" && suites+=("$s=${conf[test.$s]}")
	done
	[ ${#suites[@]} -gt 0 ] || return 0
	read -r -a opts <<< "${conf[tests.options]:-}"
	ci-testpar "${opts[@]}" "${suites[@]}"
}

cleanup() {
	local cmd="ci-log --prune --keep ${conf[logs.keep]:-10} --max-age ${conf[logs.max_age]:-30}"
	[ -n "${conf[cleanup]:-}" ] && cmd="${conf[cleanup]} && $cmd"
	CI_STEP=cleanup ci-step cleanup -- bash -c "$cmd"
}

if ! env_check; then
	status=4
elif runs lint && ! step lint; then
	status=1
elif ! run_tests; then
	status=3
elif runs build && ! step build; then
	status=1
fi
cleanup || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
