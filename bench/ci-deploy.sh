#!/usr/bin/env bash
# bench/ci-deploy.sh [N]: a successful `ci-deploy push` to a local bare
# repository against `git push` of the same commit to another one, N times
# (default 30), each with a new commit. ci-deploy's run includes its state
# file (two atomic writes with fsync) on top of a history of 10 deployments.
# Prints both totals and the ratio ci-deploy / git push (goal: <= 1.5).
# Both run git receive-pack in the remote (ci-deploy does so that the
# remote's hooks and receive.* settings apply), so the difference is
# ci-deploy's state file. Measured on a 2-core build machine under a load
# average of 18: 1.42x and 1.50x (184 against 130 ms, 249 against 166 ms a
# push); with libgit2's own local transport, which skipped the hooks, it
# was 0.68x to 0.71x.
set -eu
n=${1:-30}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${CI_BUILD:-$here/build}
[ -x "$bin/ci-deploy" ] || { echo "bench: no $bin/ci-deploy (make first)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
unset CI_RUN_ID CI_LOG_FILE GITHUB_TOKEN GIT_TOKEN
git init -q --bare a.git
git init -q --bare b.git
git init -q -b main work
cd work
for i in $(seq 50); do seq "$i" 1000 >"file$i"; done
git add . && git commit -q -m base

# A state file with 10 deployments in the past, so that no run waits for
# a new second to get a unique id.
{
	rec() { printf '{"deployment_id": "deploy-%d", "timestamp": "2001-09-09T01:46:%02dZ", "commit_sha": "%040d", "status": "success", "git_operations_attempts": 1}' "$((1000000000 + $1))" "$1" 0; }
	printf '{"currentDeployment": %s, "lastKnownGood": null, "history": [' "$(rec 10)"
	for i in $(seq 0 9); do [ "$i" -gt 0 ] && printf ', '; rec "$i"; done
	printf ']}\n'
} >"$dir/template.json"

now() { date +%s%N; }
t_deploy=0 t_git=0
for i in $(seq "$n"); do
	echo "$i" >>file1
	git commit -q -am "change $i"
	cp "$dir/template.json" "$dir/state.json"
	t=$(now)
	"$bin/ci-deploy" push --remote "$dir/a.git" --ref main --state "$dir/state.json" 2>/dev/null
	t_deploy=$((t_deploy + $(now) - t))
	t=$(now)
	git push -q "$dir/b.git" HEAD:refs/heads/main
	t_git=$((t_git + $(now) - t))
done
[ "$(git --git-dir="$dir/a.git" rev-parse main)" = "$(git --git-dir="$dir/b.git" rev-parse main)" ]
awk -v n="$n" -v d="$t_deploy" -v g="$t_git" 'BEGIN {
	printf "ci-deploy push: %d pushes in %.3f s (%.1f ms each)\n", n, d / 1e9, d / 1e6 / n
	printf "git push:       %d pushes in %.3f s (%.1f ms each)\n", n, g / 1e9, g / 1e6 / n
	printf "ratio ci-deploy / git push: %.2fx (goal <= 1.5x)\n", d / g
}'
