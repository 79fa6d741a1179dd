# lib.sh - the edge test topology (sourced after tests/functions.sh).
#
# Namespaces, all named with a per-run prefix: EDGE_NS runs HAProxy,
# CLIENT_NS the clients, SBX_NS1/SBX_NS2 one envd-c each. veth pairs join
# client and sandboxes to the edge; addresses are documentation ranges and
# no namespace has a default route. Names resolve through
# /etc/netns/CLIENT_NS/hosts. Everything is removed by the EXIT trap.

requires test "$(id -u)" = 0
requires command -v haproxy
requires command -v openssl
requires ip netns list

: "${EDGE_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/edge/envd-edge}"
EDGE_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EDGE_DOMAIN=e2b.test
P=eg$$
EDGE_NS=${P}e
CLIENT_NS=${P}c
SBX_NS1=${P}s1
SBX_NS2=${P}s2
EDGE_IP=203.0.113.1
CLIENT_IP=203.0.113.2
CLIENT_IP2=203.0.113.3
SBX_IP1=198.51.100.2
SBX_IP2=198.51.100.6
STATE=$TEST_TMP/state
CONF=$TEST_TMP/haproxy.d
EDGE_LOGFILE=$TEST_TMP/haproxy.log
SBX_PIDS=()
EXTRA_NS=()	# namespaces made by edge_sbx_ns

edge_teardown() {
	local p
	[ -x "$EDGE_BIN" ] && [ -d "$STATE" ] &&
	    ip netns exec "$EDGE_NS" "$EDGE_BIN" --state-dir "$STATE" stop
	for p in "${SBX_PIDS[@]+"${SBX_PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null; done
	for ns in "$CLIENT_NS" "$SBX_NS1" "$SBX_NS2" \
	    "${EXTRA_NS[@]+"${EXTRA_NS[@]}"}" "$EDGE_NS"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
}

# veth_pair NS_A IP_A NS_B IP_B PREFIXLEN NAME
veth_pair() {
	ip link add "${P}$6a" type veth peer name "${P}$6b" &&
	ip link set "${P}$6a" netns "$1" &&
	ip link set "${P}$6b" netns "$3" &&
	ip -n "$1" addr add "$2/$5" dev "${P}$6a" &&
	ip -n "$3" addr add "$4/$5" dev "${P}$6b" &&
	ip -n "$1" link set "${P}$6a" up &&
	ip -n "$3" link set "${P}$6b" up
}

edge_topology() {
	local ns
	cleanup_fn edge_teardown
	for ns in "$EDGE_NS" "$CLIENT_NS" "$SBX_NS1" "$SBX_NS2"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
	done
	veth_pair "$CLIENT_NS" "$CLIENT_IP" "$EDGE_NS" "$EDGE_IP" 24 c &&
	ip -n "$CLIENT_NS" addr add "$CLIENT_IP2/24" dev "${P}ca" &&
	veth_pair "$SBX_NS1" "$SBX_IP1" "$EDGE_NS" 198.51.100.1 30 s1 &&
	veth_pair "$SBX_NS2" "$SBX_IP2" "$EDGE_NS" 198.51.100.5 30 s2 &&
	# Replies from the sandboxes to the edge only.
	mkdir -p "/etc/netns/$CLIENT_NS"
}

# edge_sbx_ns NAME IP EDGE_SIDE_IP: one more sandbox namespace ${P}NAME,
# joined to the edge by a /30 (IP inside, EDGE_SIDE_IP on the edge).
edge_sbx_ns() {
	ip netns add "${P}$1" || return 1
	EXTRA_NS+=("${P}$1")
	ip -n "${P}$1" link set lo up &&
	veth_pair "${P}$1" "$2" "$EDGE_NS" "$3" 30 "$1"
}

# edge_hosts ID...: make PORT-ID.DOMAIN resolve to the edge for the usual
# ports, and sandbox.DOMAIN.
edge_hosts() {
	local id port
	{
		echo "127.0.0.1 localhost"
		echo "$EDGE_IP sandbox.$EDGE_DOMAIN"
		for id in "$@"; do
			for port in 49983 3000 8080 8081 9999; do
				echo "$EDGE_IP $port-$id.$EDGE_DOMAIN"
			done
		done
	} >"/etc/netns/$CLIENT_NS/hosts"
}

# edge_ca: a test CA and a wildcard certificate for *.DOMAIN.
edge_ca() {
	local d=$TEST_TMP/ca
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=edge test CA" \
	    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=*.$EDGE_DOMAIN" \
	    -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null &&
	printf 'subjectAltName=DNS:*.%s,DNS:%s\n' "$EDGE_DOMAIN" "$EDGE_DOMAIN" >"$d/ext" &&
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
	    -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null &&
	cat "$d/srv.pem" "$d/srv.key" >"$d/tls.pem"
	EDGE_CA=$d/ca.pem
}

# edge_syslog: HAProxy logs to a datagram socket; socat writes the lines
# to $EDGE_LOGFILE.
edge_syslog() {
	ip netns exec "$EDGE_NS" socat -u "UNIX-RECV:$TEST_TMP/log.sock" \
	    "OPEN:$EDGE_LOGFILE,creat,append" &
	SBX_PIDS+=($!)
	local i
	for i in $(seq 1 100); do
		[ -S "$TEST_TMP/log.sock" ] && return 0
		sleep 0.02
	done
	return 1
}

# edge_cmd ARGS...: envd-edge in the edge namespace.
edge_cmd() {
	ip netns exec "$EDGE_NS" env EDGE_CONFIG_DIR="$CONF" \
	    EDGE_HTTP_BIND=:80 EDGE_HTTPS_BIND=:443 \
	    EDGE_CERT="$TEST_TMP/ca/tls.pem" EDGE_LOG="$TEST_TMP/log.sock" \
	    EDGE_RATE_LIMIT="${EDGE_RATE_LIMIT:-40000}" \
	    "$EDGE_BIN" --state-dir "$STATE" "$@"
}

# edge_start: configuration directory, log sink, HAProxy.
edge_start() {
	mkdir -p "$CONF" &&
	cp "$EDGE_SRC/packaging/edge/10-edge.cfg" \
	    "$EDGE_SRC/packaging/edge/20-egress.cfg" "$CONF/" &&
	edge_syslog &&
	edge_cmd restore
}

# sbx_envd NS IP [FLAGS...]: envd-c on :49983 in NS; waits for /health.
sbx_envd() {
	local i ns=$1 ip=$2
	shift 2
	ip netns exec "$ns" "$ENVD_BIN" -isnotfc -port 49983 "$@" \
	    2>>"$TEST_TMP/envd-$ns.log" &
	SBX_PIDS+=($!)
	for i in $(seq 1 200); do
		[ "$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' \
		    "http://$ip:49983/health")" = 204 ] && return 0
		sleep 0.025
	done
	return 1
}

# sbx_echo NS IP PORT: the echo server on IP:PORT in NS.
sbx_echo() {
	local i
	ip netns exec "$1" python3 "$EDGE_SRC/tests/edge/echo.py" "$3" "$2" &
	SBX_PIDS+=($!)
	for i in $(seq 1 200); do
		ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.025
	done
	return 1
}

# ccurl ARGS...: curl from the client namespace, trusting the test CA.
ccurl() {
	ip netns exec "$CLIENT_NS" curl -s --cacert "$EDGE_CA" \
	    --connect-timeout 3 --max-time 10 "$@"
}
