#!/usr/bin/env bash
# A ClickHouse cluster on loopback for `make test-cluster`: ZooKeeper, four
# ClickHouse servers as two shards of two replicas (cluster "credstats"),
# and nginx in front of two collectors that the tests start themselves.
# Everything lives in .local/cluster/ under the project root.
#
#   scripts/cluster.sh start            # start what is not running, wait until it answers
#   scripts/cluster.sh stop             # stop all of it
#   scripts/cluster.sh status
#   scripts/cluster.sh node-stop NODE   # SIGTERM one server (ch1..ch4) and wait
#   scripts/cluster.sh node-kill NODE   # SIGKILL one server
#   scripts/cluster.sh node-start NODE  # start one server again, wait until it answers
#
# Ports (none clash with `make run`, `make test` or `make bench`):
#   ZooKeeper 19481; nginx 19480 -> collectors 19491, 19492;
#   chN: native 1940N, HTTP 1941N, interserver 1942N (N = 1..4);
#   shard 1 = ch1, ch2; shard 2 = ch3, ch4.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="$ROOT/.local/cluster"
CLUSTER=credstats
ZK_PORT=19481
NGINX_PORT=19480
COLLECTORS=(19491 19492)
NODES=(ch1 ch2 ch3 ch4)
READY_TIMEOUT=60
# The package's users (default, without a password; the servers listen on
# loopback only), with the profile setting of users.d/credstats.xml.
USERS=$BASE/users.xml

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

node_index() {
	case $1 in
	ch1) echo 1 ;; ch2) echo 2 ;; ch3) echo 3 ;; ch4) echo 4 ;;
	*) die "unknown node '$1' (ch1..ch4)" ;;
	esac
}
tcp_port() { echo $((19400 + $(node_index "$1"))); }
http_port() { echo $((19410 + $(node_index "$1"))); }
shard_of() { echo $((($(node_index "$1") + 1) / 2)); }

# Installs what is missing from Debian's packages, or says what to run.
install_missing() {
	local missing=()
	[[ -x /usr/sbin/clickhouse-server ]] || command -v clickhouse-server >/dev/null || missing+=(clickhouse-server clickhouse-client)
	[[ -f /usr/share/java/zookeeper.jar ]] || missing+=(zookeeper)
	command -v java >/dev/null || missing+=(default-jre-headless)
	command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		die "the cluster needs ${missing[*]}; install them as root (needs Debian's package mirror):
    apt-get update && apt-get install -y ${missing[*]}"
	fi
	local apt=(apt-get -o DPkg::Lock::Timeout=600)
	if ! apt-cache policy "${missing[0]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		"${apt[@]}" update -q
	fi
	echo "cluster: installing ${missing[*]} from Debian's packages"
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q "${missing[@]}"
}

# Prints the pid recorded in $1 if that process is alive and its command line
# holds $2 (so a reused pid is never taken for ours).
alive() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) =~ ^[^Z]$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
	echo "$pid"
}

# Starts a command detached, its output in $2, its pid in $1.
launch() {
	local pidfile=$1 out=$2
	shift 2
	(exec setsid nohup "$@" </dev/null >>"$out" 2>&1) &
	echo $! >"$pidfile"
}

wait_until() {
	local what=$1 i
	shift
	for ((i = 0; i < READY_TIMEOUT * 4; i++)); do
		"$@" && return 0
		sleep 0.25
	done
	die "$what did not answer within ${READY_TIMEOUT}s"
}

stop_pidfile() {
	local pidfile=$1 match=$2 signal=${3:-TERM} pid i
	pid=$(alive "$pidfile" "$match") || {
		rm -f "$pidfile"
		return 0
	}
	kill -"$signal" "$pid" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		alive "$pidfile" "$match" >/dev/null || break
		sleep 0.25
	done
	if alive "$pidfile" "$match" >/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$pidfile"
}

zk_answers() {
	local reply
	reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null) || return 1
	[[ $reply == imok ]]
}

start_zookeeper() {
	local d="$BASE/zookeeper"
	alive "$d/pid" "$d/zoo.cfg" >/dev/null && return 0
	mkdir -p "$d/data"
	cat >"$d/zoo.cfg" <<-EOF
		# Written by scripts/cluster.sh.
		tickTime=500
		initLimit=10
		syncLimit=5
		dataDir=$d/data
		clientPort=$ZK_PORT
		clientPortAddress=127.0.0.1
		admin.enableServer=false
		4lw.commands.whitelist=ruok
		maxClientCnxns=200
		autopurge.purgeInterval=1
	EOF
	cat >"$d/log4j.properties" <<-EOF
		log4j.rootLogger=WARN, CONSOLE
		log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
		log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
		log4j.appender.CONSOLE.layout.ConversionPattern=%d %-5p %m%n
	EOF
	# zookeeper.jar's manifest names the jars it needs; $d first for our
	# log4j.properties.
	local cp="$d:/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
	echo "cluster: starting ZooKeeper on 127.0.0.1:$ZK_PORT"
	launch "$d/pid" "$d/out.log" java -Xmx256m -Dlog4j.configuration=file:$d/log4j.properties -Dzookeeper.log.dir="$d" -cp "$cp" \
		org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg"
	wait_until "ZooKeeper (log: ${d#"$ROOT/"}/out.log)" zk_answers
}

write_node_config() {
	local node=$1 d="$BASE/$1" i
	local tcp http inter shard
	tcp=$(tcp_port "$node")
	http=$(http_port "$node")
	inter=$((19420 + $(node_index "$node")))
	shard=$(shard_of "$node")
	mkdir -p "$d/data" "$d/log"
	{
		cat <<-EOF
			<?xml version="1.0"?>
			<!-- Written by scripts/cluster.sh; rewritten on every start. -->
			<yandex>
			    <logger>
			        <level>warning</level>
			        <log>$d/log/clickhouse-server.log</log>
			        <errorlog>$d/log/clickhouse-server.err.log</errorlog>
			        <size>20M</size>
			        <count>2</count>
			    </logger>
			    <listen_host>127.0.0.1</listen_host>
			    <interserver_http_host>127.0.0.1</interserver_http_host>
			    <tcp_port>$tcp</tcp_port>
			    <http_port>$http</http_port>
			    <interserver_http_port>$inter</interserver_http_port>
			    <max_connections>1024</max_connections>
			    <keep_alive_timeout>3</keep_alive_timeout>
			    <max_concurrent_queries>100</max_concurrent_queries>
			    <path>$d/data/</path>
			    <tmp_path>$d/data/tmp/</tmp_path>
			    <user_files_path>$d/data/user_files/</user_files_path>
			    <format_schema_path>$d/data/format_schemas/</format_schema_path>
			    <users_config>$USERS</users_config>
			    <default_profile>default</default_profile>
			    <default_database>default</default_database>
			    <uncompressed_cache_size>67108864</uncompressed_cache_size>
			    <mark_cache_size>67108864</mark_cache_size>
			    <mlock_executable>false</mlock_executable>
			    <zookeeper>
			        <node><host>127.0.0.1</host><port>$ZK_PORT</port></node>
			        <session_timeout_ms>10000</session_timeout_ms>
			    </zookeeper>
			    <distributed_ddl>
			        <path>/clickhouse/task_queue/ddl</path>
			    </distributed_ddl>
			    <macros>
			        <shard>$shard</shard>
			        <replica>$node</replica>
			    </macros>
			    <remote_servers>
			        <$CLUSTER>
		EOF
		for shard in 1 2; do
			echo "            <shard>"
			echo "                <internal_replication>true</internal_replication>"
			for i in $((shard * 2 - 1)) $((shard * 2)); do
				echo "                <replica><host>127.0.0.1</host><port>$((19400 + i))</port></replica>"
			done
			echo "            </shard>"
		done
		cat <<-EOF
			        </$CLUSTER>
			    </remote_servers>
			</yandex>
		EOF
	} >"$d/config.xml"
}

ch_answers() {
	clickhouse-client --host 127.0.0.1 --port "$1" --connect_timeout 1 -q 'SELECT 1' >/dev/null 2>&1
}

server_bin() {
	if [[ -x /usr/sbin/clickhouse-server ]]; then
		echo /usr/sbin/clickhouse-server
	else
		command -v clickhouse-server
	fi
}

start_node() {
	local node=$1 d="$BASE/$1"
	alive "$d/pid" "$d/config.xml" >/dev/null && return 0
	if ch_answers "$(tcp_port "$node")"; then
		die "$node: a server not started from $d/config.xml answers on 127.0.0.1:$(tcp_port "$node"); stop it first"
	fi
	write_node_config "$node"
	# A replica killed in the middle of inserts (as the tests do) may hold
	# parts it wrote and never recorded in ZooKeeper; when they are many
	# against a small table, 18.16 refuses to load it ("doesn't look like
	# the set of parts in ZooKeeper") and the server exits. The flag, which
	# the server removes once read, has it set those parts aside (detached)
	# and fetch what it misses from the other replica, as an operator would.
	mkdir -p "$d/data/flags" && touch "$d/data/flags/force_restore_data"
	echo "cluster: starting $node (shard $(shard_of "$node")) on 127.0.0.1:$(tcp_port "$node")"
	(cd "$d" && launch "$d/pid" "$d/out.log" "$(server_bin)" --config-file="$d/config.xml")
}

# Waits until NODE answers; fails if its process exits first.
wait_node() {
	local node=$1 i
	for ((i = 0; i < READY_TIMEOUT * 4; i++)); do
		alive "$BASE/$node/pid" "$BASE/$node/config.xml" >/dev/null || return 1
		ch_answers "$(tcp_port "$node")" && return 0
		sleep 0.25
	done
	die "$node did not answer within ${READY_TIMEOUT}s (log: .local/cluster/$node/log/clickhouse-server.err.log)"
}

# Starts NODE and waits for it, once more if it exited during start-up (18.16
# now and then stops loading its tables with "Invalid argument" when four
# servers start at once).
start_and_wait() {
	local node=$1
	wait_node "$node" && return 0
	echo "cluster: $node exited during start-up; starting it again"
	start_node "$node"
	wait_node "$node" || die "$node exited during start-up (log: .local/cluster/$node/log/clickhouse-server.err.log)"
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

start_nginx() {
	local d="$BASE/nginx" c
	alive "$d/pid" "$d/nginx.conf" >/dev/null && return 0
	mkdir -p "$d/tmp"
	{
		cat <<-EOF
			# Written by scripts/cluster.sh. Each client address goes to one
			# collector, so its per-process dedup and rate limit see all of it.
			worker_processes 1;
			error_log $d/error.log warn;
			pid $d/nginx.pid;
			events { worker_connections 4096; }
			http {
			    access_log off;
			    client_body_temp_path $d/tmp/body;
			    proxy_temp_path $d/tmp/proxy;
			    fastcgi_temp_path $d/tmp/fastcgi;
			    uwsgi_temp_path $d/tmp/uwsgi;
			    scgi_temp_path $d/tmp/scgi;
			    upstream collectors {
			        hash \$remote_addr consistent;
		EOF
		for c in "${COLLECTORS[@]}"; do
			echo "        server 127.0.0.1:$c max_fails=1 fail_timeout=2s;"
		done
		cat <<-EOF
			        keepalive 64;
			    }
			    server {
			        listen 127.0.0.1:$NGINX_PORT;
			        location / {
			            proxy_pass http://collectors;
			            proxy_http_version 1.1;
			            proxy_set_header Connection "";
			            proxy_set_header Host \$host;
			            proxy_set_header X-Forwarded-For \$remote_addr;
			            proxy_next_upstream error timeout http_502 http_503;
			            proxy_connect_timeout 1s;
			            add_header X-Credstats-Upstream \$upstream_addr always;
			        }
			    }
			}
		EOF
	} >"$d/nginx.conf"
	echo "cluster: starting nginx on 127.0.0.1:$NGINX_PORT"
	launch "$d/pid" "$d/out.log" "$(nginx_bin)" -p "$d" -c "$d/nginx.conf" -g 'daemon off;'
	wait_until "nginx (log: ${d#"$ROOT/"}/error.log)" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NGINX_PORT" 2>/dev/null
}

# The same replica of a shard takes a writer's inserts and answers its check
# for stored events (load_balancing in_order, which ClickHouse 18.16 takes
# from a profile, not from a client): a replica may be a moment behind.
write_users() {
	mkdir -p "$BASE/users.d"
	cp /etc/clickhouse-server/users.xml "$USERS"
	cat >"$BASE/users.d/credstats.xml" <<-'EOF'
		<?xml version="1.0"?>
		<!-- Written by scripts/cluster.sh. -->
		<yandex>
		    <profiles>
		        <default>
		            <load_balancing>in_order</load_balancing>
		        </default>
		    </profiles>
		</yandex>
	EOF
}

# ClickHouse 18.16 can crash in its ZooKeeper client when the first ON
# CLUSTER statement comes within seconds of its start: wait until every
# server reads ZooKeeper and has been up for 10 s.
zk_reads() {
	clickhouse-client --host 127.0.0.1 --port "$1" --connect_timeout 1 -q "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1
}

settle() {
	local n port up
	for n in "${NODES[@]}"; do
		port=$(tcp_port "$n")
		wait_until "$n reading ZooKeeper" zk_reads "$port"
	done
	for n in "${NODES[@]}"; do
		up=$(clickhouse-client --host 127.0.0.1 --port "$(tcp_port "$n")" -q 'SELECT uptime()' 2>/dev/null || echo 10)
		if ((up < 10)); then sleep $((10 - up)); fi
	done
}

cmd_start() {
	install_missing
	write_users
	start_zookeeper
	local n
	for n in "${NODES[@]}"; do start_node "$n"; done
	for n in "${NODES[@]}"; do start_and_wait "$n"; done
	settle
	start_nginx
	echo "cluster: ready: ZooKeeper 127.0.0.1:$ZK_PORT, ClickHouse 127.0.0.1:19401-19404 (cluster $CLUSTER), nginx 127.0.0.1:$NGINX_PORT"
}

cmd_stop() {
	local n
	stop_pidfile "$BASE/nginx/pid" "$BASE/nginx/nginx.conf"
	for n in "${NODES[@]}"; do stop_pidfile "$BASE/$n/pid" "$BASE/$n/config.xml"; done
	stop_pidfile "$BASE/zookeeper/pid" "$BASE/zookeeper/zoo.cfg"
	echo "cluster: stopped"
}

cmd_status() {
	local n ok=0
	alive "$BASE/zookeeper/pid" "$BASE/zookeeper/zoo.cfg" >/dev/null && echo "zookeeper: running" || { echo "zookeeper: not running"; ok=1; }
	for n in "${NODES[@]}"; do
		alive "$BASE/$n/pid" "$BASE/$n/config.xml" >/dev/null && echo "$n: running" || { echo "$n: not running"; ok=1; }
	done
	alive "$BASE/nginx/pid" "$BASE/nginx/nginx.conf" >/dev/null && echo "nginx: running" || { echo "nginx: not running"; ok=1; }
	return $ok
}

main() {
	(($# >= 1)) || die "usage: $0 start|stop|status|node-stop NODE|node-kill NODE|node-start NODE"
	case $1 in
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	node-stop | node-kill | node-start)
		(($# == 2)) || die "usage: $0 $1 NODE"
		node_index "$2" >/dev/null
		case $1 in
		node-stop) stop_pidfile "$BASE/$2/pid" "$BASE/$2/config.xml" ;;
		node-kill) stop_pidfile "$BASE/$2/pid" "$BASE/$2/config.xml" KILL ;;
		node-start) start_node "$2" && start_and_wait "$2" ;;
		esac
		;;
	*) die "unknown command '$1'" ;;
	esac
}

main "$@"
