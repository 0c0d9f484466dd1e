#!/usr/bin/env bash
# The reference pipeline: init, env-check, the profile's steps in the order
# it lists them (commands and test suites), cleanup and complete, each step
# logged through the ci-tools, the run closed with the exit code of
# contracts/exit-codes.md, and a report at the end.
#
# usage: scripts/local-ci/run.sh [--profile dev|ui|full] [--trigger CLI|TUI]
#                                [--config FILE]
#        scripts/local-ci/run.sh --tui [--config FILE]
#
# --tui, on a terminal: choose a profile with the keyboard, then watch the
# run live (ci-report --follow); the steps' output goes to the log and to
# files of the view, not over it.
#
# What each step runs comes from the config file (by default pipeline.conf
# next to this script); see its comments, or ci-tools(7), for the format.
# Commands run in the current directory, the project's root. Logs go to
# $CI_LOG_DIR (default logs). The ci-* tools must be on PATH.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
profile=dev trigger=CLI config=$here/pipeline.conf tui=0
# Set by --tui for the pipeline it starts, and for it alone.
tui_out=${_CI_TUI_OUT:-} tui_ids=${_CI_TUI_RUN:-}
unset _CI_TUI_OUT _CI_TUI_RUN

usage() {
	echo "usage: scripts/local-ci/run.sh [--profile dev|ui|full] [--trigger CLI|TUI] [--config FILE]"
	echo "       scripts/local-ci/run.sh --tui [--config FILE]"
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
	--tui) tui=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die 2 "$1: unknown argument" ;;
	esac
done
case $profile in dev | ui | full) ;; *) die 2 "--profile: \"$profile\" is not a profile (expected dev, ui or full)" ;; esac
case $trigger in CLI | TUI) ;; *) die 2 "--trigger: \"$trigger\" is not a trigger (expected CLI or TUI)" ;; esac

# The config: "key = value" lines, # comments. A later line of a key
# replaces an earlier one, except requires, whose lines add up. line[KEY] is
# where KEY was last set, for messages.
declare -A conf=() line=()
plan=() # the profile's steps, in order: "step NAME" or "test TYPE"
config_error=
bad_config() { # bad_config MESSAGE: the first problem found is the one told
	[ -n "$config_error" ] || config_error="config $1"
	return 1
}
read_config() {
	local content text key value n=0 s where
	if [ -d "$config" ]; then
		bad_config "$config: is a directory, not a file"
		return
	fi
	if ! [ -f "$config" ] || ! [ -r "$config" ] || ! content=$(cat -- "$config" 2>/dev/null); then
		bad_config "$config: cannot be read"
		return
	fi
	while IFS= read -r text || [ -n "$text" ]; do
		n=$((n + 1))
		text=${text%%$'\r'}
		[[ $text =~ ^[[:space:]]*(#.*)?$ ]] && continue
		[[ $text =~ ^[[:space:]]*([^[:space:]=]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] || {
			bad_config "$config:$n: expected \"key = value\", got: $text"
			return
		}
		key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
		case $key in
		lint | build) key=step.$key ;; # the seed's two steps, by their old names
		esac
		case $key in
		requires) conf[requires]+=" $value" ;;
		cleanup | tests.options | clickhouse.url) conf[$key]=$value ;;
		logs.keep | logs.max_age)
			[[ $value =~ ^[0-9]+$ ]] || {
				bad_config "$config:$n: $key: \"$value\" is not a whole number"
				return
			}
			conf[$key]=$value ;;
		profile.dev | profile.ui | profile.full | tests.options.dev | tests.options.ui | tests.options.full)
			conf[$key]=$value ;;
		profile.* | tests.options.*)
			bad_config "$config:$n: $key: \"${key##*.}\" is not a profile (the log schema allows dev, ui and full)"
			return ;;
		step.init | step.env-check | step.cleanup | step.complete | step.main)
			bad_config "$config:$n: $key: ${key#step.} is a step of the pipeline itself; name yours otherwise"
			return ;;
		step.*)
			[[ ${key#step.} =~ ^[a-z0-9][a-z0-9_-]*$ ]] || {
				bad_config "$config:$n: $key: \"${key#step.}\" is not a step name (a-z, 0-9, _ and -)"
				return
			}
			conf[$key]=$value ;;
		test.*)
			[[ ${key#test.} =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || {
				bad_config "$config:$n: $key: \"${key#test.}\" is not a suite name (a-z, 0-9, _ and -, at most 32, starting with a letter)"
				return
			}
			conf[$key]=$value ;;
		*)
			bad_config "$config:$n: unknown key \"$key\""
			return ;;
		esac
		line[$key]=$n
	done <<<"$content"
	# Each profile names the steps it runs; the defaults are the seed's.
	: "${conf[profile.dev]=lint test-unit build}"
	: "${conf[profile.ui]=lint test-unit test-e2e build}"
	: "${conf[profile.full]=lint test-unit test-integration test-e2e build}"
	where="$config${line[profile.$profile]:+:${line[profile.$profile]}}"
	for s in ${conf[profile.$profile]}; do
		if [[ $s == test-* && -n ${conf[test.${s#test-}]+set} ]]; then
			plan+=("test ${s#test-}")
		elif [ -n "${conf[step.$s]+set}" ]; then
			plan+=("step $s")
		elif [[ $s == test-* ]]; then
			bad_config "$where: profile $profile runs $s, but \"test.${s#test-}\" is not set"
			return
		elif [ -z "${line[profile.$profile]:-}" ] && [[ $s == lint || $s == build ]]; then
			bad_config "$where: profile $profile runs $s, but \"$s\" is not set"
			return
		else
			bad_config "$where: profile.$profile: unknown step \"$s\" (no step.$s or test.* sets it)"
			return
		fi
	done
	[ ${#plan[@]} -gt 0 ] || bad_config "$where: profile.$profile runs no step"
}

# The options of ci-testpar for this profile: tests.options, then
# tests.options.PROFILE, so that a later option overrides an earlier one.
test_options() {
	local -a base extra
	read -r -a base <<<"${conf[tests.options]:-}"
	read -r -a extra <<<"${conf[tests.options.$profile]:-}"
	opts=("${base[@]}" "${extra[@]}")
}

# call_options TYPE...: the options for one ci-testpar call, in call_opts:
# those of one suite (--retries e2e=3, --timeout, --junit, --shard-files
# TYPE=...) only in the call that runs it. A suite not configured at all is
# left in, for ci-testpar --check to name.
call_options() {
	local -A here=()
	local s o v i=0 n=${#opts[@]}
	for s; do here[$s]=1; done
	call_opts=()
	while [ "$i" -lt "$n" ]; do
		o=${opts[i]} i=$((i + 1))
		case $o in
		--retries | --timeout | --junit | --shard-files) v=${opts[i]:-} i=$((i + 1)) ;;
		--retries=* | --timeout=* | --junit=* | --shard-files=*) v=${o#*=} ;;
		*) call_opts+=("$o"); continue ;;
		esac
		s=${v%%=*}
		if [[ $v == *=* && -n ${conf[test.$s]+set} && -z ${here[$s]:-} ]]; then
			continue
		fi
		[[ $o == *=* ]] && call_opts+=("$o") || call_opts+=("$o" "$v")
	done
}

# Each run of adjacent suites in the plan is one ci-testpar call: check
# those calls now, so that a bad option stops the run before its first step.
check_tests() {
	local item suites=() names=() why at= keys=tests.options p=${line[tests.options.$profile]:-}
	test_options
	[ -z "${line[tests.options]:-}" ] || at=":${line[tests.options]}"
	if [ -n "$p" ]; then
		[ -n "$at" ] && keys+=" and tests.options.$profile" || keys=tests.options.$profile
		at="${at:-:}${at:+,}$p"
	fi
	for item in "${plan[@]}" "end"; do
		if [[ $item == "test "* ]]; then
			suites+=("${item#test }=${conf[test.${item#test }]}")
			names+=("${item#test }")
			continue
		fi
		[ ${#suites[@]} -gt 0 ] || continue
		call_options "${names[@]}"
		if ! why=$(ci-testpar --check "${call_opts[@]}" "${suites[@]}" 2>&1 >/dev/null); then
			bad_config "$config$at: $keys: ${why:-ci-testpar --check failed}"
			return
		fi
		suites=() names=()
	done
}

# --- The TUI (--tui) ---------------------------------------------------
# Plain ANSI sequences, as ci-testpar's status line and ci-report --follow
# use: every terminal in use understands them, and nothing more is needed.

# to_output STEP COMMAND...: under the TUI, the command's output goes to
# the view's file of the step, not over the view.
to_output() {
	local name=$1
	shift
	if [ -n "$tui_out" ]; then
		"$@" >>"$tui_out/$name.out" 2>&1
	else
		"$@"
	fi
}

tui_menu() { # draw the profiles, the one chosen (index $1) marked
	local i=0 p mark on= off=
	[ -n "${NO_COLOR:-}" ] || { on=$'\e[7m' off=$'\e[0m'; }
	printf '\e[H\e[J\e[1mci-tools: choose a profile\e[0m  (up/down or 1-3, Enter runs, q quits)\r\n\r\n'
	for p in dev ui full; do
		i=$((i + 1)) mark="  "
		[ "$i" -ne "$1" ] || mark="> "
		printf '%s%s%d %-5s%s env-check %s cleanup\e[K\r\n' "$mark" "$([ "$i" -ne "$1" ] || echo "$on")" \
			"$i" "$p" "$off" "${conf[profile.$p]}"
	done
	printf '\r\nconfig %s\r\n' "$config"
}

# Choose a profile on the terminal; 0 and $profile set, or 1 when quit.
tui_pick() {
	local sel=1 key rest
	case $profile in ui) sel=2 ;; full) sel=3 ;; esac
	if [ "${TERM:-dumb}" = dumb ]; then
		tui_menu "$sel" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r$//'
		read -r -p "profile [1-3, q]: " key || return 1
		case $key in 1 | dev) sel=1 ;; 2 | ui) sel=2 ;; 3 | full) sel=3 ;; *) return 1 ;; esac
	else
		printf '\e[?1049h\e[?25l'
		while :; do
			tui_menu "$sel"
			IFS= read -rsn1 key || { key=q; }
			if [ "$key" = $'\e' ]; then
				IFS= read -rsn2 -t 0.1 rest || true
				case $rest in '[A') key=k ;; '[B') key=j ;; *) key= ;; esac
				[ -n "$key" ] || continue
			fi
			case $key in
			k) [ "$sel" -le 1 ] || sel=$((sel - 1)) ;;
			j) [ "$sel" -ge 3 ] || sel=$((sel + 1)) ;;
			[1-3]) sel=$key ;;
			'') break ;;
			q | Q) printf '\e[?25h\e[?1049l'; return 1 ;;
			esac
		done
		printf '\e[?25h\e[?1049l'
	fi
	profile=$(echo x dev ui full | cut -d' ' -f$((sel + 1)))
}

# --tui: choose, start the pipeline in the background with --trigger TUI,
# watch it with ci-report --follow, end on its report and exit code.
tui_main() {
	local ids out pid view code logs=() f
	[ -t 0 ] && [ -t 1 ] || die 2 "--tui: standard input and output must be a terminal"
	read_config
	[ -z "$config_error" ] || die 2 "$config_error"
	tui_pick || exit 0
	conf=() line=() plan=()
	ids=$(ci-runid --env) || die 4 "cannot mint a run id"
	eval "$ids"
	out=${CI_LOG_FILE%.log}.out
	mkdir -p "$out" || die 4 "cannot create $out"
	for f in "$CI_LOG_DIR"/ci-*.log; do
		[ ! -f "$f" ] || [ "$f" = "$CI_LOG_FILE" ] || logs+=("$f")
	done
	_CI_TUI_RUN=$ids _CI_TUI_OUT=$out "$BASH" "$here/run.sh" --profile "$profile" \
		--trigger TUI --config "$config" </dev/null >"$out/main.out" 2>&1 &
	pid=$!
	trap 'kill -TERM "$pid" 2>/dev/null' HUP TERM
	trap : INT # Ctrl-C ends the view, which then stops the run
	ci-report --follow --run "$CI_RUN_ID" --output "$out" "${logs[@]}" "$CI_LOG_FILE"
	view=$?
	[ "$view" -eq 0 ] || kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	code=$?
	[ "$view" -eq 0 ] || ci-report --run "$CI_RUN_ID" "$CI_LOG_FILE"
	exit "$code"
}

# The tools themselves are the first prerequisite.
for tool in ci-runid ci-log ci-step ci-testpar ci-report; do
	command -v "$tool" >/dev/null ||
		die 4 "env-check: missing prerequisite: $tool is not on PATH (build the ci-tools and put them on PATH)"
done

export CI_LOG_DIR=${CI_LOG_DIR:-logs}
[ "$tui" = 0 ] || tui_main
ids=${tui_ids:-$(ci-runid --env)} || die 4 "cannot mint a run id"
eval "$ids" # quoted by ci-runid where needed
export CI_RUN_ID CI_LOG_FILE TRACEPARENT
export CI_STEP=main
lib=$here/../lib/ci.sh
[ -r "$lib" ] || lib=$(dirname "$(command -v ci-log)")/../share/ci-tools/ci.sh
# shellcheck source=../lib/ci.sh
source "$lib" || die 4 "cannot read the shell library ci.sh"

ci-step init --profile "$profile" --trigger "$trigger" || exit $?
status=0 cleanup_ok=1
finish() {
	local code=$status
	# The run is closing: a signal now (a TUI stopping a run that just
	# ended) must not cut that short, nor exit with another code.
	trap '' INT TERM HUP
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

read_config && check_tests
if [ -n "$config_error" ]; then
	# Told once on stderr; the log keeps it too. The retention of a config
	# that could not be read is unknown, so cleanup does not run.
	echo "run.sh: $config_error" >&2
	ci-log -q -l error "$config_error"
	status=2 cleanup_ok=0
	exit 2
fi

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
	CI_STEP=$1 to_output "$1" ci-step "$1" --capture -- bash -c "${conf[step.$1]}"
}

run_tests() { # run_tests TYPE...: adjacent suites of the plan, side by side
	local s suites=()
	for s in "$@"; do suites+=("$s=${conf[test.$s]}"); done
	[ -z "$tui_out" ] || for s in "${@:2}"; do ln -sf "test-$1.out" "$tui_out/test-$s.out"; done
	call_options "$@"
	to_output "test-$1" ci-testpar "${call_opts[@]}" "${suites[@]}"
}

cleanup() {
	local cmd="ci-log --prune --keep ${conf[logs.keep]:-10} --max-age ${conf[logs.max_age]:-30}"
	[ -n "${conf[cleanup]:-}" ] && cmd="${conf[cleanup]} && $cmd"
	CI_STEP=cleanup to_output cleanup ci-step cleanup -- bash -c "$cmd"
}

# The plan in order; a failure skips what follows. Exit codes of the
# contract: 1 a step failed, 3 tests failed, 4 the environment (ci-testpar's
# own 4: its log could not be written).
run_plan() {
	local item group=() rc
	for item in "${plan[@]}" "end"; do
		if [[ $item == "test "* ]]; then
			group+=("${item#test }")
			continue
		fi
		if [ ${#group[@]} -gt 0 ]; then
			run_tests "${group[@]}" || { rc=$?; [ "$rc" -eq 4 ] && return 4; return 3; }
			group=()
		fi
		[ "$item" = end ] || step "${item#step }" || return 1
	done
}

if ! env_check; then
	status=4
else
	run_plan
	status=$?
fi
[ "$cleanup_ok" = 0 ] || cleanup || { [ "$status" -ne 0 ] || status=1; }
exit "$status"
