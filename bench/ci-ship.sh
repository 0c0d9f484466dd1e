#!/usr/bin/env bash
# ci-ship against clickhouse-client loading the same log, into a real
# ClickHouse server started on 127.0.0.1 in a scratch directory, in the same
# run and the same number of tries each (the best counts):
#   clickhouse-client  clickhouse-client --query 'INSERT INTO ci.raw FORMAT
#                      JSONEachRow' < log, into a MergeTree of the columns
#                      of ci.entries (the nested objects, which 18.16
#                      cannot put in columns, skipped)
#   client-rows        the same with the rows of ci-report --format
#                      clickhouse, made beforehand (the server's share alone)
#   ci-ship            ci-ship log: reading, checking, converting, sending
# The table is emptied before each try. Also ci-ship's peak RSS on a tenth
# of the log, to show that memory does not grow with the input. Exits 1 when
# ci-ship is slower than half the speed of clickhouse-client on the log, or
# its peak RSS grows by more than half from a tenth of the log to all of it.
#
# usage: bench/ci-ship.sh [MEGABYTES [TRIES]]    (default 300 MB, 2 tries)
#
# Measured on the 2-core development machine, 310 MB, 1,132,700 lines, with
# other work running (load average about 11), 2 tries each:
#   clickhouse-client  10.73 s   29 MB/s   peak RSS 466 MiB
#   client-rows         9.95 s   31 MB/s   peak RSS 466 MiB
#   ci-ship             8.96 s   35 MB/s   peak RSS  10 MiB (10 MiB on 31 MB)
#   ci-ship at 1.20x the speed of clickhouse-client (1.11x on the rows).
# On 100 MB, less loaded: ci-ship 2.92 s, clickhouse-client 2.17 s (0.74x).
set -eu
cd "$(dirname "$0")/.."
B=${CI_BUILD:-$PWD/build}
mb=${1:-300} tries=${2:-2}
[ -x "$B/ci-ship" ] && [ -x "$B/ci-report" ] || { echo "bench: build first: make" >&2; exit 2; }
command -v clickhouse-server > /dev/null ||
	{ echo "bench: clickhouse-server is not installed (Debian package clickhouse-server)" >&2; exit 2; }
PATH=$B:$PATH

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2> /dev/null || true
		for _ in $(seq 60); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http=$(port) tcp=$(port)
mkdir -p "$tmp/ch/data" "$tmp/ch/tmp" "$tmp/ch/log"
cat > "$tmp/ch/users.xml" <<EOF
<yandex>
  <profiles><default/></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default/></quotas>
</yandex>
EOF
cat > "$tmp/ch/config.xml" <<EOF
<yandex>
  <logger><level>warning</level><log>$tmp/ch/log/server.log</log><errorlog>$tmp/ch/log/err.log</errorlog></logger>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$tmp/ch/data/</path>
  <tmp_path>$tmp/ch/tmp/</tmp_path>
  <users_config>$tmp/ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
EOF
clickhouse-server --config-file="$tmp/ch/config.xml" > "$tmp/ch/log/stdout" 2>&1 &
pid=$!
export CI_CLICKHOUSE_URL=http://127.0.0.1:$http/
for _ in $(seq 240); do
	[ "$(curl -s "${CI_CLICKHOUSE_URL}?query=SELECT%201" 2> /dev/null)" = 1 ] && break
	sleep 0.5
done
client() { clickhouse-client --host 127.0.0.1 --port "$tcp" "$@"; }
client --multiquery < contracts/clickhouse.sql
client --query 'CREATE TABLE ci.raw AS ci.entries ENGINE = MergeTree PARTITION BY toYYYYMM(time) ORDER BY (run_id, ts_ms, key)'

log=$tmp/ci.log
echo "generating a ${mb} MB log of 50 runs in $tmp ..."
/usr/bin/python3 tests/fixtures/ci-report/gen-log.py 50 "$mb" > "$log"
head -c "$(($(stat -c %s "$log") / 10))" "$log" | sed '$d' > "$tmp/tenth.log"
ci-report --format clickhouse "$log" > "$tmp/rows"
bytes=$(stat -c %s "$log") lines=$(wc -l < "$log")
cat "$log" "$tmp/rows" > /dev/null # the same warm page cache for every reader

# measure NAME TABLE CMD...: the best wall time of $tries, TABLE emptied
# before each, and the peak RSS of that try.
measure() {
	local name=$1 table=$2 best= rss= t m
	shift 2
	for _ in $(seq "$tries"); do
		client --query "TRUNCATE TABLE $table"
		/usr/bin/time -f '%e %M' -o "$tmp/time" "$@" > /dev/null
		read -r t m < <(tail -n 1 "$tmp/time")
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
			best=$t rss=$m
		fi
	done
	[ "$(client --query "SELECT count() FROM $table")" -eq "$lines" ] ||
		{ echo "bench: $name did not store every entry" >&2; exit 1; }
	printf '%-18s %7.2f s %6.0f MB/s of log   peak RSS %6.1f MiB\n' "$name" "$best" \
		"$(awk -v b="$bytes" -v t="$best" 'BEGIN { print b / 1e6 / (t > 0 ? t : 0.01) }')" \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
	eval "${name//-/_}_s=$best ${name//-/_}_kb=$rss"
}
insert='INSERT INTO ci.entries FORMAT JSONEachRow'

printf 'input: %.0f MB, %d lines, 50 runs; rows: %.0f MB; %d tries each\n' \
	"$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$lines" \
	"$(awk -v b="$(stat -c %s "$tmp/rows")" 'BEGIN { print b / 1e6 }')" "$tries"
measure clickhouse-client ci.raw sh -c "clickhouse-client --host 127.0.0.1 --port $tcp --input_format_skip_unknown_fields=1 --query '${insert/entries/raw}' < '$log'"
measure client-rows ci.entries sh -c "clickhouse-client --host 127.0.0.1 --port $tcp --query '$insert' < '$tmp/rows'"
measure ci-ship ci.entries ci-ship "$log"
/usr/bin/time -f '%M' -o "$tmp/time" ci-ship "$tmp/tenth.log" > /dev/null
tenth_kb=$(tail -n 1 "$tmp/time")
printf 'ci-ship on a tenth of the log: peak RSS %.1f MiB\n' "$(awk -v k="$tenth_kb" 'BEGIN { print k / 1024 }')"

awk -v s="$ci_ship_s" -v c="$clickhouse_client_s" -v r="$client_rows_s" -v kb="$ci_ship_kb" -v t="$tenth_kb" 'BEGIN {
	s = s > 0 ? s : 0.01
	printf "ci-ship runs at %.2fx the speed of clickhouse-client on the log (%.2fx on the rows) (goal >= 0.5x)\n", c / s, r / s
	printf "ci-ship peak RSS, whole log vs a tenth of it: %.2fx (goal <= 1.5x: flat)\n", kb / (t > 0 ? t : 1)
	ok = c / s >= 0.5 && kb <= t * 1.5
	printf "goal (>= 0.5x clickhouse-client, memory flat): %s\n", ok ? "met" : "MISSED"
	exit !ok
}'
