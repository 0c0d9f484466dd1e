#!/usr/bin/env bats
# ci-log: one entry per call, per stdin line or per record; destinations,
# atomic appends, escaping, echo, GitHub commands, retention, bad input.
load helpers/common
load helpers/disk

setup() {
	common_setup
	new_run
}

teardown() {
	small_disk_free
}

# field FILE LINE KEY: a field of the LINE-th entry (1-based), via python.
field() {
	/usr/bin/python3 -c '
import json, sys
e = json.loads(open(sys.argv[1], encoding="utf-8").read().split("\n")[int(sys.argv[2]) - 1])
v = e.get(sys.argv[3], "<absent>")
print(v if isinstance(v, str) else json.dumps(v))' "$@"
}

@test "one call appends one entry that validates, with run id, step and source location" {
	run --separate-stderr ci-log -l warn -s build --source scripts/build.sh --line 42 --function compile "disk almost full"
	assert_success
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
	validate log-schema.json "$CI_LOG_FILE"
	assert_equal "$(field "$CI_LOG_FILE" 1 level)" warn
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" "disk almost full"
	assert_equal "$(field "$CI_LOG_FILE" 1 run_id)" "$CI_RUN_ID"
	assert_equal "$(field "$CI_LOG_FILE" 1 step_name)" build
	assert_equal "$(field "$CI_LOG_FILE" 1 source_file)" scripts/build.sh
	assert_equal "$(field "$CI_LOG_FILE" 1 line_number)" 42
	assert_equal "$(field "$CI_LOG_FILE" 1 function_name)" compile
	assert_equal "$(field "$CI_LOG_FILE" 1 duration_ms)" "<absent>"
}

@test "the timestamp is now, in UTC with milliseconds" {
	before=$(date -u +%s)
	TZ=America/New_York ci-log hello
	after=$(date -u +%s)
	ts=$(field "$CI_LOG_FILE" 1 timestamp)
	[[ $ts =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
	t=$(date -u -d "${ts%.*}Z" +%s)
	[ "$t" -ge "$before" ]
	[ "$t" -le "$after" ]
}

@test "the message is the arguments joined by spaces; --duration-ms is recorded" {
	ci-log --duration-ms 1500 -s build finished in "1.5 s"
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" "finished in 1.5 s"
	assert_equal "$(field "$CI_LOG_FILE" 1 duration_ms)" 1500
	validate log-schema.json "$CI_LOG_FILE"
}

@test "the step comes from -s, else CI_STEP, else main" {
	CI_STEP=lint ci-log a
	CI_STEP=lint ci-log -s build b
	ci-log c
	assert_equal "$(field "$CI_LOG_FILE" 1 step_name)" lint
	assert_equal "$(field "$CI_LOG_FILE" 2 step_name)" build
	assert_equal "$(field "$CI_LOG_FILE" 3 step_name)" main
}

@test "without source flags the entry names the calling script, line 1 and main" {
	printf '#!/bin/bash\nci-log from a script\n' > caller.sh
	bash ./caller.sh
	assert_equal "$(field "$CI_LOG_FILE" 1 source_file)" ./caller.sh
	assert_equal "$(field "$CI_LOG_FILE" 1 line_number)" 1
	assert_equal "$(field "$CI_LOG_FILE" 1 function_name)" main
	sh -c 'ci-log from an inline script'
	assert_equal "$(field "$CI_LOG_FILE" 2 source_file)" sh
}

@test "the destination is -o, else CI_LOG_FILE, else stdout" {
	ci-log -o other.log to-other
	assert_equal "$(wc -l < other.log)" 1
	[ ! -e "$CI_LOG_FILE" ]
	ci-log to-env
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
	unset CI_LOG_FILE
	run --separate-stderr ci-log to-stdout
	assert_success
	echo "$output" > out.json
	validate log-schema.json out.json
	assert_equal "$(field out.json 1 message)" to-stdout
	CI_LOG_FILE=x.log run --separate-stderr ci-log -o - explicit
	[[ $output == *'"message":"explicit"'* ]]
	[ ! -e x.log ]
}

@test "a missing log directory is created and an existing file is appended to" {
	ci-log -o deep/er/logs/ci.log first
	printf 'kept line\n' >> deep/er/logs/ci.log
	ci-log -o deep/er/logs/ci.log second
	assert_equal "$(sed -n 2p deep/er/logs/ci.log)" "kept line"
	assert_equal "$(wc -l < deep/er/logs/ci.log)" 3
	assert_equal "$(field deep/er/logs/ci.log 3 message)" second
}

@test "an entry waits for another writer's append under way, and is not taken for a torn one" {
	# A writer stopped half-way through its entry (a busy machine) holds
	# the lock, as ci-log's own appends do; the file ends without a newline.
	ci-log -o whole.log first
	line=$(cat whole.log)
	mkdir -p "$(dirname "$CI_LOG_FILE")"
	printf '%s' "${line:0:40}" > "$CI_LOG_FILE"
	(
		flock 9
		touch held
		for i in $(seq 600); do [ -e started ] && break; sleep 0.05; done
		sleep 1
		printf '%s\n' "${line:40}" >&9
	) 9>>"$CI_LOG_FILE" 3>&- &
	writer=$!
	for i in $(seq 600); do [ -e held ] && break; sleep 0.05; done
	touch started
	ci-log second
	wait "$writer"
	validate log-schema.json "$CI_LOG_FILE"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 2
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" first
	assert_equal "$(field "$CI_LOG_FILE" 2 message)" second
}

@test "16 processes writing 5,000 entries each into one file leave 80,000 whole lines" {
	for w in $(seq 16); do
		awk -v w="$w" 'BEGIN { for (i = 1; i <= 5000; i++) printf "writer %d entry %d %s\n", w, i, "padding-padding-padding-padding-padding-padding" }' |
			ci-log -s "w$w" &
	done
	wait
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 80000
	run /usr/bin/python3 -c '
import json, sys, collections
seen = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    seen[e["step_name"]] += 1
print(len(seen), set(seen.values()))' "$CI_LOG_FILE"
	assert_output "16 {5000}"
	# The schema on a sample: every 97th line.
	awk 'NR % 97 == 1' "$CI_LOG_FILE" > sample.log
	validate log-schema.json sample.log
}

@test "filter mode: each stdin line becomes one entry, and the last line without a newline is not lost" {
	printf 'one\ntwo\n\nlast without newline' | ci-log -s build -l warn
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 4
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" one
	assert_equal "$(field "$CI_LOG_FILE" 3 message)" ""
	assert_equal "$(field "$CI_LOG_FILE" 4 message)" "last without newline"
	assert_equal "$(field "$CI_LOG_FILE" 4 level)" warn
	validate log-schema.json "$CI_LOG_FILE"
}

@test "--tee copies stdin to stdout unchanged while logging" {
	printf 'a\r\nb\x00c\n\xff\xfe tail' > input.bin
	ci-log --tee < input.bin > copy.bin
	cmp input.bin copy.bin
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 3
}

@test "CR, NUL, control characters and invalid UTF-8 make valid JSON, as documented" {
	printf 'crlf\r\nnul\x00byte\nbell\x07 esc\x1b[31m del\x7f\nbad \xff\xc3\x28 end\ngood \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\nover \xe0\x80\xaf long\nsurrogate \xed\xa0\x80\n' | ci-log
	validate log-schema.json "$CI_LOG_FILE"
	run /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1], "rb"):
    line.decode("utf-8")  # strict: the file is valid UTF-8
    print(ascii(json.loads(line)["message"]))' "$CI_LOG_FILE"
	assert_line --index 0 "'crlf'"
	assert_line --index 1 "'nul\\x00byte'"
	assert_line --index 2 "'bell\\x07 esc\\x1b[31m del\\x7f'"
	assert_line --index 3 "'bad \\ufffd\\ufffd( end'"
	assert_line --index 4 "'good \\xe9\\u20ac\\U0001f600'"
	assert_line --index 5 "'over \\ufffd\\ufffd\\ufffd long'"
	assert_line --index 6 "'surrogate \\ufffd\\ufffd\\ufffd'"
	# Escaped, never raw, in the file.
	run grep -c $'\x1b' "$CI_LOG_FILE"
	assert_output 0
}

@test "a line of 1 MiB stays one entry; a longer one is split into pieces marked continued" {
	/usr/bin/python3 -c '
import sys
sys.stdout.write("a" * (1 << 20) + "\n")
# 2.5 MiB of two-byte characters: pieces must not cut one in half.
sys.stdout.write("é" * (5 << 18) + "\n")
sys.stdout.write("after\n")' | ci-log
	validate log-schema.json "$CI_LOG_FILE"
	run /usr/bin/python3 -c '
import json, sys
es = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
print(len(es))
print(len(es[0]["message"]), es[0].get("continued"))
pieces = es[1:-1]
print(len(pieces), [p.get("continued") for p in pieces])
print("".join(p["message"] for p in pieces) == "é" * (5 << 18))
print(max(len(p["message"].encode()) for p in pieces) <= 1 << 20)
print(es[-1]["message"])' "$CI_LOG_FILE"
	assert_output "$(printf '%s\n' 5 "1048576 None" "3 [True, True, None]" True True after)"
}

@test "memory stays bounded on a 64 MiB line and a 64 MiB stream" {
	command -v /usr/bin/time >/dev/null || skip "/usr/bin/time (Debian package time) is not installed"
	head -c 67108864 /dev/zero | tr '\0' 'x' > long.txt
	/usr/bin/time -f %M -o rss1 ci-log -o long.log < long.txt
	yes 'a line of text that repeats' | head -c 67108864 > many.txt
	/usr/bin/time -f %M -o rss2 ci-log -o many.log < many.txt
	assert_equal "$(wc -l < long.log)" 64
	# Resident size in KiB: well under the input size.
	[ "$(cat rss1)" -lt 16384 ]
	[ "$(cat rss2)" -lt 16384 ]
}

@test "records mode logs tab-separated records with escapes and defaults for empty fields" {
	printf 'error\tlint\tscripts/lint.sh\t12\trun_lint\ttabs\\there\\nand \\\\ backslash\twith a raw tab\n\t\t\t\t\tall defaults\n' |
		ci-log --records -s default-step --function deffn
	validate log-schema.json "$CI_LOG_FILE"
	assert_equal "$(field "$CI_LOG_FILE" 1 level)" error
	assert_equal "$(field "$CI_LOG_FILE" 1 step_name)" lint
	assert_equal "$(field "$CI_LOG_FILE" 1 source_file)" scripts/lint.sh
	assert_equal "$(field "$CI_LOG_FILE" 1 line_number)" 12
	assert_equal "$(field "$CI_LOG_FILE" 1 function_name)" run_lint
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" $'tabs\there\nand \\ backslash\twith a raw tab'
	assert_equal "$(field "$CI_LOG_FILE" 2 level)" info
	assert_equal "$(field "$CI_LOG_FILE" 2 step_name)" default-step
	assert_equal "$(field "$CI_LOG_FILE" 2 function_name)" deffn
	assert_equal "$(field "$CI_LOG_FILE" 2 line_number)" 1
}

@test "records mode reports a malformed record with its line number, skips it and logs the rest" {
	printf 'info\ts\tf\t1\tfn\tgood one\nonly\ttwo fields\ndebug\ts\tf\t1\tfn\tbad level\ninfo\ts\tf\tzero\tfn\tbad line\ninfo\ts\tf\t3\tfn\tgood two\n' > records.txt
	run --separate-stderr ci-log --records < records.txt
	assert_failure 2
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 2
	assert_equal "$(field "$CI_LOG_FILE" 2 message)" "good two"
	assert_equal "${stderr_lines[0]}" "ci-log: input line 2: 2 fields, expected 6 separated by tabs (level, step, source, line, function, message); record skipped"
	assert_equal "${stderr_lines[1]}" 'ci-log: input line 3: level "debug" is not info, warn or error; record skipped'
	assert_equal "${stderr_lines[2]}" 'ci-log: input line 4: line "zero" is not a line number (>= 1); record skipped'
	assert_equal "${stderr_lines[3]}" "ci-log: 3 malformed records skipped"
}

@test "records mode with no input under GitHub Actions writes nothing and exits 0" {
	# Found by fuzz/records.c: showing no held annotation counted from a
	# null pointer (a report of clang's UBSan in a sanitize build).
	run --separate-stderr env GITHUB_ACTIONS=true ci-log --records </dev/null
	assert_success
	assert_equal "$stderr" ""
	[ ! -s "$CI_LOG_FILE" ]
}

@test "records mode with --ack-fd says ready, then answers each empty line once what came before is written" {
	coproc LOGGER { exec ci-log --records --ack-fd 3 3>&1 1>/dev/null; }
	pid=$LOGGER_PID
	read -r -u "${LOGGER[0]}" ready
	assert_equal "$ready" ready
	printf 'info\ts\tf\t1\tfn\tbefore sync\n\n' >&"${LOGGER[1]}"
	read -r -u "${LOGGER[0]}" ack
	assert_equal "$ack" sync
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" "before sync"
	fd=${LOGGER[1]}
	exec {fd}>&-
	wait "$pid"
}

@test "records mode: a record that begins with ? is answered once its entry is written, on --ack-fd or on the named pipe; a malformed one with fail" {
	mkfifo answers
	exec {keep}<>answers # a reader, so that ci-log's answer is not dropped
	coproc LOGGER { exec ci-log --records --ack-fd 3 3>&1 1>/dev/null; }
	pid=$LOGGER_PID
	read -r -u "${LOGGER[0]}" ready
	printf '?\tinfo\ts\tf\t1\tfn\tasked\n' >&"${LOGGER[1]}"
	read -r -t 60 -u "${LOGGER[0]}" ack
	assert_equal "$ack" sync
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" asked
	printf '?%s\tinfo\ts\tf\t2\tfn\ton a pipe\n' "$PWD/answers" >&"${LOGGER[1]}"
	read -r -t 60 -u "$keep" ack
	assert_equal "$ack" sync
	assert_equal "$(field "$CI_LOG_FILE" 2 message)" "on a pipe"
	printf '?%s\tdebug\ts\tf\t3\tfn\tmalformed\n' "$PWD/answers" >&"${LOGGER[1]}"
	read -r -t 60 -u "$keep" ack
	assert_equal "$ack" fail
	# A path that is not a pipe is not written to, and gets no answer.
	echo keep > plain
	printf '?%s\tinfo\ts\tf\t4\tfn\tto a file\n\n' "$PWD/plain" >&"${LOGGER[1]}"
	read -r -t 60 -u "${LOGGER[0]}" ack
	assert_equal "$ack" sync
	assert_equal "$(cat plain)" keep
	assert_equal "$(field "$CI_LOG_FILE" 3 message)" "to a file"
	fd=${LOGGER[1]}
	exec {fd}>&-
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 2 # the malformed record
}

@test "records mode on a full disk: each record that asked is answered fail and said once, and the empty line after them sync" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	head -c 1048576 /dev/zero > "$DISK/more" 2>/dev/null || true
	coproc LOGGER { exec ci-log --records --ack-fd 3 3>&1 1>/dev/null 2>"$BATS_TEST_TMPDIR/err"; }
	pid=$LOGGER_PID
	read -r -u "${LOGGER[0]}" ready
	for i in 1 2 3; do
		printf '?\tinfo\ts\tf\t1\tfn\tentry %s\n' "$i" >&"${LOGGER[1]}"
		read -r -t 60 -u "${LOGGER[0]}" ack
		assert_equal "$ack" fail
	done
	printf '\n' >&"${LOGGER[1]}"
	read -r -t 60 -u "${LOGGER[0]}" ack
	assert_equal "$ack" sync
	fd=${LOGGER[1]}
	exec {fd}>&-
	rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 4
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" "$(printf 'ci-log: cannot write to %s: No space left on device\n' "$CI_LOG_FILE" "$CI_LOG_FILE" "$CI_LOG_FILE")"
}

@test "in filter mode SIGINT does not stop it before its input ends" {
	# The line comes only after the signal was sent; the signal is sent once
	# ci-log runs and ignores SIGINT (its own pid, not a name another test
	# may share).
	{
		for _ in $(seq 1200); do [ -e sent ] && break; sleep 0.05; done
		echo "late line"
	} | env --default-signal=INT ci-log -s sig 3>&- &
	pid=$!
	for _ in $(seq 1200); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = ci-log ] &&
			((16#$(sed -n "s/^SigIgn:[[:space:]]*//p" "/proc/$pid/status") & 2)) && break
		sleep 0.05
	done
	kill -INT "$pid"
	touch sent
	wait "$pid"
	assert_equal "$(field "$CI_LOG_FILE" 1 message)" "late line"
}

@test "in filter mode SIGTERM ends it when its input is a file or a device, not a pipe" {
	for input in /dev/zero "$BATS_TEST_TMPDIR/big"; do
		[ "$input" = /dev/zero ] || truncate -s 100G "$input" # sparse: reads as zeros
		env --default-signal=TERM ci-log -s sig -o out.log < "$input" 3>&- &
		pid=$!
		for _ in $(seq 100); do [ -s out.log ] && break; sleep 0.1; done
		kill -TERM "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			fail "ci-log reading $input went on for 10 s after SIGTERM"
		fi
		rc=0
		wait "$pid" || rc=$?
		assert_equal "$rc" 143
		rm -f out.log
	done
}

@test "a human echo goes to stderr when it is a terminal and the destination a file" {
	# A terminal that shows colour, whatever the caller's TERM and NO_COLOR.
	export TERM=xterm
	unset NO_COLOR
	run script -qec "ci-log -l error -s build 'it broke'" /dev/null
	assert_success
	[[ $output == *$'\e[31mERROR'*"build: it broke"* ]]
	run script -qec "NO_COLOR=1 ci-log -l warn -s build careful" /dev/null
	[[ $output == *"WARN  build: careful"* ]]
	[[ $output != *$'\e['* ]]
	run script -qec "TERM=dumb ci-log -l warn -s build plain" /dev/null
	[[ $output == *"WARN  build: plain"* ]]
	[[ $output != *$'\e['* ]]
	run script -qec "ci-log --quiet quiet one" /dev/null
	assert_output ""
	run --separate-stderr ci-log not a terminal
	assert_equal "$stderr" ""
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 5
}

@test "under GitHub Actions a command substitution never takes a workflow command for output" {
	export GITHUB_ACTIONS=true
	getver() { ci-log -l warn -s build "computing version"; echo 1.2.3; }
	v=$(getver 2>/dev/null)
	assert_equal "$v" "1.2.3"
	run --separate-stderr getver
	# Called straight from a script: its file, but no line is known.
	[[ $stderr == "::warning file="*",title=build::computing version" ]] || fail "$stderr"
	[[ $stderr != *line=* ]] || fail "$stderr"
}

@test "under GitHub Actions warnings and errors also print workflow commands, escaped" {
	export GITHUB_ACTIONS=true
	run --separate-stderr ci-log -l error -s "build, step: 2" --source "src/a,b:c.sh" --line 7 $'100% broken\r\nreally'
	assert_success
	assert_output ""
	assert_equal "$stderr" "::error file=src/a%2Cb%3Ac.sh,line=7,title=build%2C step%3A 2::100%25 broken%0D%0Areally"
	run --separate-stderr ci-log -l warn -s lint --source x.sh "a: b, c"
	# A file without --line: the annotation names the file, not a line 1
	# that nobody gave.
	assert_equal "$stderr" "::warning file=x.sh,title=lint::a: b, c"
	run --separate-stderr ci-log -l info -s lint "no command for info"
	assert_output ""
	assert_equal "$stderr" ""
	# With entries on stdout too, the command goes to stderr.
	unset CI_LOG_FILE
	run --separate-stderr ci-log -l error -s s oops
	[[ $stderr == "::error file="*"::oops" ]]
	[[ $output == "{"* ]]
}

@test "--prune keeps the newest, removes old ones and never the current file or other names" {
	mkdir logs
	for d in 1 2 3 4 5 6; do
		touch -d "$d days ago" "logs/ci-2025010${d}_000000.log"
	done
	touch -d "40 days ago" logs/ci-current.log logs/notes.log logs/ci-keep.txt
	mkdir logs/ci-dir.log
	ln -s ci-20250106_000000.log logs/ci-link.log
	export CI_LOG_FILE=$PWD/logs/ci-current.log
	run --separate-stderr ci-log --prune --keep 3 --max-age 5
	assert_success
	assert_output "$(printf 'removed %s\n' "$PWD/logs/ci-20250103_000000.log" "$PWD/logs/ci-20250104_000000.log" "$PWD/logs/ci-20250105_000000.log" "$PWD/logs/ci-20250106_000000.log")"
	[ -e logs/ci-current.log ]
	[ -e logs/ci-20250101_000000.log ]
	[ -e logs/ci-20250102_000000.log ]
	[ -e logs/notes.log ]
	[ -e logs/ci-keep.txt ]
	[ -d logs/ci-dir.log ]
	[ -L logs/ci-link.log ]
}

@test "--prune in a directory without log files removes nothing and succeeds" {
	mkdir empty
	touch empty/notes.txt
	run --separate-stderr ci-log --prune --dir empty
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "--prune removes by age alone and does nothing without a log directory" {
	mkdir old
	touch -d "10 days ago" old/ci-a.log
	touch old/ci-b.log
	run ci-log --prune --dir old --max-age 7
	assert_output "removed old/ci-a.log"
	run ci-log --prune --dir missing
	assert_success
	assert_output ""
}

@test "exits 2 on an unknown level and writes nothing" {
	run --separate-stderr ci-log -l debug hello
	assert_failure 2
	assert_equal "$stderr" "ci-log: -l: \"debug\" is not a level (expected info, warn or error) (see 'ci-log --help')"
	[ ! -e "$CI_LOG_FILE" ]
}

@test "exits 2 when CI_RUN_ID is missing or malformed, naming it" {
	unset CI_RUN_ID
	run --separate-stderr ci-log hello
	assert_failure 2
	assert_equal "$stderr" "ci-log: CI_RUN_ID is not set (mint one with: eval \"\$(ci-runid --env)\")"
	CI_RUN_ID=run-2025-bad run --separate-stderr ci-log hello
	assert_failure 2
	assert_equal "$stderr" 'ci-log: CI_RUN_ID: "run-2025-bad" is not of the form run-YYYYMMDD-HHMMSS-xxxxxx'
	[ ! -e "$CI_LOG_FILE" ]
}

@test "exits 2 on --line 0 and --line x" {
	run --separate-stderr ci-log --line 0 hello
	assert_failure 2
	[[ $stderr == 'ci-log: --line: "0" is out of range (expected a whole number from 1 to 2147483647)'* ]]
	run --separate-stderr ci-log --line x hello
	assert_failure 2
	[[ $stderr == 'ci-log: --line: "x" is not a number'* ]]
	[ ! -e "$CI_LOG_FILE" ]
}

@test "exits 2 when the destination cannot be opened, and 4 when its directory cannot be made" {
	mkdir is-a-dir
	run --separate-stderr ci-log -o is-a-dir hello
	assert_failure 2
	assert_equal "$stderr" "ci-log: cannot open log file is-a-dir: Is a directory"
	touch plain-file
	run --separate-stderr ci-log -o plain-file/logs/ci.log hello
	assert_failure 4
	assert_equal "$stderr" "ci-log: cannot create log directory plain-file/logs: Not a directory"
	assert_equal "$(stat -c %s plain-file)" 0
}

@test "exits 2 when standard input cannot be read" {
	run --separate-stderr ci-log < /
	assert_failure 2
	assert_equal "$stderr" "ci-log: standard input: Is a directory"
}

@test "exits 4 when the log file cannot be written" {
	run --separate-stderr ci-log -o /dev/full hello
	assert_failure 4
	assert_equal "$stderr" "ci-log: cannot write to /dev/full: No space left on device"
}

@test "options that do not go together are usage errors" {
	run --separate-stderr ci-log --duration-ms 5 < /dev/null
	assert_failure 2
	[[ $stderr == *"--duration-ms goes with a MESSAGE"* ]]
	run --separate-stderr ci-log --tee -o - < /dev/null
	assert_failure 2
	[[ $stderr == *"--tee needs a log file"* ]]
	run --separate-stderr ci-log --records hello
	assert_failure 2
	run --separate-stderr ci-log --ack-fd 1 hello
	assert_failure 2
	[[ $stderr == *"--ack-fd goes with --records"* ]]
	run --separate-stderr ci-log --records --ack-fd 77
	assert_failure 2
	[[ $stderr == *"--ack-fd: descriptor 77 is not open"* ]]
	run --separate-stderr ci-log --keep 3 hello
	assert_failure 2
	run --separate-stderr ci-log --prune hello
	assert_failure 2
	run --separate-stderr ci-log -s "" hello
	assert_failure 2
	[ ! -e "$CI_LOG_FILE" ]
}

@test "-h prints the usage, --version the version, and unknown options exit 2" {
	run ci-log -h
	assert_success
	assert_line --index 0 --partial "usage: ci-log [-q] [--tee]"
	run ci-log --version
	[[ $output =~ ^ci-log\ [0-9.]+$ ]]
	run --separate-stderr ci-log --bogus
	assert_failure 2
	assert_equal "$stderr" "ci-log: --bogus: unknown option (see 'ci-log --help')"
	run --separate-stderr ci-log -l
	assert_failure 2
	assert_equal "$stderr" "ci-log: -l: missing argument (see 'ci-log --help')"
}

@test "a closed stdout ends it quietly, and --tee into a closed pipe keeps logging" {
	unset CI_LOG_FILE
	run --separate-stderr bash -c 'ci-log hello | true'
	assert_success
	assert_equal "$stderr" ""
	export CI_LOG_FILE=$BATS_TEST_TMPDIR/tee.log
	run --separate-stderr bash -c 'set -o pipefail; seq 200000 | ci-log --tee | head -n 1'
	assert_success
	assert_output 1
	assert_equal "$stderr" ""
	assert_equal "$(wc -l < tee.log)" 200000
}

@test "filter mode makes a compiler's diagnostics located entries at their level, and shows each line once with --tee" {
	git init -q .
	printf 'int main(void)\n{\n\tint unused;\n\treturn 0;\n}\n' > w.c
	gcc -Wall -fdiagnostics-plain-output -fsyntax-only w.c 2>&1 | ci-log -s build
	run jq -r 'select(.level == "warn") | [.source_file, (.line_number | tostring), .message] | join(" | ")' "$CI_LOG_FILE"
	assert_output "w.c | 3 | unused variable ‘unused’ [-Wunused-variable]"
	run jq -r 'select(.level == "info") | .message' "$CI_LOG_FILE"
	assert_line --index 0 "w.c: In function ‘main’:"
	validate log-schema.json "$CI_LOG_FILE"
	export TERM=xterm
	unset NO_COLOR
	printf 'x=marker\necho "a.c:1: warning: once-$x"\n' > gen.sh
	run script -qec "sh gen.sh | ci-log --tee -s build" /dev/null
	assert_equal "$(grep -c once-marker <<<"$output")" 1
}

@test "CI_MASK: the named variables' values are *** in entries, echoes, --tee and annotations; ci-runid --env has the runner mask them too" {
	export DEPLOY_TOKEN=tok-5f3a9c1e SHORT=abc CI_MASK=DEPLOY_TOKEN,SHORT,UNSET_ONE
	ci-log "with $DEPLOY_TOKEN inside, twice: $DEPLOY_TOKEN; abc stays"
	printf 'piped %s\n' "$DEPLOY_TOKEN" | ci-log --tee -s build > tee.out
	run --separate-stderr env GITHUB_ACTIONS=true ci-log -l error "gh $DEPLOY_TOKEN"
	echo "$stderr" > annotation.out
	export TERM=xterm
	script -qec "ci-log -l warn 'echoed $DEPLOY_TOKEN'" /dev/null > echo.out
	run grep -rl "$DEPLOY_TOKEN" "$CI_LOG_FILE" tee.out annotation.out echo.out
	assert_failure
	run jq -r .message "$CI_LOG_FILE"
	assert_line --index 0 "with *** inside, twice: ***; abc stays"
	assert_line --index 1 "piped ***"
	assert_equal "$(cat tee.out)" "piped ***"
	[[ $(cat annotation.out) == *"::gh ***" ]] || fail "$(cat annotation.out)"
	[[ $(cat echo.out) == *"echoed ***"* ]] || fail "$(cat echo.out)"
	run --separate-stderr env GITHUB_ACTIONS=true ci-runid --env
	assert_equal "$stderr" "::add-mask::$DEPLOY_TOKEN"
	run --separate-stderr ci-runid --env
	assert_equal "$stderr" ""
}

@test "on a full disk the entry that fails is reported with exit 4, and the next one starts on a line of its own" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	run --separate-stderr ci-log < <(for i in $(seq 3000); do echo "line $i, long enough to fill a small disk in a few hundred entries"; done)
	assert_failure 4
	assert_equal "$stderr" "ci-log: cannot write to $CI_LOG_FILE: No space left on device"
	run ci-log -q "while full"
	assert_failure 4
	rm "$DISK/filler"
	run ci-log -q after
	assert_success
	run lines_check "$CI_LOG_FILE"
	# At most the entries that were reported failed are torn, and "after"
	# is whole, on its own line.
	assert_output --regexp '^[0-9]+ entries, [01] torn, ends with a newline$'
	run /usr/bin/python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["message"])' "$CI_LOG_FILE"
	assert_output after
}

@test "--stderr-level: a command's stderr lines at that level, said to be stderr, diagnostics at their own" {
	run ci-log -s build --stderr-level warn <<<$'src/a.c:3:7: error: no such member\nmake: *** [all] Error 1'
	assert_success
	run jq -r '"\(.level) \(.source_file):\(.line_number) \(.message)"' "$CI_LOG_FILE"
	assert_line --index 0 "error src/a.c:3 no such member"
	assert_line --index 1 --regexp '^warn .*:1 stderr: make: \*\*\* \[all\] Error 1$'
	run --separate-stderr ci-log --stderr-level loud </dev/null
	assert_failure 2
	assert_equal "$stderr" "ci-log: --stderr-level: \"loud\" is not a level (expected info, warn or error) (see 'ci-log --help')"
	run --separate-stderr ci-log --stderr-level warn -l info </dev/null
	assert_failure 2
	run --separate-stderr ci-log --stderr-level warn "a message"
	assert_failure 2
	validate log-schema.json "$CI_LOG_FILE"
}
