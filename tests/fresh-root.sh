#!/usr/bin/env bash
# Run `bash .ci/run` as a new user would: in a fresh Debian bookworm root
# (debootstrap --variant=minbase plus make, gcc and git), from a clean clone of
# this repository's current branch, with CI=true, TERM=dumb and no standard
# input, N times in a row (default 1). Needs root and debootstrap. Combine with
# tests/stress.sh to keep the processors busy:
#
#   tests/stress.sh -- tests/fresh-root.sh /var/tmp/bookworm 3
#
# ROOT is made with debootstrap when it does not exist yet (MIRROR, default
# http://deb.debian.org/debian). /proc and /dev/pts (the tests' terminals) are
# mounted for the run and unmounted after; the host's resolv.conf and CA bundle
# are copied in, for apt and for npm.
set -u
[ $# -ge 1 ] || { echo "usage: tests/fresh-root.sh ROOT [N]" >&2; exit 2; }
root=$1 n=${2:-1}
src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh-root: needs root" >&2; exit 4; }

if [ ! -e "$root/etc/debian_version" ]; then
	command -v debootstrap >/dev/null ||
		{ echo "fresh-root: needs debootstrap (apt-get install debootstrap)" >&2; exit 4; }
	debootstrap --variant=minbase --include=make,gcc,git bookworm "$root" \
		"${MIRROR:-http://deb.debian.org/debian}" || exit 4
fi

mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}"
	done
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
mount -t proc proc "$root/proc" && mounted+=("$root/proc") || exit 4
mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts") || exit 4
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/usr/local/share/host-ca"
cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/host-ca/ca.crt"

rm -rf "$root/root/ci-tools"
git clone -q --branch "$(git -C "$src" branch --show-current)" "$src" "$root/root/ci-tools" || exit 4
git -C "$root/root/ci-tools" log --oneline -1

rc=0
for ((i = 1; i <= n; i++)); do
	start=$SECONDS
	chroot "$root" /usr/bin/env -i HOME=/root CI=true TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca/ca.crt \
		bash -c 'cd /root/ci-tools && bash .ci/run' </dev/null
	rc=$?
	echo "# fresh-root: run $i of $n: exit $rc in $((SECONDS - start)) s"
	[ "$rc" -eq 0 ] || break
done
exit "$rc"
