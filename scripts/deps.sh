#!/bin/sh
# Install the Debian packages that building and testing ci-tools need, when
# any is missing. Quiet and quick when everything is there. Without root and
# without password-less sudo, print the apt-get line to run and exit 4.
set -u

pkgs="gcc make pkg-config libcjson-dev libgit2-dev libexpat1-dev git jq
bats bats-assert bats-support python3 python3-jsonschema mandoc procps time libxml2-utils"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian system; install the equivalents of:" $pkgs >&2
	exit 0
fi

missing=
for p in $pkgs; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

line="apt-get update && apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -eq 0 ]; then
	run=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	run="sudo -n"
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root: $line" >&2
	exit 4
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$run apt-get update -q >&2 &&
	$run apt-get install -y -q --no-install-recommends $missing >&2 || {
	echo "deps: installing failed; run as root: $line" >&2
	exit 4
}
