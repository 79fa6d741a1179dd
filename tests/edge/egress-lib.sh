# egress-lib.sh - the egress test topology (sourced after tests/functions.sh
# and tests/edge/lib.sh; set EGRESS_PREFIX first for a prefix of its own).
#
# Namespaces: a world (tests/edge/egress-world.py on several documentation
# addresses, dnsmasq at the auto-allowed DNS address), an edge routing
# between it and two sandboxes S1 and S2 (link-local /30s, each with a
# default route to the edge only). Everything goes in lib.sh's EXIT trap.
requires command -v nft
requires command -v dnsmasq

P=${EGRESS_PREFIX:-egr}$$
EDGE_NS=${P}e
WORLD_NS=${P}w
S1=${P}s1
S2=${P}s2
# lib.sh's edge_teardown removes these, with the edge and SBX_PIDS.
CLIENT_NS=$WORLD_NS SBX_NS1=$S1 SBX_NS2=$S2
S1_IP=169.254.10.2
S2_IP=169.254.11.2
DNS_IP=203.0.113.53
A=198.51.100.10  # api.example.test, www.github.test, other.example.test
B=198.51.100.20
C=203.0.113.80   # inside the allowed /24 of one case
D=198.51.100.30  # never allowed by a list
PRIV=10.9.9.9    # priv.example.test resolves here
ID1=egresssbx1
ID2=egresssbx2
EGRESS_DNS_ARGS=()	# more dnsmasq arguments for egress_world
export ENVD_EDGE_EGRESS_DNS=$DNS_IP

egress_topology() {
	local ns
	cleanup_fn edge_teardown
	for ns in "$EDGE_NS" "$WORLD_NS" "$S1" "$S2"; do
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up
		mkdir -p "/etc/netns/$ns"
	done
	veth_pair "$EDGE_NS" 192.0.2.254 "$WORLD_NS" 192.0.2.1 24 w &&
	veth_pair "$EDGE_NS" 169.254.10.1 "$S1" "$S1_IP" 30 1 &&
	veth_pair "$EDGE_NS" 169.254.11.1 "$S2" "$S2_IP" 30 2 || return 1
	for ip in $A $B $C $D $DNS_IP; do
		ip -n "$WORLD_NS" addr add "$ip/32" dev "${P}wb" || return 1
	done
	ip -n "$WORLD_NS" route add 169.254.0.0/16 via 192.0.2.254 &&
	ip -n "$EDGE_NS" route add 198.51.100.0/24 via 192.0.2.1 &&
	ip -n "$EDGE_NS" route add 203.0.113.0/24 via 192.0.2.1 &&
	ip -n "$S1" route add default via 169.254.10.1 &&
	ip -n "$S2" route add default via 169.254.11.1 &&
	ip netns exec "$EDGE_NS" sysctl -qw net.ipv4.ip_forward=1 || return 1
	for ns in "$EDGE_NS" "$S1" "$S2"; do
		printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$DNS_IP" \
		    >"/etc/netns/$ns/resolv.conf"
	done
}

egress_world() {
	local d=$TEST_TMP/world i
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=world" \
	    -addext "subjectAltName=DNS:*.example.test,DNS:*.github.test" \
	    -keyout "$d/key" -out "$d/crt" 2>/dev/null &&
	cat "$d/crt" "$d/key" >"$d/pem" || return 1
	ip netns exec "$WORLD_NS" python3 "$EDGE_SRC/tests/edge/egress-world.py" \
	    "$d/pem" &
	SBX_PIDS+=($!)
	ip netns exec "$WORLD_NS" dnsmasq -k -u root --no-resolv --no-hosts \
	    --bind-interfaces --listen-address="$DNS_IP" -x "$d/dnsmasq.pid" \
	    --host-record=api.example.test,$A --host-record=www.github.test,$A \
	    --host-record=other.example.test,$A \
	    --host-record=priv.example.test,$PRIV \
	    "${EGRESS_DNS_ARGS[@]+"${EGRESS_DNS_ARGS[@]}"}" 2>"$d/dnsmasq.log" &
	SBX_PIDS+=($!)
	for i in $(seq 1 200); do
		ip netns exec "$WORLD_NS" bash -c "exec 3<>/dev/tcp/$A/9000" \
		    2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# get NS URL [CURL ARGS...]: the body, or "fail" without an HTTP answer.
get() {
	local ns=$1 url=$2
	shift 2
	ip netns exec "$ns" curl -sk --connect-timeout 2 --max-time 4 "$@" \
	    "$url" 2>/dev/null || echo fail
}

# udp NS IP: what the UDP echo on IP:7 sends back, or "timeout".
udp() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(b"udp-hello", (sys.argv[1], 7))
try:
    print(s.recv(100).decode())
except OSError:
    print("timeout")' "$2"
}

# dns NS NAME: the address the sandbox's resolver gives for NAME, or "fail".
dns() {
	ip netns exec "$1" getent ahostsv4 "$2" 2>/dev/null |
	    awk 'NR==1 { print $1 }' | grep . || echo fail
}

# conns NS MODE ADDR PORT ARG: tests/edge/egress-conns.py inside NS.
conns() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$EDGE_SRC/tests/edge/egress-conns.py" "$@"
}

# hapi CMD: HAProxy's runtime API answer to CMD.
hapi() {
	ip netns exec "$EDGE_NS" socat - "UNIX-CONNECT:$STATE/haproxy.sock" <<<"$1"
}

# add ID ADDR NETWORK-JSON: (re)create the sandbox with that spec.
add() {
	local err
	edge_cmd remove "$1" >/dev/null 2>&1
	err=$(edge_cmd add "$1" --addr "$2" --network "$3" 2>&1 >/dev/null)
	ok $? "add $1 $3"
	[ -z "$err" ] || echo "# $err"
}

