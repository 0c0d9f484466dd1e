#!/usr/bin/env bats
# The build: warnings that CFLAGS cannot switch off, which tools link what,
# install and uninstall, the dependency installer and the test summary.
load helpers/common

# A copy of the sources to build in, so that the tree under test is untouched.
copy_tree() {
	mkdir -p src
	cp -r "$REPO"/Makefile "$REPO"/lib "$REPO"/tools "$REPO"/man "$REPO"/scripts "$REPO"/contracts src/
}

@test "a warning fails the build even when CFLAGS tries to switch warnings off" {
	copy_tree
	printf 'int main(void) { int unused; return 0; }\n' > src/tools/ci-warn.c
	run make -C src B=out CFLAGS="-O2 -Wno-error -Wno-unused-variable -w" out/ci-warn
	assert_failure
	assert_output --partial "unused variable"
}

@test "the tools build and link with clang as well as gcc, with no warning" {
	command -v clang >/dev/null || skip "clang is not installed (Debian package clang)"
	copy_tree
	run make -C src B=out CC=clang
	assert_success
	refute_output --partial "warning:"
	for t in src/tools/ci-*.c src/tools/ci-*/; do
		t=$(basename "$t" .c)
		[ -x "src/out/$t" ] || fail "$t not built"
	done
	if [ -f /usr/include/bash/builtins.h ]; then
		[ -f src/out/ci_sh.so ] || fail "ci_sh.so not built"
	fi
}

@test "only ci-deploy links libgit2, and ci-runid and ci-log link no JSON library" {
	for bin in "$CI_BUILD"/ci-*; do
		[ -f "${REPO}/tools/$(basename "$bin").sh" ] && continue # a script
		case $(basename "$bin") in
		ci-deploy) continue ;;
		ci-runid|ci-log) run bash -c "ldd '$bin' | grep -c -E 'libgit2|libcjson'" ;;
		*) run bash -c "ldd '$bin' | grep -c libgit2" ;;
		esac
		assert_output 0
	done
}

@test "make install and uninstall honour PREFIX and DESTDIR" {
	copy_tree
	run make -C src B=out install DESTDIR="$PWD/root" PREFIX=/opt/ci
	assert_success
	for t in src/tools/ci-*.c src/tools/ci-*/ src/tools/ci-*.sh; do
		t=$(basename "$t" .c) t=${t%.sh}
		[ -x "root/opt/ci/bin/$t" ] || fail "$t not installed"
		[ -f "root/opt/ci/share/man/man1/$t.1" ] || fail "$t.1 not installed"
	done
	[ -f root/opt/ci/share/man/man7/ci-tools.7 ]
	[ -f root/opt/ci/share/ci-tools/ci.sh ]
	[ -f root/opt/ci/share/ci-tools/lnav-ci-tools.json ]
	"root/opt/ci/bin/ci-runid" --check "$(root/opt/ci/bin/ci-runid)"
	run make -C src B=out uninstall DESTDIR="$PWD/root" PREFIX=/opt/ci
	assert_success
	assert_equal "$(find root -type f | wc -l)" 0
}

@test "the test runner ends with one summary line and fails when a test fails" {
	run "$REPO/tests/run.sh" "$FIXTURES/make/sample.bats"
	assert_failure 1
	assert_line --index -1 "1 passed, 1 failed, 1 skipped"
}

@test "make deps, without root or sudo and with a package missing, prints the apt-get line and exits 4" {
	mkdir bin
	# A machine where no package is installed, the user is not root and
	# there is no sudo: dpkg-query knows nothing, id says 1000.
	printf '#!/bin/sh\nexit 1\n' > bin/dpkg-query
	printf '#!/bin/sh\necho 1000\n' > bin/id
	chmod +x bin/*
	run --separate-stderr env PATH="$PWD/bin" /bin/sh "$REPO/scripts/deps.sh"
	assert_failure 4
	assert_equal "${#stderr_lines[@]}" 2
	[[ ${stderr_lines[0]} == "deps: missing Debian packages: gcc make "*" clang-format clang lnav tmux nodejs npm" ]]
	assert_equal "${stderr_lines[1]}" "deps: run as root: apt-get update && apt-get install -y --no-install-recommends${stderr_lines[0]#deps: missing Debian packages:}"
}

@test "make deps does nothing when everything is installed" {
	run sh "$REPO/scripts/deps.sh"
	assert_success
	assert_output ""
}

@test ".ci/run runs make check, a clang build, make sanitize and make fuzz, each even when one fails" {
	# make, id and sudo stand in: a user without root or sudo (no apt-get),
	# and a make that says what it was asked and fails make sanitize.
	mkdir -p bin tree/tests
	cp -r "$REPO/.ci" tree/
	cp "$REPO"/tests/*.bats tree/tests/
	printf '#!/bin/sh\necho "make $*"\n[ "$1" != sanitize ]\n' > bin/make
	printf '#!/bin/sh\necho 1000\n' > bin/id
	printf '#!/bin/sh\nexit 1\n' > bin/sudo
	chmod +x bin/*
	run --separate-stderr env PATH="$PWD/bin:$PATH" bash tree/.ci/run </dev/null
	assert_failure 1
	err=$stderr
	run grep '^make ' <<<"$output"
	assert_line --index 0 "make check"
	assert_line --index 1 "make B=build-clang CC=clang"
	assert_line --index 2 --regexp '^make sanitize SANITIZE_TESTS=tests/ci-deploy[a-z-]*\.bats .*tests/ci-deploy\.bats .*tests/ci-log\.bats '
	assert_line --index 3 "make fuzz FUZZ_SECONDS=30"
	refute_line --regexp '^make sanitize .*tests/(make|man|fuzz)\.bats'
	assert_equal "$err" ".ci/run: failed: the tests against ASan and UBSan builds (${lines[2]})"
}
