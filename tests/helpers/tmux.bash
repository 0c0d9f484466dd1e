# A real terminal for a test: a tmux server of its own (tmux -L), 80x24,
# whose one pane runs a command; the screen is read with capture-pane.
# tmux_run writes the command's exit code to $BATS_TEST_TMPDIR/rc and its
# terminal settings after it to stty.txt, then keeps the pane open.

tmux_setup() {
	command -v tmux >/dev/null || skip "tmux is not installed (Debian package tmux)"
	TMUX_SOCK=ci-tools-$$-$BATS_TEST_NUMBER
	unset TMUX
	export LC_ALL=C.UTF-8 TERM=screen
}

tmux_teardown() {
	[ -z "${TMUX_SOCK:-}" ] || tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
}

tm() { tmux -L "$TMUX_SOCK" "$@"; }

# tmux_run COMMAND: run a shell command in the test's directory, in the pane.
tmux_run() {
	rm -f "$BATS_TEST_TMPDIR/rc"
	printf '%s\n' "cd '$BATS_TEST_TMPDIR' || exit" "$1" \
		"echo \$? > '$BATS_TEST_TMPDIR/rc.tmp'" "stty -a > '$BATS_TEST_TMPDIR/stty.txt'" \
		"mv '$BATS_TEST_TMPDIR/rc.tmp' '$BATS_TEST_TMPDIR/rc'" "exec cat >/dev/null" \
		> "$BATS_TEST_TMPDIR/pane.sh"
	tm -f /dev/null new-session -d -x 80 -y 24 "bash '$BATS_TEST_TMPDIR/pane.sh'" 3>&-
}

screen() { tm capture-pane -p; }

# wait_screen ERE [SECONDS]: until the screen shows a line matching ERE (a
# generous bound for a slow machine); on a timeout, the screen is shown.
wait_screen() {
	local end=$((SECONDS + ${2:-120}))
	while [ $SECONDS -lt $end ]; do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.2
	done
	echo "# the screen never showed /$1/:" >&2
	screen | sed 's/^/# /' >&2
	return 1
}

# wait_rc [SECONDS]: until the pane's command has exited; its code in $rc.
wait_rc() {
	local end=$((SECONDS + ${1:-120}))
	while [ $SECONDS -lt $end ]; do
		if [ -f "$BATS_TEST_TMPDIR/rc" ]; then
			rc=$(cat "$BATS_TEST_TMPDIR/rc")
			return 0
		fi
		sleep 0.2
	done
	echo "# the command never exited:" >&2
	screen | sed 's/^/# /' >&2
	return 1
}

# wait_file FILE [SECONDS]: until FILE exists and is not empty.
wait_file() {
	local end=$((SECONDS + ${2:-120}))
	while [ $SECONDS -lt $end ]; do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "# $1 never appeared" >&2
	return 1
}

# wait_grep ERE FILE [SECONDS]: until a line of FILE matches ERE.
wait_grep() {
	local end=$((SECONDS + ${3:-120}))
	while [ $SECONDS -lt $end ]; do
		grep -Eq -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# $2 never had /$1/:" >&2
	sed 's/^/# /' "$2" >&2 2>/dev/null
	return 1
}
