# A real ClickHouse server for a test file: started once in setup_file on
# 127.0.0.1, on ports free at the time, with its data in the file's temporary
# directory, and stopped by its pid in teardown_file. 18.16's config root is
# <yandex>. A machine without the package skips every test with the reason
# (bats 1.8 cannot skip from setup_file: ch_need says why, setup skips).

# free_port: a TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ch_need: in setup_file, 1 unless clickhouse-server and clickhouse-client
# are installed, with the reason in CH_SKIP for ch_skip.
ch_need() {
	command -v clickhouse-server > /dev/null && command -v clickhouse-client > /dev/null && return 0
	export CH_SKIP="clickhouse-server is not installed (Debian packages clickhouse-server and clickhouse-client; scripts/deps.sh installs them)"
	return 1
}

# ch_skip: in setup, skip the test when ch_need said no.
ch_skip() {
	[ -z "${CH_SKIP:-}" ] || skip "$CH_SKIP"
}

# ch_start: start the server; exports CH_DIR, CH_PID, CH_HTTP, CH_TCP, CH_URL.
# A user "shipper" with a password is defined beside the password-less
# default user, for the tests of credentials; a cluster "one_shard" of this
# server alone, and a user "cluster" whose inserts into a Distributed table
# are stored before they return, for the test of the Distributed variant.
ch_start() {
	local try
	CH_DIR=$BATS_FILE_TMPDIR/clickhouse
	mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/log"
	cat > "$CH_DIR/users.xml" <<-EOF
	<yandex>
	  <profiles><default/><sync><insert_distributed_sync>1</insert_distributed_sync></sync></profiles>
	  <users>
	    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
	    <shipper><password>s3cret-Pa55</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></shipper>
	    <cluster><password></password><networks><ip>127.0.0.1</ip></networks><profile>sync</profile><quota>default</quota></cluster>
	  </users>
	  <quotas><default/></quotas>
	</yandex>
	EOF
	for try in 1 2 3; do
		CH_HTTP=$(free_port) CH_TCP=$(free_port)
		[ "$CH_HTTP" != "$CH_TCP" ] || continue
		cat > "$CH_DIR/config.xml" <<-EOF
		<yandex>
		  <logger><level>warning</level><log>$CH_DIR/log/server.log</log><errorlog>$CH_DIR/log/err.log</errorlog></logger>
		  <http_port>$CH_HTTP</http_port>
		  <tcp_port>$CH_TCP</tcp_port>
		  <listen_host>127.0.0.1</listen_host>
		  <path>$CH_DIR/data/</path>
		  <tmp_path>$CH_DIR/tmp/</tmp_path>
		  <users_config>$CH_DIR/users.xml</users_config>
		  <default_profile>default</default_profile>
		  <default_database>default</default_database>
		  <mark_cache_size>5368709</mark_cache_size>
		  <remote_servers><one_shard><shard><replica><host>127.0.0.1</host><port>$CH_TCP</port></replica></shard></one_shard></remote_servers>
		</yandex>
		EOF
		clickhouse-server --config-file="$CH_DIR/config.xml" > "$CH_DIR/log/stdout" 2>&1 3>&- &
		CH_PID=$!
		CH_URL=http://127.0.0.1:$CH_HTTP/
		export CH_DIR CH_PID CH_HTTP CH_TCP CH_URL
		# It takes a few seconds to start, more on a loaded machine.
		for _ in $(seq 240); do
			[ "$(curl -s --max-time 5 "${CH_URL}?query=SELECT%201" 2> /dev/null)" = 1 ] && return 0
			kill -0 "$CH_PID" 2> /dev/null || break
			sleep 0.5
		done
		ch_stop
	done
	echo "clickhouse-server did not start; its log:" >&2
	tail -n 20 "$CH_DIR/log/err.log" "$CH_DIR/log/stdout" >&2
	return 1
}

# ch_stop: stop the server by its pid, and wait until it is gone.
ch_stop() {
	[ -n "${CH_PID:-}" ] || return 0
	kill "$CH_PID" 2> /dev/null || return 0
	for _ in $(seq 120); do
		kill -0 "$CH_PID" 2> /dev/null || return 0
		sleep 0.5
	done
	kill -KILL "$CH_PID" 2> /dev/null
	return 0
}

# ch SQL: one query on the server, through clickhouse-client.
ch() {
	clickhouse-client --host 127.0.0.1 --port "$CH_TCP" --query "$1"
}

# ch_schema: the database ci afresh, from contracts/clickhouse.sql.
ch_schema() {
	ch "DROP DATABASE IF EXISTS ci" &&
		clickhouse-client --host 127.0.0.1 --port "$CH_TCP" --multiquery < "$REPO/contracts/clickhouse.sql"
}
