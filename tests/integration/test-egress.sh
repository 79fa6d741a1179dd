#!/usr/bin/env bash
# test-egress.sh - egress fences driven through envd-edge, in network
# namespaces: a world (HTTP, HTTPS, TCP and UDP echo, dnsmasq at the
# auto-allowed DNS address), an edge routing between it and two sandboxes,
# and the sandboxes themselves. Every observation is an application answer
# seen from inside a sandbox.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
. "$(dirname "$0")/../edge/egress-lib.sh"

egress_topology || { echo "Bail out! topology"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
check "world starts" egress_world
check "edge starts with the egress listeners" edge_start

# Validation, nothing applied.
out=$(edge_cmd add "$ID1" --addr "$S1_IP" --network '{"denyOut":["example.com"]}' 2>&1)
is "$out" "envd-edge: invalid denied CIDR example.com" "domain in denyOut refused"
out=$(edge_cmd add "$ID1" --addr "$S1_IP" --network '{"allowOut":["*.github.test"]}' 2>&1)
is "$out" "envd-edge: When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic." "domain without deny-all refused"
out=$(edge_cmd add "$ID1" --addr "$S1_IP" --network '{"allowOut":["0.0.0.0"]}' 2>&1)
is "$out" "envd-edge: invalid allowed address 0.0.0.0" "unspecified allow refused"
is "$(ip netns exec "$EDGE_NS" nft list tables | grep -c envd_egress_)" 0 "a refused add leaves no table"

# Default: everything reachable.
add "$ID1" "$S1_IP" '{}'
like "$(get "$S1" http://$A/)" "host=$A local=$A" "open: HTTP by IP"
like "$(get "$S1" https://api.example.test/ --resolve api.example.test:443:$B)" \
    "host=api.example.test local=$B" "open: HTTPS, the IP the sandbox chose"
is "$(udp "$S1" $C)" udp-hello "open: UDP echo"
is "$(dns "$S1" api.example.test)" "$A" "open: DNS"

# allowInternetAccess false: nothing, DNS included.
add "$ID1" "$S1_IP" '{"allowInternetAccess":false}'
is "$(get "$S1" http://$A/)" fail "no internet: HTTP fails"
is "$(get "$S1" https://$B/)" fail "no internet: HTTPS fails"
is "$(udp "$S1" $C)" timeout "no internet: UDP dropped"
is "$(dns "$S1" api.example.test)" fail "no internet: DNS fails"

# Deny all but two IPs and one /24.
add "$ID1" "$S1_IP" "{\"allowOut\":[\"$A\",\"$B\",\"203.0.113.0/24\"],\"denyOut\":[\"0.0.0.0/0\"]}"
like "$(get "$S1" http://$A/)" "local=$A" "allow list: first IP"
like "$(get "$S1" https://$B/)" "local=$B" "allow list: second IP (TLS)"
like "$(get "$S1" http://$C:8080/)" "local=$C" "allow list: inside the /24"
is "$(get "$S1" http://$D/)" fail "allow list: another IP is refused"
is "$(udp "$S1" $C)" udp-hello "UDP to an allowed address passes"
is "$(udp "$S1" $D)" timeout "UDP to a denied address is dropped"

# Root in the sandbox: flush its own ruleset, take another address.
ip netns exec "$S1" nft flush ruleset
ip -n "$S1" addr add 169.254.10.3/30 dev "${P}1b"
ip -n "$S1" addr del "$S1_IP/30" dev "${P}1b"
ip -n "$S1" route add default via 169.254.10.1 2>/dev/null
is "$(get "$S1" http://$D/)" fail "spoofed source: denied address still unreachable"
is "$(get "$S1" http://$A/)" fail "spoofed source: not even an allowed one"
[ "$(udp "$S1" $D 2>/dev/null)" != udp-hello ]
ok $? "spoofed source: UDP gets no echo"
ip -n "$S1" addr add "$S1_IP/30" dev "${P}1b"
ip -n "$S1" addr del 169.254.10.3/30 dev "${P}1b"
ip -n "$S1" route add default via 169.254.10.1 2>/dev/null

# Deny one IP only.
add "$ID1" "$S1_IP" "{\"denyOut\":[\"$B\"]}"
is "$(get "$S1" http://$B/)" fail "deny one: that IP is refused"
like "$(get "$S1" http://$A/)" "local=$A" "deny one: others reachable"
is "$(udp "$S1" $B)" timeout "deny one: UDP to it dropped"

# An IP in both lists is allowed.
add "$ID1" "$S1_IP" "{\"allowOut\":[\"$B\"],\"denyOut\":[\"$B\"]}"
like "$(get "$S1" http://$B/)" "local=$B" "allow beats deny (TCP)"
is "$(udp "$S1" $B)" udp-hello "allow beats deny (UDP)"

# Domains with deny-all.
add "$ID1" "$S1_IP" '{"allowOut":["api.example.test","*.github.test","priv.example.test"],"denyOut":["0.0.0.0/0"]}'
is "$(dns "$S1" api.example.test)" "$A" "domains: the DNS server is reachable"
like "$(get "$S1" http://api.example.test/)" "host=api.example.test local=$A" "domains: exact name over 80"
like "$(get "$S1" https://api.example.test/)" "host=api.example.test local=$A" "domains: exact name over 443"
like "$(get "$S1" https://www.github.test/)" "host=www.github.test" "domains: wildcard over 443"
like "$(get "$S1" http://www.github.test/ -H 'Host: WWW.GitHub.TEST')" "local=$A" "domains: case-insensitive"
is "$(get "$S1" http://other.example.test/)" fail "domains: another name on the same IP is refused"
is "$(get "$S1" https://github.test/ --resolve github.test:443:$A)" fail "domains: *.github.test is not github.test"
is "$(get "$S1" http://api.example.test:8080/)" fail "domains: an allowed name on another port is refused"
is "$(get "$S1" http://$A/)" fail "domains: plain IP refused"
like "$(get "$S1" http://api.example.test/ --resolve api.example.test:80:$D)" \
    "local=$A" "domains: the edge dials the name, not the address the sandbox chose"
is "$(get "$S1" http://priv.example.test/ --resolve priv.example.test:80:$D)" fail \
    "domains: a name resolving into a denied range is refused"
is "$(get "$S1" http://api.example.test/ --resolve api.example.test:80:10.0.0.5)" fail \
    "domains: a private address is dropped before the proxy"
is "$(udp "$S1" $A)" timeout "domains: UDP is never matched by name"

# A blocked connection may be accepted but carries nothing.
add "$ID1" "$S1_IP" "{\"denyOut\":[\"$B\"]}"
like "$(conns "$S1" probe $A 9000 hello)" "connect=ok bytes=5" "no byte: the probe sees an allowed echo"
is "$(conns "$S1" probe $B 9000 hello)" "connect=ok bytes=0" "no byte: a denied echo is accepted, then closed with no byte"
is "$(conns "$S1" probe $B 80 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')" "connect=ok bytes=0" "no byte: a denied HTTP server answers nothing"
like "$(conns "$S1" probe 10.0.0.5 9000 hello)" "bytes=0|connect=fail" "no byte: an always-denied address gives nothing"
add "$ID1" "$S1_IP" '{"allowOut":["api.example.test"],"denyOut":["0.0.0.0/0"]}'
is "$(conns "$S1" probe $A 80 'GET / HTTP/1.1\r\nHost: other.example.test\r\n\r\n')" "connect=ok bytes=0" "no byte: a refused name over 80"
is "$(conns "$S1" probe $A 9000 hello)" "connect=ok bytes=0" "no byte: a refused port under deny-all"

# The connection cap: past it, accepted then closed; the others go on.
ENVD_EDGE_EGRESS_MAX_CONNS=20 add "$ID1" "$S1_IP" '{}'
is "$(conns "$S1" cap $A 9000 20)" "first=20 extra=connect=ok bytes=0 again=20 after=1" \
    "cap 20: the 21st is closed with no byte, the first 20 keep echoing, a freed slot is usable"
ENVD_EDGE_EGRESS_MAX_CONNS=20 add "$ID1" "$S1_IP" "{\"allowOut\":[\"$A\"],\"denyOut\":[\"0.0.0.0/0\"]}"
is "$(conns "$S1" cap $A 9000 20)" "first=20 extra=connect=ok bytes=0 again=20 after=1" \
    "cap 20 with an allow list"
add "$ID2" "$S2_IP" '{}'
is "$(conns "$S2" cap $A 9000 25)" "first=25 extra=connect=ok bytes=6 again=25 after=1" \
    "another sandbox has its own count (default cap)"
edge_cmd remove "$ID2" >/dev/null

# Two sandboxes side by side, different rules.
add "$ID1" "$S1_IP" '{"allowOut":["api.example.test","*.github.test","priv.example.test"],"denyOut":["0.0.0.0/0"]}'
add "$ID2" "$S2_IP" "{\"denyOut\":[\"$A\"]}"
is "$(get "$S2" http://$A/)" fail "sandbox 2 denies A"
like "$(get "$S2" http://$B/)" "local=$B" "sandbox 2 reaches B"
like "$(get "$S1" https://api.example.test/)" "local=$A" "sandbox 1 still reaches api.example.test"
is "$(get "$S1" http://$B/)" fail "sandbox 1 still refuses B"

# remove: the sandbox leaves no table, set, map entry, count or record;
# the other keeps all of its own.
is "$(hapi "show map $STATE/egress.map" | grep -c "$S1_IP")" 4 "sandbox 1 has its map entries"
edge_cmd remove "$ID2" >/dev/null
ok $? "remove sandbox 2"
is "$(ip netns exec "$EDGE_NS" nft list tables | grep -c "envd_egress_$ID2")" 0 "sandbox 2: no table left"
is "$(ip netns exec "$EDGE_NS" nft list ruleset | grep -c "$S2_IP\|${P}2a")" 0 "sandbox 2: no rule or set element left"
is "$(hapi "show map $STATE/egress.map" | grep -c "$S2_IP")" 0 "sandbox 2: no map entry left"
is "$(grep -c "$S2_IP" "$STATE/egress.map")" 0 "sandbox 2: not in the map file"
is "$(hapi "show table egress_conns" | grep -c "key=$S2_IP ")" 0 "sandbox 2: no connection count left"
is "$(ls "$STATE/egress")" "$ID1.json" "sandbox 2: no egress record left"
is "$(hapi "show map $STATE/egress.map" | grep -c "$S1_IP")" 4 "sandbox 1 keeps its map entries"
like "$(get "$S1" https://api.example.test/)" "local=$A" "sandbox 1 still reaches api.example.test"
is "$(get "$S1" http://$B/)" fail "sandbox 1 still refuses B"

edge_cmd remove "$ID1" >/dev/null
ok $? "remove sandbox 1"
is "$(ip netns exec "$EDGE_NS" nft list ruleset | grep -c 'envd_egress_\|169\.254\.1[01]\.')" 0 "no table, rule or set element left"
is "$(hapi "show map $STATE/egress.map" | grep -c .)" 0 "no map entry left"
is "$(grep -c . "$STATE/egress.map")" 0 "the map file is empty"
is "$(hapi "show table egress_conns" | grep -c "key=")" 0 "no connection count left"
is "$(ls "$STATE/egress" | wc -l)" 0 "no egress record left"

# restore rebuilds every table and the map after a reboot: HAProxy gone,
# tables gone, the map file lost.
add "$ID1" "$S1_IP" "{\"denyOut\":[\"$A\"]}"
add "$ID2" "$S2_IP" '{"allowOut":["api.example.test"],"denyOut":["0.0.0.0/0"]}'
edge_cmd stop >/dev/null
ip netns exec "$EDGE_NS" nft delete table inet "envd_egress_$ID1"
ip netns exec "$EDGE_NS" nft delete table inet "envd_egress_$ID2"
rm -f "$STATE/egress.map"
edge_cmd restore >/dev/null
ok $? "restore"
is "$(ip netns exec "$EDGE_NS" nft list tables | grep -c envd_egress_)" 2 "after restore: both tables"
is "$(get "$S1" http://$A/)" fail "after restore: A still denied"
like "$(get "$S1" http://$B/)" "local=$B" "after restore: B reachable through the proxy"
like "$(get "$S2" http://api.example.test/)" "local=$A" "after restore: the allowed name (map rebuilt)"
is "$(get "$S2" http://$B/)" fail "after restore: deny-all holds"
edge_cmd remove "$ID1" >/dev/null
edge_cmd remove "$ID2" >/dev/null
is "$(grep -c . "$STATE/egress.map")" 0 "after restore and remove: the map file is empty"

done_testing
