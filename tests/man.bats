#!/usr/bin/env bats
# Man pages: one per tool plus the overview, clean under mandoc -Tlint, with
# the sections the house style asks for, and a SYNOPSIS that matches --help.
load helpers/common

# mandoc's lint, less the notice that our own pages are not installed yet;
# the other pages they refer to come from packages scripts/deps.sh installs.
lint() {
	mandoc -Tlint -Wstyle "$1" 2>&1 | grep -v 'referenced manual not found: Xr ci-' |
		grep -v 'outdated mandoc.db'
}

@test "every tool has a man page and every page is clean under mandoc -Tlint" {
	for src in "$REPO"/tools/ci-*.c "$REPO"/tools/ci-*/ "$REPO"/tools/ci-*.sh; do
		t=$(basename "$src" .c) t=${t%.sh}
		[ -f "$REPO/man/$t.1" ] || fail "no man page man/$t.1 for $t"
	done
	for page in "$REPO"/man/*.[17]; do
		run lint "$page"
		assert_output ""
	done
}

@test "every tool page has the sections of the house style" {
	for page in "$REPO"/man/ci-*.1; do
		for sec in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			grep -q "^\.Sh $sec\$" "$page" || fail "$page has no $sec section"
		done
	done
}

@test "the overview page ci-tools.7 exists and names every tool" {
	[ -f "$REPO/man/ci-tools.7" ]
	for src in "$REPO"/tools/ci-*.c "$REPO"/tools/ci-*/ "$REPO"/tools/ci-*.sh; do
		t=$(basename "$src" .c) t=${t%.sh}
		grep -q "^\.Xr $t 1" "$REPO/man/ci-tools.7" || fail "ci-tools.7 does not refer to $t"
	done
}

@test "each tool's --help mirrors the SYNOPSIS of its man page" {
	for src in "$REPO"/tools/ci-*.c "$REPO"/tools/ci-*/ "$REPO"/tools/ci-*.sh; do
		t=$(basename "$src" .c) t=${t%.sh}
		# The page's synopsis rendered as text, one line per form.
		synopsis=$(MANWIDTH=400 mandoc -Tascii -O width=400 "$REPO/man/$t.1" | sed 's/.\x08//g' |
			awk '/^SYNOPSIS/{on=1; next} /^[A-Z]/{on=0} on && NF' |
			sed 's/^ *//; s/  */ /g')
		usage=$("$t" --help | sed 's/^usage: //; s/^ *//; s/  */ /g')
		assert_equal "$usage" "$synopsis"
	done
}
