#!/usr/bin/env bash
# Manage a project-local ClickHouse server whose config, data and logs live in
# .local/clickhouse/NAME/ under the project root.
#
#   scripts/clickhouse.sh ensure NAME TCP_PORT HTTP_PORT
#   scripts/clickhouse.sh stop NAME
#   scripts/clickhouse.sh status NAME
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
READY_TIMEOUT=30
STOP_TIMEOUT=15

usage() {
	cat >&2 <<-EOF
		usage: $0 ensure NAME TCP_PORT HTTP_PORT
		       $0 stop NAME
		       $0 status NAME
	EOF
	exit 2
}

die() {
	echo "clickhouse.sh: $*" >&2
	exit 1
}

check_name() {
	[[ $1 =~ ^[A-Za-z0-9_.-]+$ && $1 != . && $1 != .. ]] || die "bad NAME '$1' (use letters, digits, . _ -)"
}

check_port() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "bad port '$1'"
	fi
}

# Sets DIR and friends for instance NAME.
set_paths() {
	REL=".local/clickhouse/$1"
	DIR="$ROOT/$REL"
	PIDFILE="$DIR/pid"
	CONFIG="$DIR/config.xml"
	ERRLOG="$DIR/log/clickhouse-server.err.log"
	OUTLOG="$DIR/stdout.log"
}

# Prints the server command (one word per line): Debian's clickhouse-server,
# or the single `clickhouse` binary of upstream packages.
server_cmd() {
	if [[ -x /usr/sbin/clickhouse-server ]]; then
		echo /usr/sbin/clickhouse-server
	elif command -v clickhouse-server >/dev/null; then
		command -v clickhouse-server
	elif command -v clickhouse >/dev/null; then
		command -v clickhouse
		echo server
	else
		return 1
	fi
}

# True if a server answers SELECT 1 on the given ports. The HTTP check is only
# a fallback for machines that have the server but not the client.
answers() {
	local tcp=$1 http=${2:-}
	if command -v clickhouse-client >/dev/null; then
		clickhouse-client --host 127.0.0.1 --port "$tcp" --connect_timeout 1 -q 'SELECT 1' >/dev/null 2>&1
	elif command -v clickhouse >/dev/null; then
		clickhouse client --host 127.0.0.1 --port "$tcp" --connect_timeout 1 -q 'SELECT 1' >/dev/null 2>&1
	elif [[ -n $http ]]; then
		[[ $(curl -fsS --max-time 2 "http://127.0.0.1:$http/?query=SELECT%201" 2>/dev/null) == 1 ]]
	else
		return 1
	fi
}

# Prints the pid of the server started from $DIR, if it is still alive.
# Checks the command line so a stale pid file never points us at a reused pid.
running_pid() {
	local pid state
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--config-file=$CONFIG" || return 1
	echo "$pid"
}

install_server() {
	local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client"
	if ((EUID != 0)); then
		die "clickhouse-server is not installed. Run as root (needs network access to Debian's package mirror):
    $cmd"
	fi
	# Wait for another apt/dpkg (e.g. a background install) instead of failing.
	local apt=(apt-get -o DPkg::Lock::Timeout=600)
	if ! apt-cache policy clickhouse-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		echo "clickhouse: no install candidate for clickhouse-server, running apt-get update"
		"${apt[@]}" update
	fi
	echo "clickhouse: installing clickhouse-server clickhouse-client with apt-get"
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y clickhouse-server clickhouse-client
	server_cmd >/dev/null || die "apt-get finished but no clickhouse-server binary was found"
}

xml_escape() {
	local s=$1
	s=${s//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	printf '%s' "$s"
}

# <yandex> is the root element 18.16 needs; modern servers still accept it.
# Everything not listed stays off: no interserver port, no ZooKeeper, no
# remote_servers, no graphite, no query_log, no include_from substitutions.
write_config() {
	local tcp=$1 http=$2 d
	d=$(xml_escape "$DIR")
	mkdir -p "$DIR/data" "$DIR/log"
	cat >"$CONFIG" <<-EOF
		<?xml version="1.0"?>
		<!-- Written by scripts/clickhouse.sh; rewritten on every ensure. -->
		<yandex>
		    <logger>
		        <level>information</level>
		        <log>$d/log/clickhouse-server.log</log>
		        <errorlog>$d/log/clickhouse-server.err.log</errorlog>
		        <size>50M</size>
		        <count>3</count>
		    </logger>
		    <listen_host>127.0.0.1</listen_host>
		    <tcp_port>$tcp</tcp_port>
		    <http_port>$http</http_port>
		    <max_connections>1024</max_connections>
		    <keep_alive_timeout>3</keep_alive_timeout>
		    <max_concurrent_queries>100</max_concurrent_queries>
		    <path>$d/data/</path>
		    <tmp_path>$d/data/tmp/</tmp_path>
		    <user_files_path>$d/data/user_files/</user_files_path>
		    <format_schema_path>$d/data/format_schemas/</format_schema_path>
		    <users_config>$d/users.xml</users_config>
		    <default_profile>default</default_profile>
		    <default_database>default</default_database>
		    <uncompressed_cache_size>268435456</uncompressed_cache_size>
		    <mark_cache_size>268435456</mark_cache_size>
		    <mlock_executable>false</mlock_executable>
		</yandex>
	EOF
	cat >"$DIR/users.xml" <<-'EOF'
		<?xml version="1.0"?>
		<!-- Written by scripts/clickhouse.sh; rewritten on every ensure. -->
		<yandex>
		    <profiles>
		        <default>
		            <max_memory_usage>4000000000</max_memory_usage>
		            <use_uncompressed_cache>0</use_uncompressed_cache>
		            <load_balancing>random</load_balancing>
		        </default>
		        <readonly>
		            <readonly>1</readonly>
		        </readonly>
		    </profiles>
		    <users>
		        <default>
		            <password></password>
		            <networks>
		                <ip>::1</ip>
		                <ip>127.0.0.1</ip>
		            </networks>
		            <profile>default</profile>
		            <quota>default</quota>
		        </default>
		    </users>
		    <quotas>
		        <default>
		            <interval>
		                <duration>3600</duration>
		                <queries>0</queries>
		                <errors>0</errors>
		                <result_rows>0</result_rows>
		                <read_rows>0</read_rows>
		                <execution_time>0</execution_time>
		            </interval>
		        </default>
		    </quotas>
		</yandex>
	EOF
}

# Shows what the server logged since start_server, minus stack-trace frames.
show_logs() {
	local f skip
	for f in "$ERRLOG" "$OUTLOG"; do
		[[ -s $f ]] || continue
		skip=0
		[[ $f == "$ERRLOG" ]] && skip=$ERRLOG_LINES
		echo "--- ${f#"$ROOT/"}" >&2
		tail -n +"$((skip + 1))" "$f" | grep -Ev '^[0-9]+\. |^$' | tail -n 20 >&2
	done
}

# Runs the server as the invoking user, root included: 18.16 does not refuse
# root, and everything it writes stays inside $DIR.
start_server() {
	local cmd
	mapfile -t cmd < <(server_cmd)
	: >"$OUTLOG"
	ERRLOG_LINES=$(wc -l 2>/dev/null <"$ERRLOG" || echo 0)
	# 9>&-: the server must not inherit (and hold) the ensure lock.
	(cd "$DIR" && exec setsid nohup "${cmd[@]}" --config-file="$CONFIG" </dev/null >>"$OUTLOG" 2>&1 9>&-) &
	echo $! >"$PIDFILE"
}

wait_ready() {
	local tcp=$1 http=$2 i
	echo "clickhouse $NAME: starting on 127.0.0.1:$tcp, waiting up to ${READY_TIMEOUT}s"
	for ((i = 0; i < READY_TIMEOUT * 4; i++)); do
		answers "$tcp" "$http" && return 0
		if ! running_pid >/dev/null; then
			echo "clickhouse $NAME: server exited during start-up" >&2
			show_logs
			return 1
		fi
		((i % 20 == 19)) && echo "clickhouse $NAME: still waiting ($(((i + 1) / 4))s)"
		sleep 0.25
	done
	echo "clickhouse $NAME: no answer on 127.0.0.1:$tcp after ${READY_TIMEOUT}s" >&2
	show_logs
	return 1
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
		running_pid >/dev/null || return 0
		sleep 0.25
	done
	echo "clickhouse $NAME: pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	sleep 0.5
}

reuse() {
	answers "$1" "$2" || return 1
	echo "clickhouse $NAME: reusing server already answering on 127.0.0.1:$1"
}

cmd_ensure() {
	local tcp=$1 http=$2 pid
	check_port "$tcp"
	check_port "$http"
	reuse "$tcp" "$http" && return 0
	mkdir -p "$DIR"
	# Serialise concurrent ensures (e.g. parallel test packages) on one folder;
	# whoever waited finds the server started by the other one.
	exec 9>"$DIR/lock"
	flock 9
	reuse "$tcp" "$http" && return 0

	server_cmd >/dev/null || install_server
	# Ours but not answering on this port: hung, or started with other ports.
	if pid=$(running_pid); then
		echo "clickhouse $NAME: restarting pid $pid, it does not answer on 127.0.0.1:$tcp"
		stop_pid "$pid"
	fi
	write_config "$tcp" "$http"
	start_server
	if ! wait_ready "$tcp" "$http"; then
		cmd_stop >/dev/null
		die "clickhouse $NAME failed to start"
	fi
	echo "clickhouse $NAME ready on 127.0.0.1:$tcp (http $http), data in $REL"
}

cmd_stop() {
	local pid
	if pid=$(running_pid); then
		stop_pid "$pid"
		echo "clickhouse $NAME: stopped (pid $pid)"
	else
		echo "clickhouse $NAME: not running"
	fi
	rm -f "$PIDFILE"
}

cmd_status() {
	local pid
	if pid=$(running_pid); then
		echo "clickhouse $NAME: running (pid $pid), config $REL/config.xml"
	else
		echo "clickhouse $NAME: not running"
		return 1
	fi
}

main() {
	(($# >= 2)) || usage
	local action=$1
	NAME=$2
	check_name "$NAME"
	set_paths "$NAME"
	case $action in
	ensure) (($# == 4)) || usage; cmd_ensure "$3" "$4" ;;
	stop) (($# == 2)) || usage; cmd_stop ;;
	status) (($# == 2)) || usage; cmd_status ;;
	*) usage ;;
	esac
}

main "$@"
