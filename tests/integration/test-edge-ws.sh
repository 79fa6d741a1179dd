#!/usr/bin/env bash
# test-edge-ws.sh - WebSocket through envd-edge: a WebSocket echo server
# in each sandbox namespace, upgraded through PORT-ID.DOMAIN over http and
# https; text, 64-bit-length binary and ping frames come back unchanged.
# On a private, masked sandbox the upgrade needs the traffic token and the
# server sees the masked Host.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
requires command -v python3

ID1=sbxwsaaaaaaaaaaaaaa1
ID2=sbxwsbbbbbbbbbbbbbb2

# sbx_ws NS IP PORT: the WebSocket echo server on IP:PORT in NS.
sbx_ws() {
	local i
	ip netns exec "$1" python3 "$EDGE_SRC/tests/edge/ws.py" serve "$3" "$2" &
	SBX_PIDS+=($!)
	for i in $(seq 1 200); do
		ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.025
	done
	return 1
}

# wsc URL [-H HEADER]...: the WebSocket client in the client namespace.
wsc() {
	ip netns exec "$CLIENT_NS" python3 "$EDGE_SRC/tests/edge/ws.py" client "$@" --cacert "$EDGE_CA"
}

edge_topology || { echo "Bail out! topology"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
edge_hosts "$ID1" "$ID2"
check "edge starts" edge_start
check "sandbox 1 WebSocket server" sbx_ws "$SBX_NS1" "$SBX_IP1" 8081
check "sandbox 2 WebSocket server" sbx_ws "$SBX_NS2" "$SBX_IP2" 8081
edge_cmd add "$ID1" --addr "$SBX_IP1" >/dev/null
ok $? "add a public sandbox"
out=$(edge_cmd add "$ID2" --addr "$SBX_IP2" --secure --network \
    '{"allowPublicTraffic":false,"maskRequestHost":"localhost:${PORT}"}')
ok $? "add a private, masked sandbox"
TOK=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["trafficAccessToken"])')

for s in ws wss; do
	is "$(wsc "$s://8081-$ID1.$EDGE_DOMAIN/chat")" "echoed host=8081-$ID1.$EDGE_DOMAIN" \
	    "$s: public sandbox, frames echoed"
	u="$s://8081-$ID2.$EDGE_DOMAIN/chat"
	is "$(wsc "$u")" "status 403" "$s: private sandbox, no token: 403"
	is "$(wsc "$u" -H 'e2b-traffic-access-token: wrong')" "status 403" "$s: private sandbox, wrong token: 403"
	is "$(wsc "$u" -H "e2b-traffic-access-token: $TOK")" "echoed host=localhost:8081" \
	    "$s: private sandbox, e2b- token: frames echoed, masked Host"
	is "$(wsc "$u" -H "cube-traffic-access-token: $TOK")" "echoed host=localhost:8081" \
	    "$s: private sandbox, cube- token: frames echoed"
done
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8081-$ID1.$EDGE_DOMAIN/chat")" 426 \
    "a plain request to the WebSocket server gets its own 426"
sleep 0.3
! grep -qF "$TOK" "$EDGE_LOGFILE"
ok $? "the token is not in HAProxy's log"
done_testing
