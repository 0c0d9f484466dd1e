#!/usr/bin/env bats
# scripts/lib/ci.sh: log_info/log_warn/log_error from bash, with the caller's
# location, in order, and without loss. This file runs twice: as ci-sh.bats
# with the library's builtins (ci_sh.so, when built), and through its
# symbolic link ci-sh-fallback.bats with CI_LOG_BUILTIN=0 (one ci-log
# coprocess).
load helpers/common
load helpers/disk

setup() {
	common_setup
	if [[ $BATS_TEST_FILENAME == *-fallback.bats ]]; then
		export CI_LOG_BUILTIN=0
	else
		unset CI_LOG_BUILTIN
	fi
	new_run
	mkdir -p repo/scripts
	git -C repo init -q
	LIB=$REPO/scripts/lib/ci.sh
	export LIB
}

teardown() {
	small_disk_free
}

# entries: one line per entry: "level step source:line function message".
entries() {
	/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    print(e["level"], e["step_name"], "%s:%d" % (e["source_file"], e["line_number"]), e["function_name"], e["message"])' "${1:-$CI_LOG_FILE}"
}

# Whether this run's scripts log through the builtins.
builtin_mode() {
	[[ ${CI_LOG_BUILTIN:-} != 0 && -f $CI_BUILD/ci_sh.so ]]
}

# A PATH where ci-log counts its own starts in $BATS_TEST_TMPDIR/starts.
counting_path() {
	mkdir -p "$BATS_TEST_TMPDIR/shim"
	printf '#!/bin/sh\necho x >> "%s/starts"\nexec "%s/ci-log" "$@"\n' "$BATS_TEST_TMPDIR" "$CI_BUILD" > "$BATS_TEST_TMPDIR/shim/ci-log"
	chmod +x "$BATS_TEST_TMPDIR/shim/ci-log"
	echo "$BATS_TEST_TMPDIR/shim:$PATH"
}

@test "log_info, log_warn and log_error fill the source relative to the repository, the line and the function" {
	cat > repo/scripts/build.sh <<'SH'
source "$LIB"
log_info "starting"
compile() {
	log_warn "slow compiler"
}
compile
CI_STEP=build log_error "it broke"
SH
	(cd repo && bash scripts/build.sh)
	validate log-schema.json "$CI_LOG_FILE"
	run entries
	assert_line --index 0 "info main scripts/build.sh:2 main starting"
	assert_line --index 1 "warn main scripts/build.sh:4 compile slow compiler"
	assert_line --index 2 "error build scripts/build.sh:7 main it broke"
}

@test "a sourced file's own calls name that file, and a script run from elsewhere is still relative to its repository" {
	cat > repo/scripts/helpers.sh <<'SH'
helper() { log_info "from the helper"; }
log_info "sourced"
SH
	cat > repo/scripts/main.sh <<'SH'
source "$LIB"
source "$(dirname "$0")/helpers.sh"
helper
SH
	(cd repo/scripts && bash ./main.sh)
	run entries
	assert_line --index 0 "info main scripts/helpers.sh:2 main sourced"
	assert_line --index 1 "info main scripts/helpers.sh:1 helper from the helper"
}

@test "messages with tabs, newlines, CR and backslashes arrive intact" {
	cat > repo/s.sh <<'SH'
source "$LIB"
log_info $'tab\there\nnew line\r\\n not an escape \\ end'
log_info "plain after"
SH
	(cd repo && bash s.sh)
	run /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]): print(ascii(json.loads(line)["message"]))' "$CI_LOG_FILE"
	assert_line --index 0 "'tab\\there\\nnew line\\r\\\\n not an escape \\\\ end'"
	assert_line --index 1 "'plain after'"
}

@test "one ci-log process (none with the builtins) serves every call, subshells and pipelines included" {
	cat > repo/s.sh <<'SH'
source "$LIB"
for i in $(seq 100); do log_info "entry $i"; done
( log_info "in a subshell" )
x=$(log_info "in a command substitution")
seq 3 | while read -r n; do log_info "piped $n"; done
SH
	(cd repo && PATH=$(counting_path) bash s.sh)
	if builtin_mode; then
		[ ! -e starts ] || fail "ci-log ran $(wc -l < starts) times"
	else
		assert_equal "$(wc -l < starts)" 1
	fi
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 105
	run entries
	assert_line --index 99 "info main s.sh:2 main entry 100"
	assert_line --index 100 "info main s.sh:3 main in a subshell"
	assert_line --index 101 "info main s.sh:4 main in a command substitution"
	assert_line --index 104 "info main s.sh:5 main piped 3"
}

@test "entries stay in order with the ci-* tools the script calls in between" {
	cat > repo/s.sh <<'SH'
source "$LIB"
for i in $(seq 200); do
	log_info "library $i"
	ci-log "tool $i"
done
SH
	(cd repo && bash s.sh)
	run /usr/bin/python3 -c '
import json, sys
got = [json.loads(l)["message"] for l in open(sys.argv[1])]
want = [w for i in range(1, 201) for w in ("library %d" % i, "tool %d" % i)]
print("in order" if got == want else "out of order: %r" % [(g, w) for g, w in zip(got, want) if g != w][:3])' "$CI_LOG_FILE"
	assert_output "in order"
}

@test "ci_flush returns once every entry logged so far is in the file" {
	cat > repo/s.sh <<'SH'
source "$LIB"
for i in $(seq 50); do log_info "entry $i"; done
ci_flush
wc -l < "$CI_LOG_FILE"
SH
	run bash repo/s.sh
	assert_output 50
}

@test "no entry is lost when the script ends normally, by exit N, under set -e or by a trapped signal" {
	printf 'source "$LIB"\nfor i in $(seq 300); do log_info "n $i"; done\n' > normal.sh
	printf 'source "$LIB"\nfor i in $(seq 300); do log_info "x $i"; done\nexit 3\n' > exit3.sh
	printf 'set -e\nsource "$LIB"\nfor i in $(seq 300); do log_info "e $i"; done\nfalse\nlog_info never\n' > sete.sh
	printf 'source "$LIB"\ntrap "log_error interrupted; exit 130" INT\nfor i in $(seq 300); do log_info "s $i"; done\nkill -INT $$\nsleep 5\n' > signal.sh
	for s in normal exit3 sete signal; do
		export CI_LOG_FILE=$BATS_TEST_TMPDIR/$s.log
		# SIGINT as a shell started from a terminal has it, even when the
		# suite itself runs with it ignored (a background job, some runners).
		run env --default-signal=INT bash "$s.sh"
		case $s in
		normal) assert_success ;;
		exit3) assert_failure 3 ;;
		sete) assert_failure 1 ;;
		signal) assert_failure 130 ;;
		esac
	done
	assert_equal "$(wc -l < normal.log)" 300
	assert_equal "$(wc -l < exit3.log)" 300
	assert_equal "$(wc -l < sete.log)" 300
	assert_equal "$(wc -l < signal.log)" 301
	run entries signal.log
	assert_line --index 300 --regexp "^error main signal.sh:[0-9]+ main interrupted$"
}

@test "an EXIT trap the script set before logging still runs, with the script's status" {
	cat > repo/s.sh <<'SH'
trap 'echo "trap saw $?"' EXIT
source "$LIB"
log_info one
exit 7
SH
	run bash repo/s.sh
	assert_failure 7
	assert_output "trap saw 7"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
}

@test "without a usable coprocess every call runs ci-log once, and nothing is lost" {
	export CI_LOG_BUILTIN=0
	# A ci-log that refuses records mode, as one too old for it would.
	mkdir -p old
	printf '#!/bin/sh\ncase " $* " in *" --records "*) echo "unknown option --records" >&2; exit 2;; esac\necho x >> "%s/starts"\nexec "%s/ci-log" "$@"\n' "$BATS_TEST_TMPDIR" "$CI_BUILD" > old/ci-log
	chmod +x old/ci-log
	printf 'source "$LIB"\nf() { log_warn "w $1"; }\nfor i in 1 2 3; do f $i; done\n' > repo/s.sh
	(cd repo && PATH=$BATS_TEST_TMPDIR/old:$PATH bash s.sh 2>/dev/null)
	assert_equal "$(wc -l < starts)" 3
	run entries
	assert_line --index 2 "warn main s.sh:2 f w 3"
}

@test "entries go to stdout, in order with the script's output, when CI_LOG_FILE is unset" {
	unset CI_LOG_FILE
	printf 'source "$LIB"\nlog_info "to stdout"\necho "script output"\n' > s.sh
	run --separate-stderr bash s.sh
	assert_success
	assert_line --index 0 --partial '"message":"to stdout"'
	assert_line --index 1 "script output"
}

@test "a missing CI_RUN_ID makes a call fail with ci-log's message and status 2" {
	unset CI_RUN_ID
	printf 'set -e\nsource "$LIB"\nlog_info "no run id"\necho "not reached"\n' > s.sh
	run --separate-stderr bash s.sh
	assert_failure 2
	assert_output ""
	[[ $stderr == *"ci-log: CI_RUN_ID is not set"* ]]
}

@test "the ci-* functions the library defines still run the real tools with their status" {
	printf 'source "$LIB"\nci-log -l bogus x\necho "status $?"\nci-runid --check run-20250101-000000-abcdef && echo ok\n' > s.sh
	run --separate-stderr bash s.sh
	assert_output "$(printf 'status 2\nok')"
}

@test "a bare wait returns: the library leaves no job for it to wait for" {
	printf 'source "$LIB"\nlog_info before\nsleep 0.2 &\nwait\nlog_info after\ncmd() { log_info "job $1"; }\ncmd 1 & cmd 2 & wait\necho waited\n' > s.sh
	run --separate-stderr timeout 60 bash s.sh
	assert_success
	assert_output waited
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 4
	validate log-schema.json "$CI_LOG_FILE"
}

@test "a script that redirects descriptors 100 to 110 still logs to the log file, and they keep what it wrote" {
	cat > s.sh <<'SH'
source "$LIB"
log_info "before"
for fd in {100..110}; do eval "exec $fd>\"other.$fd\""; done
log_info "redirected"
for fd in {100..110}; do echo "script $fd" >&$fd; done
( log_info "from a subshell" )
{ log_info "inside a redirection"; } 100>inner
log_info "after"
SH
	run --separate-stderr bash s.sh
	assert_success
	run entries
	assert_output "$(printf '%s\n' "info main s.sh:2 main before" "info main s.sh:4 main redirected" \
		"info main s.sh:6 main from a subshell" "info main s.sh:7 main inside a redirection" "info main s.sh:8 main after")"
	for fd in {100..110}; do
		assert_equal "$(cat "other.$fd")" "script $fd"
	done
	[ ! -s inner ]
}

@test "nothing is lost when the script is killed with SIGKILL while it logs" {
	cat > s.sh <<'SH'
source "$LIB"
log_info "n 1"
echo "${CI__LOG_PID:-}" > logger.pid
for ((i = 2; ; i++)); do
	log_info "n $i"
	((i % 200)) || { echo "$i" > progress.tmp && mv progress.tmp progress; }
done
SH
	bash s.sh & pid=$!
	for ((t = 0; t < 600; t++)); do
		[[ -s progress && $(cat progress) -ge 2000 ]] && break
		sleep 0.1
	done
	kill -KILL "$pid"
	wait "$pid" || true
	done_calls=$(cat progress)
	# In the fallback, ci-log writes what reached its pipe, then ends.
	logger=$(cat logger.pid)
	for ((t = 0; t < 600; t++)); do
		[[ -n $logger ]] && kill -0 "$logger" 2>/dev/null || break
		sleep 0.1
	done
	validate log-schema.json "$CI_LOG_FILE"
	run /usr/bin/python3 -c '
import json, sys
got = [json.loads(l)["message"] for l in open(sys.argv[1])]
want = ["n %d" % i for i in range(1, len(got) + 1)]
print("intact" if got == want and len(got) >= int(sys.argv[2]) else "lost or reordered: %d entries, %s returned" % (len(got), sys.argv[2]))' "$CI_LOG_FILE" "$done_calls"
	assert_output intact
}

@test "a message over 1 MiB is cut into continued entries as filter mode cuts a line, from the main shell and a subshell" {
	cat > s.sh <<'SH'
source "$LIB"
# The first cut falls inside a character: it moves before it.
big=$(head -c 1048575 /dev/zero | tr '\0' a)
m=${big}é${big}é-end
log_info "$m"
( log_info "$m" )
printf '%s\n' "$m" > line.txt
SH
	run --separate-stderr bash s.sh
	assert_success
	assert_equal "$stderr" ""
	validate log-schema.json "$CI_LOG_FILE"
	ci-log -o filter.log < line.txt
	run /usr/bin/python3 -c '
import json, sys
def pieces(path): return [(e["message"], e.get("continued", False)) for e in map(json.loads, open(path))]
lib, flt = pieces(sys.argv[1]), pieces(sys.argv[2])
print(len(lib), len(flt), [len(m.encode()) for m, c in flt], [c for m, c in flt], lib == flt + flt)' "$CI_LOG_FILE" filter.log
	assert_output "6 3 [1048575, 1048576, 7] [True, True, False] True"
}

@test "on a full disk every call whose entry was not written returns 4 and says so once, from the main shell and a subshell" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	cat > s.sh <<'SH'
source "$LIB"
count() {
	local i ok=0 bad=0 first=
	for ((i = 1; i <= $2; i++)); do
		if log_info "$1 $i, long enough to fill a small disk in a few hundred entries"; then
			ok=$((ok + 1))
		else
			bad=$((bad + $?/4)) # 4, not any failure
			first=${first:-$i}
		fi
	done
	echo "$1 ok $ok bad $bad first ${first:-none}"
}
count main 1500
( count sub 500 )
ci_flush
echo "flush $?"
rm "$DISK/filler"
log_info after
echo "after $?"
SH
	run --separate-stderr bash s.sh
	assert_success
	read -r _ _ ok _ bad _ first <<<"${lines[0]}"
	[ "$first" != none ] || fail "the disk never filled: ${lines[0]}"
	assert_equal "$((ok + bad))" 1500
	assert_equal "$first" "$((ok + 1))"
	assert_equal "${lines[1]}" "sub ok 0 bad 500 first 1"
	assert_equal "${lines[2]}" "flush 0"
	assert_equal "${lines[3]}" "after 0"
	# Once per failed call, and nothing else.
	assert_equal "$(sort -u <<<"$stderr")" "ci-log: cannot write to $CI_LOG_FILE: No space left on device"
	assert_equal "$(wc -l <<<"$stderr")" "$((bad + 500))"
	# The calls that returned 0 are exactly the entries written, in order.
	run /usr/bin/python3 -c '
import json, sys
got = []
for l in open(sys.argv[1], "rb").read().split(b"\n"):
    try:
        got.append(json.loads(l)["message"].split(",")[0])
    except ValueError:
        pass
want = ["main %d" % i for i in range(1, int(sys.argv[2]) + 1)] + ["after"]
print("exact" if got == want else got[-3:])' "$CI_LOG_FILE" "$ok"
	assert_output exact
	run lines_check "$CI_LOG_FILE"
	assert_output --regexp '^[0-9]+ entries, [01] torn, ends with a newline$'
}

@test "a subshell that logged still has its standard error" {
	printf 'source "$LIB"\nlog_info main\n( log_info sub; echo "sub stderr" >&2 )\n' > s.sh
	run --separate-stderr bash s.sh
	assert_success
	assert_equal "$stderr" "sub stderr"
}

@test "a script whose standard output reader went away is not killed by SIGPIPE when it logs there" {
	unset CI_LOG_FILE
	printf 'source "$LIB"\nsleep 0.5\nfor i in $(seq 100); do log_info "entry $i"; done\necho "still here $?" >&2\n' > s.sh
	run --separate-stderr bash -c 'bash s.sh | true; echo "status ${PIPESTATUS[0]}"'
	assert_output "status 0"
	assert_equal "$stderr" "still here 0"
	# With a log file under GitHub Actions: the workflow commands go to
	# stderr, never to the closed stdout.
	export CI_LOG_FILE=$BATS_TEST_TMPDIR/ci.log GITHUB_ACTIONS=true
	printf 'source "$LIB"\nsleep 0.5\nfor i in $(seq 100); do log_warn "entry $i"; done\necho "still here $?" >&2\n' > s.sh
	run --separate-stderr bash -c 'bash s.sh | true; echo "status ${PIPESTATUS[0]}"'
	assert_output "status 0"
	[[ $stderr == *"still here 0"* ]] || fail "$stderr"
	[ "$(grep -c '^::warning ' <<<"$stderr")" -ge 10 ]
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 100
}

@test "ci_log LEVEL logs at that level from where it is called, and refuses another level with status 2" {
	printf 'source "$LIB"\nf() { ci_log warn "from" f; }\nf\nci_log debug x\necho "status $?"\n' > s.sh
	run --separate-stderr bash s.sh
	assert_output "status 2"
	assert_equal "$stderr" 'ci-log: ci_log: "debug" is not a level (expected info, warn or error)'
	run entries
	assert_output "warn main s.sh:2 f from f"
}

@test "ci-step, ci-testpar and ci-deploy called through the library name the caller's file and line, and their commands do not inherit it" {
	git init -q .
	mkdir ci
	cat > ci/build.sh <<-SH
	source "$LIB"
	build() {
		ci-step build -- sh -c 'echo "\${CI_CALLER_FILE-none}" > inherited'
	}
	build
	ci-testpar -j 2 --max-load 0 --min-free-mb 0 unit=true
	SH
	run bash ci/build.sh
	assert_success
	run jq -r '"\(.step_name) \(.source_file):\(.line_number) \(.function_name)"' "$CI_LOG_FILE"
	assert_line --index 0 "build ci/build.sh:3 ci-step"
	assert_line --index 1 "build ci/build.sh:3 ci-step"
	assert_line --index 2 "test-unit ci/build.sh:6 ci-testpar"
	assert_equal "$(cat inherited)" none
}

@test "a step name that holds a tab does not cost the entry, from the main shell or a subshell" {
	printf 'source "$LIB"\nlog_info first\nCI_STEP=$(printf "a\\tb") log_info x\n( log_info sub; CI_STEP=$(printf "a\\tb") log_info y )\n' > s.sh
	run --separate-stderr bash s.sh
	assert_success
	assert_equal "$stderr" ""
	run jq -r '[.message, .step_name] | @json' "$CI_LOG_FILE"
	# The builtins keep the tab; a record of the fallback has no escape
	# for it in the step field, and writes a space.
	assert_line --index 1 --regexp '^\["x","a(\\t| )b"\]$'
	assert_line --index 3 --regexp '^\["y","a(\\t| )b"\]$'
}
