# ci.sh: structured logging for bash pipelines. Source it, then log:
#
#     source scripts/lib/ci.sh
#     log_info "building $target"
#     log_warn "cache miss"
#     log_error "tests failed"
#
# Each call appends one entry to the run's log, exactly as ci-log(1) writes
# it, with source_file (relative to the repository root), line_number and
# function_name taken from where it was called ("main" outside any
# function), step_name from $CI_STEP ("main" when unset), the run id from
# $CI_RUN_ID and the log file from $CI_LOG_FILE (standard output when unset).
#
# How, first choice: log_info, log_warn and log_error are bash builtins
# loaded from ci_sh.so (built from tools/ci_sh.c for this bash release),
# which write each entry with one write(2) on an O_APPEND descriptor (kept
# open between calls, below 10 and close-on-exec; a script's own
# redirection onto its number replaces it): no process, nothing to wait
# for, nothing lost when the script is killed, the same from subshells,
# pipelines and background jobs.
# ci_sh.so is looked for in the file $CI_LOG_BUILTIN names (when it holds a
# slash), beside the first ci-log on PATH and in ../lib/bash from there,
# then in ../../lib/bash and ../../build from this file. CI_LOG_BUILTIN=0
# never loads it. One that refuses to load (built for another bash) is said
# once on stderr; the library then logs the second way.
#
# Second way: one ci-log stays open as a coprocess in records mode; a call
# writes one line into its pipe and reads ci-log's answer about that entry
# (written, or not), so logging costs no fork. The coprocess is not a job of
# the script: a bare `wait` does not wait for it. The library keeps the
# order of entries and loses none:
#   - each call returns once its entry is written, so entries keep their
#     place among the script's own output (without a log file) and among
#     those of the ci-* tools it runs; ci_flush is kept for scripts that
#     call it and, in the shell that started ci-log, waits for entries some
#     other process sent (at exit too, from an EXIT trap that runs after
#     one the script set before its first log call);
#   - subshells and background jobs write into the same pipe and get their
#     answers on a pipe of their own (a here string, which is a pipe from
#     bash 5.1 on), opened once per subshell;
#   - ci-log ignores SIGINT, SIGTERM and SIGHUP and writes everything that
#     reached the pipe, even when the script is killed.
# Where the coprocess cannot be used (bash before 4, a coprocess that could
# not start, a subshell in bash before 5.1, a record of over 1000
# characters from a subshell) a call runs ci-log once instead.
#
# A call returns 0, or ci-log's status: 2 when CI_RUN_ID is missing or
# malformed (under set -e this stops the script, as a misconfiguration
# should), 4 when its entry could not be written (a full disk), said once on
# stderr, in both ways.
# Messages over 1 MiB become several entries marked continued, as ci-log's
# filter mode cuts long lines. CI_LOG_QUIET=1 passes --quiet to ci-log.
# CI_REPO_ROOT overrides the repository root, found with git otherwise.

ci__pwd0=$PWD
ci__root=${CI_REPO_ROOT:-$(git rev-parse --show-toplevel 2>/dev/null || printf '%s' "$PWD")}
ci__home=$BASHPID # the shell that owns the coprocess
ci__env=          # CI_RUN_ID|CI_LOG_FILE the coprocess runs with
ci__failed=       # ... or that it could not start with
ci__sub=          # pid:fd of a subshell's way into the pipe
ci__to=           # where ci-log answers: the main shell's pipe (empty) or a subshell's
if ((BASH_VERSINFO[0] >= 4)); then
	declare -gA ci__src=()
fi

# Load the builtins; ci__why is the reason one refused.
ci__load() {
	local so= d here=${BASH_SOURCE[0]%/*} IFS=:
	[[ ${CI_LOG_BUILTIN:-} != 0 ]] || return 1
	[[ $(type -t ci_log) != builtin ]] || return 0
	[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
	if [[ ${CI_LOG_BUILTIN:-} == */* ]]; then
		so=$CI_LOG_BUILTIN
	else
		for d in $PATH; do
			[[ -x ${d:-.}/ci-log ]] || continue
			[[ -f ${d:-.}/ci_sh.so ]] && so=${d:-.}/ci_sh.so
			[[ -z $so && -f ${d:-.}/../lib/bash/ci_sh.so ]] && so=${d:-.}/../lib/bash/ci_sh.so
			break
		done
		for d in "$here/../../lib/bash" "$here/../../build"; do
			[[ -z $so && -f $d/ci_sh.so ]] && so=$d/ci_sh.so
		done
	fi
	[[ -n $so ]] || return 1
	[[ $so == /* ]] || so=$PWD/$so
	unset ci__why
	if enable -f "$so" ci_log 2>/dev/null; then
		enable -f "$so" log_info log_warn log_error 2>/dev/null && return 0
		enable -d ci_log 2>/dev/null
	fi
	printf 'ci.sh: %s: %s; logging through ci-log instead\n' "$so" \
		"${ci__why:-cannot be loaded}" >&2
	return 1
}

# ci_log LEVEL MESSAGE...: log_LEVEL, as the builtin of that name.
ci_log() {
	case ${1:-} in
	info | warn | error) ;;
	*)
		printf 'ci-log: ci_log: "%s" is not a level (expected info, warn or error)\n' "${1:-}" >&2
		return 2
		;;
	esac
	ci__log "$1" "${*:2}"
}

# log_info, log_warn and log_error, the second way. The common case (this
# shell owns the coprocess, the source path is known, the message needs no
# escapes) is written inline: a bash function call costs microseconds here.
if ci__load; then
	unset -f log_info log_warn log_error ci_log
else for ci__l in info warn error; do
	eval "log_$ci__l() {
		if [[ \$BASHPID == \"\$ci__home\" && \$ci__env == \"\${CI_RUN_ID:-}|\${CI_LOG_FILE:-}\" &&
			-n \${CI__LOG_PID:-} && \${FUNCNAME[1]:-main} != source &&
			-n \${ci__src[\${BASH_SOURCE[1]:-\$0}]+set} && \$* != *[\\\\\$'\\t\\n\\r']* &&
			\${CI_STEP:-} != *[\$'\\t\\n\\r']* ]] &&
			echo -E \"?	$ci__l	\${CI_STEP:-main}	\${ci__src[\${BASH_SOURCE[1]:-\$0}]}	\${BASH_LINENO[0]}	\${FUNCNAME[1]:-main}	\$*\" >&\"\${CI__LOG[1]}\" &&
			read -r -u \"\${CI__LOG[0]}\" ci__ack; then
			[[ \$ci__ack == sync ]] && return 0
			return 4
		fi
		# The same in a subshell that logged before, for a record that
		# fits one atomic pipe write.
		if [[ \$BASHPID == \"\${ci__sub%%:*}\" && \$ci__env == \"\${CI_RUN_ID:-}|\${CI_LOG_FILE:-}\" &&
			\${FUNCNAME[1]:-main} != source && -n \${ci__src[\${BASH_SOURCE[1]:-\$0}]+set} &&
			\$* != *[\\\\\$'\\t\\n\\r']* && \${CI_STEP:-} != *[\$'\\t\\n\\r']* ]] &&
			ci__m=\"\${CI_STEP:-main}	\${ci__src[\${BASH_SOURCE[1]:-\$0}]}	\${BASH_LINENO[0]}	\${FUNCNAME[1]:-main}	\$*\" &&
			((\${#ci__m} <= 1000)) && echo -E \"?\$ci__to	$ci__l	\$ci__m\" >&\"\${ci__sub#*:}\"; then
			ci__answer
			return
		fi
		ci__log $ci__l \"\$*\"
	}"
done; fi
unset ci__l

# ci__log LEVEL MESSAGE, called only by log_* and ci_log: the caller is two
# frames up.
ci__log() {
	local level=$1 msg=$2 fd
	local src=${BASH_SOURCE[2]:-$0} line=${BASH_LINENO[1]:-1}
	local fn=${FUNCNAME[2]:-main} step=${CI_STEP:-main}
	[[ $fn == source ]] && fn=main
	if ((BASH_VERSINFO[0] >= 4)) && [[ -n ${ci__src[$src]+set} ]]; then
		src=${ci__src[$src]}
	else
		ci__relative "$src"
		((BASH_VERSINFO[0] >= 4)) && ci__src[$src]=$REPLY
		src=$REPLY
	fi

	if ci__pipe; then
		fd=$REPLY
		[[ $msg == *[\\$'\t\n\r']* ]] && ci__escape
		# From a subshell, a record must fit one atomic pipe write. Each
		# call waits for ci-log's answer about its own entry ("?" asks
		# for it; from a subshell, on the subshell's own pipe): on
		# stdout, entries keep their place among the script's output,
		# and a call whose entry was not written returns 4.
		if [[ $fd == "${CI__LOG[1]:-}" ||
			$((${#msg} + ${#src} + ${#step} + ${#fn})) -le 1000 ]] &&
			printf '?%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ci__to" "$level" \
				"${step//[$'\t\n\r']/ }" "${src//[$'\t\n\r']/ }" "$line" \
				"${fn//[$'\t\n\r']/ }" "$msg" >&"$fd"; then
			ci__answer
			return
		fi
		# A long record from a subshell: after those sent before it.
		ci_flush
		msg=$2
	fi
	if ((${#msg} <= 30000)); then
		command ci-log ${CI_LOG_QUIET:+--quiet} -l "$level" -s "$step" \
			--source "$src" --line "$line" --function "$fn" -- "$msg"
		return
	fi
	# Longer than a command line may be: one record on standard input.
	[[ $msg == *[\\$'\t\n\r']* ]] && ci__escape
	command ci-log --records ${CI_LOG_QUIET:+--quiet} <<<"$level	${step//[$'\t\n\r']/ }	${src//[$'\t\n\r']/ }	$line	${fn//[$'\t\n\r']/ }	$msg"
}

# The escapes of a record's message, applied to msg of the caller.
ci__escape() {
	msg=${msg//\\/\\\\}
	msg=${msg//$'\t'/\\t}
	msg=${msg//$'\n'/\\n}
	msg=${msg//$'\r'/\\r}
}

# REPLY=the path relative to the repository root (absolute outside it).
ci__relative() {
	local p=${1:-unknown}
	[[ $p == /* ]] || p=$ci__pwd0/$p
	while [[ $p == */./* ]]; do p=${p//\/.\//\/}; done
	[[ $p == "$ci__root"/* ]] && p=${p#"$ci__root"/}
	REPLY=$p
}

# REPLY=the descriptor to write records to, when there is one: the
# coprocess's pipe in the shell that owns it (started here when needed), or
# the same pipe opened through /proc in a subshell.
ci__pipe() {
	local env="${CI_RUN_ID:-}|${CI_LOG_FILE:-}" ready out answer
	if [[ $BASHPID == "$ci__home" ]]; then
		if [[ $env != "$ci__env" || -z ${CI__LOG_PID:-} ]]; then
			ci__start "$env" || return 1
		fi
		REPLY=${CI__LOG[1]}
		return 0
	fi
	[[ $env == "$ci__env" ]] || return 1
	if [[ ${ci__sub%%:*} != "$BASHPID" ]]; then
		ci__sub= ci__to=
		# In braces: "exec ... 2>/dev/null" would silence stderr for good.
		{ exec {out}>"/proc/$ci__home/fd/$ci__wfd"; } 2>/dev/null || return 1
		# The subshell's own pipe for answers, without a fork: a here
		# string is a pipe from bash 5.1 on (a file before: then each
		# call runs ci-log). Holding its write end too, a read waits.
		exec {ready}<<<""
		read -r -u "$ready" _
		if [[ ! -p /proc/$BASHPID/fd/$ready ]] ||
			! { exec {answer}>"/proc/$BASHPID/fd/$ready"; } 2>/dev/null; then
			exec {out}>&- {ready}<&-
			return 1
		fi
		ci__sub=$BASHPID:$out ci__to=/proc/$BASHPID/fd/$ready ci__rfd=$ready
	fi
	REPLY=${ci__sub#*:}
}

# ci__answer: read ci-log's answer about the entry just sent; 0 when it is
# written, 4 when not (ci-log said why).
ci__answer() {
	local a= rc
	if [[ $BASHPID == "$ci__home" ]]; then
		read -r -u "$ci__rfd" a
	else
		# ci-log, not a child of this subshell, may die without a word.
		until read -r -t 10 -u "$ci__rfd" a; do
			rc=$?
			((rc > 128)) && kill -0 "$ci__pid" 2>/dev/null || break
		done
	fi
	case $a in
	sync) return 0 ;;
	fail) return 4 ;;
	esac
	printf 'ci-log: the logging coprocess (pid %s) did not answer; the entry may be lost\n' "$ci__pid" >&2
	return 4
}

# ci__start ENV: start ci-log as a coprocess and wait until its log is open.
ci__start() {
	local ready out prev
	((BASH_VERSINFO[0] >= 4)) || return 1
	[[ $1 != "$ci__failed" ]] || return 1
	[[ ${CI_RUN_ID:-} =~ ^run-[0-9]{8}-[0-9]{6}-[a-z0-9]{6}$ ]] || return 1
	ci__stop
	# Entries (without a log file) and workflow commands go to the
	# script's stdout; answers to sync requests come back through the pipe.
	exec {out}>&1
	coproc CI__LOG { exec ci-log --records ${CI_LOG_QUIET:+--quiet} --ack-fd 3 3>&1 1>&"$out"; }
	exec {out}>&-
	if [[ -z ${CI__LOG_PID:-} ]] || ! read -r -u "${CI__LOG[0]}" ready ||
		[[ $ready != ready ]]; then
		ci__failed=$1
		ci__stop
		return 1
	fi
	# Not a job: a bare `wait` in the script must not wait for ci-log.
	disown "$CI__LOG_PID" 2>/dev/null
	ci__env=$1 ci__wfd=${CI__LOG[1]} ci__rfd=${CI__LOG[0]} ci__pid=$CI__LOG_PID
	ci__to= ci__sub=
	prev=$(trap -p EXIT)
	prev=${prev#trap -- \'}
	prev=${prev%\' EXIT}
	prev=${prev//\'\\\'\'/\'}
	[[ $prev == *ci__atexit* ]] || trap "${prev:+$prev
}ci__atexit" EXIT
}

# ci_flush: return once ci-log has written every entry sent so far; 4 when
# one that no call answered for could not be written since the last
# ci_flush (ci-log said why). Each call waits for its own entry, so this
# only waits for what other processes sent; in a subshell it returns 0.
ci_flush() {
	local ack=
	[[ -n $ci__env ]] || return 0
	# A subshell has nothing to wait for: each of its calls waited for
	# its own entry, and the pipe of answers is the main shell's.
	[[ $BASHPID == "$ci__home" && -n ${CI__LOG_PID:-} ]] || return 0
	printf '\n' >&"${CI__LOG[1]}" && read -r -u "${CI__LOG[0]}" ack
	[[ $ack != fail ]] || return 4
	return 0
}

ci__atexit() {
	local status=$?
	ci_flush
	return $status
}

# Close the coprocess's input and wait until it has written everything:
# ci-log closes the pipe of its answers when it exits.
ci__stop() {
	local pid=${CI__LOG_PID:-} fd=${CI__LOG[1]:-} rfd=${CI__LOG[0]:-}
	ci__env=
	[[ -n $pid && $BASHPID == "$ci__home" ]] || return 0
	[[ -n $fd ]] && exec {fd}>&-
	[[ -n $rfd ]] && while read -r -u "$rfd" _ 2>/dev/null; do :; done
	return 0
}

# The tools that append to or read the log see every entry logged before;
# those that write entries for their caller are told the caller's own file
# and line (CI_CALLER_FILE, CI_CALLER_LINE), not the script's line 1.
ci__caller() {
	local f=${BASH_SOURCE[2]:-} n=${BASH_LINENO[1]:-}
	[[ -n $f && $f != /* ]] && f=$ci__pwd0/$f
	CI_CALLER_FILE=$f CI_CALLER_LINE=$n command "$@"
}
if [[ :$SHELLOPTS: != *:posix:* ]]; then
	eval 'ci-log() { ci_flush; command ci-log "$@"; }
ci-step() { ci_flush; ci__caller ci-step "$@"; }
ci-testpar() { ci_flush; ci__caller ci-testpar "$@"; }
ci-deploy() { ci_flush; ci__caller ci-deploy "$@"; }
ci-report() { ci_flush; command ci-report "$@"; }'
fi
