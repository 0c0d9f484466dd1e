#!/usr/bin/env bats
# ci_sh.so (tools/ci_sh.c): the shell library's log_info, log_warn and
# log_error as bash builtins. What both ways of the library share is in
# ci-sh.bats; here, what is the builtins' own: how they are found and
# refused, entries byte for byte as ci-log writes them, concurrent writers,
# a full disk, the build and the install.
load helpers/common
load helpers/disk

setup() {
	common_setup
	[ -f "$CI_BUILD/ci_sh.so" ] || skip "ci_sh.so not built (Debian package bash-builtins)"
	unset CI_LOG_BUILTIN
	new_run
	LIB=$REPO/scripts/lib/ci.sh
	export LIB
}

teardown() {
	small_disk_free
}

# A copy of the sources to build in, so that the tree under test is untouched.
copy_tree() {
	mkdir -p src
	cp -r "$REPO"/Makefile "$REPO"/lib "$REPO"/tools "$REPO"/man "$REPO"/scripts "$REPO"/contracts src/
}

@test "the library loads the builtins beside the ci-log on PATH, and CI_LOG_BUILTIN=0 keeps the coprocess" {
	printf 'source "$LIB"\necho "$(type -t log_info) $(type -t log_warn) $(type -t log_error) $(type -t ci_log)"\n' > s.sh
	run --separate-stderr bash s.sh
	assert_success
	assert_output "builtin builtin builtin builtin"
	assert_equal "$stderr" ""
	CI_LOG_BUILTIN=0 run --separate-stderr bash s.sh
	assert_output "function function function function"
	# Found from the library's own place too, with no ci-log on PATH: a
	# source tree's build/, under set -u.
	mkdir -p tree/scripts/lib tree/build
	cp "$LIB" tree/scripts/lib/ci.sh
	cp "$CI_BUILD/ci_sh.so" tree/build/
	printf 'set -u\nsource tree/scripts/lib/ci.sh\ntype -t log_info\n' > t.sh
	PATH=/usr/bin:/bin run --separate-stderr bash t.sh
	assert_output builtin
	assert_equal "$stderr" ""
	rm tree/build/ci_sh.so
	PATH=/usr/bin:/bin run --separate-stderr bash t.sh
	assert_output function
	assert_equal "$stderr" ""
}

@test "entries are byte for byte ci-log's for every byte 1-255 and invalid UTF-8, workflow commands included" {
	cat > s.sh <<'SH'
source "$LIB"
all=$(printf "$(printf '\\%03o' {1..255})")
bad=$'\xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80 \xe2\x82 \xc0\xaf \xf4\x90\x80\x80 end\xe2'
export CI_STEP=$'st\x01ep "q"'
for m in "$all" "$bad" $'\e[31mred\e[0m' 'plain'; do
	for level in info warn error; do
		log_$level "$m"; command ci-log -l "$level" --source s.sh --line "$LINENO" --function main -- "$m"
	done
done
SH
	GITHUB_ACTIONS=true run --separate-stderr bash s.sh
	assert_success
	# Each workflow command twice in a row, on stderr: once from each writer.
	mapfile -t lines <<<"$stderr"
	assert_equal "${#lines[@]}" 16
	for ((i = 0; i < 16; i += 2)); do
		assert_equal "${lines[i]}" "${lines[i + 1]}"
	done
	[[ ${lines[0]} == "::warning file=s.sh,line=7,title=st"$'\x01'"ep \"q\"::"$'\x01'* ]]
	run /usr/bin/python3 -c '
import re, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
masked = [re.sub(rb"^\{\"timestamp\":\"[^\"]*\"", b"T", l) for l in lines]
pairs = list(zip(masked[0::2], masked[1::2]))
print(len(lines), sum(a == b for a, b in pairs), "pairs identical")' "$CI_LOG_FILE"
	assert_output "24 12 pairs identical"
	validate log-schema.json "$CI_LOG_FILE"
}

@test "under GitHub Actions 10 annotations of each level, subshells included, then at exit one notice of the rest, as ci-log gives them" {
	cat > s.sh <<'SH'
source "$LIB"
for i in $(seq 13); do log_error "error $i"; done
( log_error "from a subshell"; log_warn "warning 1" )
log_warn "warning 2" &
wait
for i in $(seq 3 12); do log_warn "warning $i"; done
exit 3
SH
	GITHUB_ACTIONS=true run -3 --separate-stderr bash s.sh
	local builtin=$stderr notice
	mapfile -t lines <<<"$stderr"
	notice=${lines[20]}
	assert_equal "${#lines[@]}" 21
	assert_equal "$(grep -c '^::error file=s.sh,line=2,title=main::error ' <<<"$stderr")" 10
	assert_equal "$(grep -c '^::warning file=s.sh,' <<<"$stderr")" 10
	assert_equal "$notice" "::notice title=main::4 more errors and 2 more warnings of this step are not shown here; every one is in the log: ci-report --run $CI_RUN_ID $CI_LOG_FILE"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 26
	# ci-log itself (the library's other way) shows the same lines, errors
	# first, the notice last.
	CI_LOG_BUILTIN=0 GITHUB_ACTIONS=true run -3 --separate-stderr bash s.sh
	assert_equal "$(sort <<<"$stderr")" "$(sort <<<"$builtin")"
	assert_equal "${stderr##*$'\n'}" "$notice"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 52
}

@test "the log file stays open between calls, never for the commands the script runs, and the script's own descriptors 3 to 9 replace it" {
	cat > s.sh <<'SH'
source "$LIB"
log_info "first"
echo "shell $(ls -l /proc/$$/fd | grep -c '/ci\.log$')"
echo "command $(ls -l /proc/self/fd | grep -c '/ci\.log$')"
n=$(ls -l /proc/$$/fd | awk '/\/ci\.log$/ { print $9 }')
eval "exec $n>taken"
echo "script" >&$n
log_info "number taken"
echo "script again" >&$n
for fd in {3..9}; do eval "exec $fd>\"other.$fd\""; done
log_info "all taken"
for fd in {3..9}; do echo "script $fd" >&$fd; done
for fd in {3..9}; do eval "{ log_info \"around $fd\"; echo \"inner $fd\" >&$fd; } $fd>inner.$fd"; done
for fd in {3..9}; do echo "script again $fd" >&$fd; done
for fd in {3..9}; do eval "exec $fd>&-"; done
log_info "freed"
( log_info "subshell" )
echo "end $(ls -l /proc/$$/fd | grep -c '/ci\.log$')"
SH
	run --separate-stderr bash s.sh
	assert_success
	assert_output "$(printf '%s\n' "shell 1" "command 0" "end 1")"
	for fd in {3..9}; do
		assert_equal "$(cat "other.$fd")" "$(printf 'script %s\nscript again %s' "$fd" "$fd")"
		assert_equal "$(cat "inner.$fd")" "inner $fd"
	done
	assert_equal "$(cat taken)" "$(printf 'script\nscript again')"
	run jq -r .message "$CI_LOG_FILE"
	assert_output "$(printf '%s\n' first "number taken" "all taken" "around "{3..9} freed subshell)"
}

@test "a log file renamed or removed between calls is made again under its name, and a relative CI_LOG_FILE follows cd" {
	cat > s.sh <<'SH'
source "$LIB"
log_info "one"
mv "$CI_LOG_FILE" "$CI_LOG_FILE.1"
log_info "two"
rm "$CI_LOG_FILE"
log_info "three"
mkdir -p sub && cd sub
CI_LOG_FILE=rel.log log_info "four"
cd ..
CI_LOG_FILE=rel.log log_info "five"
SH
	run --separate-stderr bash s.sh
	assert_success
	assert_equal "$(jq -r .message "$CI_LOG_FILE.1")" one
	assert_equal "$(jq -r .message "$CI_LOG_FILE")" three
	assert_equal "$(jq -r .message sub/rel.log)" four
	assert_equal "$(jq -r .message rel.log)" five
}

@test "4 concurrent subshells of 5,000 entries each, 6 KB ones among them: none lost, torn or out of order" {
	cat > s.sh <<'SH'
source "$LIB"
big=$(head -c 6000 /dev/zero | tr '\0' b)
writer() {
	for ((i = 1; i <= 5000; i++)); do
		if ((i % 50 == 0)); then log_info "w$1 $i $big"; else log_info "w$1 $i"; fi
	done
}
for w in 1 2 3 4; do writer "$w" & done
wait
SH
	run --separate-stderr timeout 600 bash s.sh
	assert_success
	run /usr/bin/python3 -c '
import json, sys
seen = {w: [] for w in "1234"}
for l in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(l)["message"].split(" ")
    seen[m[0][1]].append((int(m[1]), len(m) == 3 and len(m[2]) == 6000))
ok = all([n for n, _ in v] == list(range(1, 5001)) and sum(b for _, b in v) == 100 for v in seen.values())
print("all in order" if ok else {w: len(v) for w, v in seen.items()})' "$CI_LOG_FILE"
	assert_output "all in order"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 20000
}

@test "on a full disk a call that cannot write returns 4 and says so once; every call that returned 0 has its entry" {
	small_disk
	export CI_LOG_FILE=$DISK/ci.log
	cat > s.sh <<'SH'
source "$LIB"
for ((i = 1; i <= 3000; i++)); do
	log_info "entry $i, long enough to fill a small disk in a few hundred entries"
	echo "$i $?" >> calls
done
rm "$DISK/filler"
log_info after
echo "after $?" >> calls
SH
	run --separate-stderr bash s.sh
	assert_success
	failed=$(grep -c -v ' 0$' calls)
	[ "$failed" -gt 0 ] || fail "the disk never filled"
	assert_equal "$(grep -c -v ' [04]$' calls)" 0
	assert_equal "${#stderr_lines[@]}" "$failed"
	assert_equal "${stderr_lines[0]}" "ci-log: cannot write to $CI_LOG_FILE: No space left on device"
	assert_equal "$(tail -n 1 calls)" "after 0"
	run lines_check "$CI_LOG_FILE"
	assert_output --regexp "^$(grep -c ' 0$' calls) entries, [01] torn, ends with a newline$"
	run /usr/bin/python3 -c '
import json, sys
msgs = []
for l in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try: msgs.append(json.loads(l)["message"].split(",")[0])
    except ValueError: pass
ok = [l.split()[0] for l in open(sys.argv[2]) if l.endswith(" 0\n")]
want = ["entry %s" % n for n in ok[:-1]] + ["after"]
print("every returned entry is there" if msgs == want else "differ")' "$CI_LOG_FILE" calls
	assert_output "every returned entry is there"
}

@test "a ci_sh.so built for another bash release refuses to load, says so once, and the library logs through ci-log" {
	copy_tree
	run make -C src B=out CFLAGS='-O2 -DCI_BASH_VERSION=\"4.4\"' out/ci_sh.so
	assert_success
	printf 'source "$LIB"\ntype -t log_info\nlog_info "still logged"\n' > s.sh
	CI_LOG_BUILTIN=$PWD/src/out/ci_sh.so run --separate-stderr bash s.sh
	assert_success
	assert_output function
	assert_equal "$stderr" "ci.sh: $PWD/src/out/ci_sh.so: ci_sh.so was built for bash 4.4, this is bash ${BASH_VERSINFO[0]}.${BASH_VERSINFO[1]}; logging through ci-log instead"
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
}

@test "without bash's headers the build makes every tool, says once that the builtin was skipped" {
	copy_tree
	run --separate-stderr make -s -C src B=out BASH_INC=/nonexistent
	assert_success
	assert_equal "$stderr" "make: no /nonexistent/builtins.h (Debian package bash-builtins): the library's builtin ci_sh.so skipped"
	for t in src/tools/ci-*.c; do
		[ -x "src/out/$(basename "$t" .c)" ] || fail "$t not built"
	done
	[ ! -e src/out/ci_sh.so ]
}

@test "make install puts ci_sh.so under PREFIX/lib/bash, and the installed library loads it from there" {
	copy_tree
	run make -C src B=out install DESTDIR="$PWD/root" PREFIX=/opt/ci
	assert_success
	[ -f root/opt/ci/lib/bash/ci_sh.so ]
	printf 'source "%s"\ntype -t log_info\nlog_info installed\n' "$PWD/root/opt/ci/share/ci-tools/ci.sh" > s.sh
	PATH=$PWD/root/opt/ci/bin:/usr/bin:/bin run --separate-stderr bash s.sh
	assert_success
	assert_output builtin
	assert_equal "$(wc -l < "$CI_LOG_FILE")" 1
	run make -C src B=out uninstall DESTDIR="$PWD/root" PREFIX=/opt/ci
	assert_success
	[ ! -e root/opt/ci/lib/bash ]
}
