#!/usr/bin/env bats
# make fuzz: every libFuzzer target of fuzz/ builds with clang and runs on
# its seeds (tests/fuzz/NAME/) without a crash; a crash fails the run and
# keeps the input.
load helpers/common

# A copy of what make fuzz builds from, so that the tree under test is
# untouched; with clang's libFuzzer, else the test is skipped, naming the
# package.
fuzz_tree() {
	why=$(sh "$REPO/fuzz/run.sh" --probe clang 2>&1) || skip "${why#fuzz: }"
	mkdir -p src/tests
	cp -r "$REPO"/Makefile "$REPO"/lib "$REPO"/tools "$REPO"/fuzz "$REPO"/scripts src/
	cp -r "$REPO"/tests/fuzz src/tests/
}

@test "make fuzz runs every target on its seeds, prints its executions and finds no crash" {
	fuzz_tree
	run make -C src -j 2 --no-print-directory fuzz FUZZ_SECONDS=2
	assert_success
	n=0
	for t in "$REPO"/fuzz/*.c; do
		t=$(basename "$t" .c)
		[ -d "$REPO/tests/fuzz/$t" ] || fail "fuzz/$t.c has no seeds in tests/fuzz/$t/"
		assert_line --regexp "^fuzz: $t: [1-9][0-9]* executions in 2 s, no crash$"
		n=$((n + 1))
	done
	[ "$n" -ge 8 ] || fail "only $n fuzz targets"
	# The seeds were fuzzed from a copy: none was added to the tree.
	assert_equal "$(cd src/tests/fuzz && find . -type f | sort)" "$(cd "$REPO/tests/fuzz" && find . -type f | sort)"
}

@test "make fuzz fails on a crash, names the target and keeps the input that crashed" {
	fuzz_tree
	cat > src/fuzz/boom.c <<'C'
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 4 && memcmp(data, "boom", 4) == 0)
		abort();
	return 0;
}
C
	mkdir src/tests/fuzz/boom
	printf 'boom' > src/tests/fuzz/boom/seed
	run make -C src --no-print-directory fuzz FUZZ=boom FUZZ_SECONDS=2
	assert_failure
	assert_line --regexp '^fuzz: boom: FAILED after [0-9]+ executions'
	run cat src/build-fuzz/fuzz/boom-crash-*
	assert_output boom
}
