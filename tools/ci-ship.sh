#!/usr/bin/env bash
# ci-ship: send ci-tools logs to ClickHouse. The rows are those of
# ci-report --format clickhouse (the one log reader, on both cores), cut into
# batches by split(1), each kept in a temporary file and posted by curl(1) to
# ClickHouse's HTTP interface while the next batch is read, and sent again
# after a backoff when the failure may pass. The table's key makes a second
# shipment of an entry replace the first (contracts/clickhouse.sql).
#
# A script, not C: curl brings HTTP/1.1, HTTPS and its errors, and split and
# ci-report run beside it, so reading, converting and sending overlap with no
# new library in the C tools.
set -u
export LC_ALL=C

usage() {
	echo "usage: ci-ship [--url URL] [--table DATABASE.TABLE] FILE ..."
}
die() { # die CODE MESSAGE
	echo "ci-ship: $2" >&2
	exit "$1"
}
usage_error() {
	usage >&2
	die 2 "$1"
}

url=${CI_CLICKHOUSE_URL:-} table=ci.entries url_from=CI_CLICKHOUSE_URL
while [ $# -gt 0 ]; do
	case $1 in
	--url) [ $# -ge 2 ] || usage_error "--url: missing argument"; url=$2 url_from=--url; shift 2 ;;
	--url=*) url=${1#*=} url_from=--url; shift ;;
	--table) [ $# -ge 2 ] || usage_error "--table: missing argument"; table=$2; shift 2 ;;
	--table=*) table=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	--version) echo "ci-ship @VERSION@"; exit 0 ;;
	--) shift; break ;;
	-?*) usage_error "$1: unknown option" ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || usage_error "no log file given"
[ -n "$url" ] || usage_error "no server: give --url URL or set CI_CLICKHOUSE_URL"
[[ $url =~ ^https?://[^/?#@]+(/[^?#]*)?(\?[^#]*)?$ ]] ||
	usage_error "$url_from: not an http:// or https:// URL of ClickHouse's HTTP interface, without user or password (those go in CI_CLICKHOUSE_USER and CI_CLICKHOUSE_PASSWORD)"
[[ $url =~ [?\&](user|password)= ]] &&
	usage_error "$url_from: the user and password go in CI_CLICKHOUSE_USER and CI_CLICKHOUSE_PASSWORD[_FILE], not in the URL"
[[ $table =~ ^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$ ]] ||
	usage_error "--table: \"$table\" is not DATABASE.TABLE (letters, digits and _)"
retries=${CI_SHIP_RETRIES:-5} batch=${CI_SHIP_BATCH:-100000}
[[ $retries =~ ^[0-9]{1,2}$ ]] || usage_error "CI_SHIP_RETRIES: \"$retries\" is not a number of retries (0 to 99)"
[[ $batch =~ ^[1-9][0-9]{0,8}$ ]] || usage_error "CI_SHIP_BATCH: \"$batch\" is not a number of rows (>= 1)"
for f in "$@"; do
	[ "$f" = - ] || [ -r "$f" ] && [ ! -d "$f" ] || die 2 "cannot read $f"
done
password=${CI_CLICKHOUSE_PASSWORD:-}
if [ -n "${CI_CLICKHOUSE_PASSWORD_FILE:-}" ]; then
	[ -r "$CI_CLICKHOUSE_PASSWORD_FILE" ] && [ ! -d "$CI_CLICKHOUSE_PASSWORD_FILE" ] ||
		die 2 "CI_CLICKHOUSE_PASSWORD_FILE: cannot read $CI_CLICKHOUSE_PASSWORD_FILE"
	IFS= read -r password < "$CI_CLICKHOUSE_PASSWORD_FILE" || [ -n "$password" ] || password=
fi

report=ci-report
here=$(dirname "$0")
[ -x "$here/ci-report" ] && report=$here/ci-report
command -v "$report" > /dev/null || die 4 "ci-report is not on PATH"
for cmd in curl split flock; do
	command -v $cmd > /dev/null || die 4 "$cmd is not on PATH"
done

CI_SHIP_STATE=$(mktemp -d "${TMPDIR:-/tmp}/ci-ship.XXXXXX") || die 4 "cannot make a temporary directory"
trap 'rm -rf "$CI_SHIP_STATE"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
export CI_SHIP_STATE CI_SHIP_RETRIES=$retries CI_SHIP_TABLE=$table

# curl's options go in a file, so that neither the URL nor the credentials
# are ever in a command line (ps shows those to every user).
q="INSERT%20INTO%20$table%20FORMAT%20JSONEachRow"
case $url in *\?*) full="$url&query=$q" ;; *) full="${url%/}/?query=$q" ;; esac
quote() { # a string in curl's config syntax
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
(
	umask 077
	{
		printf 'url = %s\n' "$(quote "$full")"
		printf 'connect-timeout = 10\nspeed-limit = 1\nspeed-time = 300\n'
		if [ -n "${CI_CLICKHOUSE_USER:-}" ] || [ -n "$password" ]; then
			printf 'user = %s\n' "$(quote "${CI_CLICKHOUSE_USER:-default}:$password")"
		fi
	} > "$CI_SHIP_STATE/curlrc"
)
printf 'server at %s\n' "${url%%\?*}" > "$CI_SHIP_STATE/where"

# post: send standard input as one INSERT; prints the HTTP status (000 when
# no answer came) and leaves the server's answer in $CI_SHIP_STATE/answer.
post() {
	curl -sS -K "$CI_SHIP_STATE/curlrc" -X POST -T - -H 'Content-Type: application/x-ndjson' \
		-o "$CI_SHIP_STATE/answer" -w '%{http_code}' 2> "$CI_SHIP_STATE/curl.err"
}
# transient CODE: whether an answer is worth another try. No answer, 408,
# 429, 502 to 504, and the ClickHouse errors of load and network (timeouts,
# too many queries, parts or connections, memory, network, an insert whose
# fate is unknown).
transient() {
	case $1 in
	000 | 408 | 429 | 502 | 503 | 504) return 0 ;;
	500) grep -q -E '^Code: (159|202|203|209|210|241|242|252|319|425|999),' "$CI_SHIP_STATE/answer" 2> /dev/null ;;
	*) return 1 ;;
	esac
}
# send_batch: split's filter, one batch on standard input, kept in a file
# and handed to deliver in the background once the batch before it is
# stored: the lock, held by the deliver under way, makes them one at a time,
# and the next batch is read meanwhile. At most two batches are on disk.
send_batch() {
	local copy=$CI_SHIP_STATE/batch.$FILE
	cat > "$copy" || return 4
	exec 9> "$CI_SHIP_STATE/lock"
	flock 9
	[ -e "$CI_SHIP_STATE/failed" ] && return 1
	deliver "$copy" < /dev/null &
}
# deliver FILE: post a batch, again after a backoff while the failure may
# pass; the rows are counted when stored, the reason kept when not.
deliver() {
	local copy=$1 code try=0 why
	code=$(post < "$copy")
	while :; do
		if [ "$code" = 200 ]; then
			wc -l < "$copy" >> "$CI_SHIP_STATE/sent"
			rm -f "$copy"
			return 0
		fi
		if [ "$code" = 000 ]; then
			why=$(sed -n '$s/^curl: ([0-9]*) //p' "$CI_SHIP_STATE/curl.err")
		else
			why="HTTP $code: $(head -c 300 "$CI_SHIP_STATE/answer" | head -n 1)"
		fi
		if ! transient "$code"; then
			echo "the server refused the rows: $why" > "$CI_SHIP_STATE/failed"
			return 2
		fi
		if [ "$try" -ge "$CI_SHIP_RETRIES" ]; then
			echo "cannot store the rows after $((try + 1)) attempts: $why" > "$CI_SHIP_STATE/failed"
			return 4
		fi
		echo "ci-ship: attempt $((try + 1)) failed ($why); retrying in $((1 << try)) s" >&3
		sleep $((1 << try))
		try=$((try + 1))
		code=$(post < "$copy")
	done
}
export -f post transient send_batch deliver

# Malformed lines are counted, and shown on standard error as ci-report
# reports them (ci-report: FILE:LINE: reason).
#
# The reading, the batches and their deliveries (curl, the backoff's sleep)
# run as one job in a process group of their own, waited for with wait, so
# that SIGINT, SIGTERM and SIGHUP end all of it at once, a backoff included,
# and ci-ship with 128+N; a bash waiting for a pipeline in the foreground
# would run its trap only after the last retry.
: > "$CI_SHIP_STATE/sent"
set -m
{
	"$report" --format clickhouse -- "$@" 2> "$CI_SHIP_STATE/skipped"
	echo $? > "$CI_SHIP_STATE/report.rc"
} | {
	SHELL=$BASH split -l "$batch" --filter=send_batch - 3>&2 2> "$CI_SHIP_STATE/split.err"
	echo $? > "$CI_SHIP_STATE/split.rc"
	flock "$CI_SHIP_STATE/lock" true # the last batch's deliver
} &
set +m
job=$(jobs -p %%) # the job's process group
stop() { # stop STATUS
	trap '' INT TERM HUP
	kill -TERM -- "-$job" 2> /dev/null
	wait
	exit "$1"
}
trap 'stop 130' INT
trap 'stop 143' TERM
trap 'stop 129' HUP
wait "$!"
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
st=("$(cat "$CI_SHIP_STATE/report.rc")" "$(cat "$CI_SHIP_STATE/split.rc")")
cat "$CI_SHIP_STATE/skipped" >&2

sent=$(awk '{ n += $1 } END { print n + 0 }' "$CI_SHIP_STATE/sent")
skipped=$(grep -c -v -E '^ci-report: (cannot read |standard output: )' "$CI_SHIP_STATE/skipped")
echo "$sent rows sent to $table, $skipped lines skipped"
if [ -s "$CI_SHIP_STATE/failed" ]; then
	echo "ci-ship: $(cat "$CI_SHIP_STATE/where"): $(cat "$CI_SHIP_STATE/failed")" >&2
	grep -q '^cannot store' "$CI_SHIP_STATE/failed" && exit 4
	exit 2
fi
[ "${st[1]}" -eq 0 ] || die 4 "split failed: $(head -n 1 "$CI_SHIP_STATE/split.err")"
[ "${st[0]}" -eq 0 ] || exit 2
exit 0
