#!/bin/sh
# Run the libFuzzer targets of make fuzz.
#   fuzz/run.sh --probe CC      exit 4, naming the Debian package, when CC
#                               cannot build a libFuzzer target
#   fuzz/run.sh DIR SECONDS NAME ...
#                               run DIR/fuzz-NAME for SECONDS on a scratch
#                               copy of tests/fuzz/NAME/ (new inputs stay in
#                               DIR/fuzz/NAME/, the tree is not changed);
#                               print the executions of each; exit 1 if one
#                               crashed, leaked or hit a sanitizer report,
#                               with the input kept in DIR/fuzz/NAME-crash-*
set -u
case $0 in */*) root=${0%/*}/.. ;; *) root=.. ;; esac

if [ "${1-}" = --probe ]; then
	cc=${2:-clang}
	tmp=$(mktemp -d) || exit 4
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$tmp/t.c"
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "fuzz: no $cc (Debian package clang)" >&2
		rc=4
	elif ! "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" 2>/dev/null; then
		echo "fuzz: $cc cannot link libFuzzer and the sanitizers (Debian package libclang-rt-dev)" >&2
		rc=4
	else
		rc=0
	fi
	rm -rf "$tmp"
	exit $rc
fi

[ $# -ge 3 ] || {
	echo "usage: fuzz/run.sh --probe CC | DIR SECONDS NAME ..." >&2
	exit 2
}
dir=$1 secs=$2
shift 2
failed=0
for name in "$@"; do
	work=$dir/fuzz/$name
	rm -rf "$work" "$dir/fuzz/$name-"*
	mkdir -p "$work"
	[ -d "$root/tests/fuzz/$name" ] && cp "$root/tests/fuzz/$name"/* "$work"/ 2>/dev/null
	out=$dir/fuzz/$name.out
	# -close_fd_mask=3: the tools' own messages are not shown; libFuzzer's
	# and the sanitizers' reports are.
	"$dir/fuzz-$name" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
		-close_fd_mask=3 -print_final_stats=1 \
		-artifact_prefix="$dir/fuzz/$name-" "$work" >"$out" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
	if [ "$rc" -ne 0 ]; then
		failed=1
		grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$out" | head -n 20 >&2
		echo "fuzz: $name: FAILED after ${runs:-?} executions (exit $rc); see $out" >&2
	else
		echo "fuzz: $name: ${runs:-?} executions in $secs s, no crash"
	fi
done
exit $failed
