#!/bin/sh
# The demo behind `make demo`: mint a run and show its environment.
set -eu
cd "$(dirname "$0")/.."
PATH=$PWD/build:$PATH
echo "A new run, ready for: export \$(ci-runid --env)"
ci-runid --env
