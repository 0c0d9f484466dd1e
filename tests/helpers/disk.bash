# A full disk for real: a 256 KiB tmpfs mounted in the test's directory.
# Needs root (and a kernel that lets it mount); the test skips otherwise.

# small_disk: mount it on $DISK, with a 64 KiB file to free later.
small_disk() {
	[ "$(id -u)" -eq 0 ] || skip "a full disk needs root to mount a 256 KiB tmpfs"
	export DISK=$BATS_TEST_TMPDIR/disk
	mkdir -p "$DISK"
	mount -t tmpfs -o size=256k tmpfs "$DISK" 2>/dev/null ||
		skip "mount -t tmpfs is not allowed here"
	head -c 65536 /dev/zero > "$DISK/filler"
}

# small_disk_free: unmount it (from teardown).
small_disk_free() {
	if [ -n "${DISK:-}" ]; then
		umount "$DISK" 2>/dev/null || umount -l "$DISK" 2>/dev/null
	fi
	return 0
}

# lines_check FILE: "N entries, M torn" (a torn line is not valid JSON), and
# whether the file ends with a newline.
lines_check() {
	/usr/bin/python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
ok = bad = 0
for l in data.split(b"\n")[:-1]:
    try:
        json.loads(l); ok += 1
    except ValueError:
        bad += 1
print("%d entries, %d torn, %s" % (ok, bad, "ends with a newline" if data.endswith(b"\n") else "no final newline"))' "$1"
}
