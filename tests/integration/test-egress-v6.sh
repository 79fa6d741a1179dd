#!/usr/bin/env bash
# test-egress-v6.sh - IPv6 and AAAA answers on the egress path
# (../shared/spec/network.md §1.2, §2.3, §2.5). The world also answers on
# IPv6 (2001:db8::/32, the documentation range) and the edge can reach it.
#   - A sandbox's own IPv6 gets nowhere, whatever its lists say: IPv6
#     entries open nothing.
#   - An allowed name is dialled by the edge through its resolver, IPv6
#     included: a name with only an AAAA record is reached over IPv6, a
#     dual-stack one over IPv4.
#   - A name whose AAAA answer is in an always-denied range (::1, fc00::/7,
#     fe80::/10, IPv4-mapped private addresses) is refused before any SYN:
#     a counter on the edge's output sees no packet to them.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
EGRESS_PREFIX=egv
. "$(dirname "$0")/../edge/egress-lib.sh"

W6=2001:db8::10      # the world on IPv6
S6=2001:db8:1::2     # what root inside sandbox 1 gives itself
EGRESS_DNS_ARGS=(--host-record=v6only.example.test,$W6
	--host-record=dual.example.test,$A,$W6
	--host-record=loop6.example.test,::1
	--host-record=ula6.example.test,fd00::10
	--host-record=ll6.example.test,fe80::10
	--host-record=mapped6.example.test,::ffff:10.9.9.9
	--host-record=unspec6.example.test,::)
NAMES='"v6only.example.test","dual.example.test","loop6.example.test","ula6.example.test","ll6.example.test","mapped6.example.test","unspec6.example.test"'

egress_topology || { echo "Bail out! topology"; exit 1; }
ip -n "$EDGE_NS" addr add 2001:db8::fe/64 dev "${P}wa" nodad &&
    ip -n "$WORLD_NS" addr add "$W6/64" dev "${P}wb" nodad &&
    ip -n "$EDGE_NS" addr add 2001:db8:1::1/64 dev "${P}1a" nodad &&
    ip -n "$WORLD_NS" route add 2001:db8:1::/64 via 2001:db8::fe &&
    ip -n "$EDGE_NS" addr add fd00::10/128 dev lo &&
    ip -n "$EDGE_NS" route add 10.0.0.0/8 via 192.0.2.1 &&
    ip netns exec "$EDGE_NS" sysctl -qw net.ipv6.conf.all.forwarding=1 ||
    { echo "Bail out! IPv6 topology"; exit 1; }
# Count every packet the edge itself sends to an always-denied destination.
ip netns exec "$EDGE_NS" nft -f - <<'EOF' || { echo "Bail out! trap"; exit 1; }
table inet egvtrap {
	chain out {
		type filter hook output priority 0; policy accept;
		ip6 daddr { ::1, ::, fc00::/7, fe80::/10 } tcp dport { 80, 443 } counter
		ip daddr { 10.0.0.0/8, 127.0.0.0/8 } tcp dport { 80, 443 } counter
	}
}
EOF
edge_ca || { echo "Bail out! CA"; exit 1; }
check "world starts" egress_world
check "edge starts" edge_start

# trapped: packets the edge sent to always-denied destinations so far.
trapped() {
	ip netns exec "$EDGE_NS" nft list table inet egvtrap |
	    awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

like "$(get "$WORLD_NS" "http://[$W6]/" -g)" "local=$W6" "the world answers on IPv6"
like "$(ip netns exec "$EDGE_NS" curl -s -g --max-time 3 "http://[$W6]/")" "local=$W6" "the edge reaches it"

# The sandbox's own IPv6: root inside adds an address and a route.
ip -n "$S1" addr add "$S6/64" dev "${P}1b" nodad
ip -n "$S1" route add default via 2001:db8:1::1
like "$(get "$S1" "http://[$W6]/" -g)" "local=$W6" "unfenced, the sandbox's IPv6 would get out"
add "$ID1" "$S1_IP" '{}'
is "$(get "$S1" "http://[$W6]/" -g)" fail "no rules: the sandbox's IPv6 is dropped"
add "$ID1" "$S1_IP" "{\"allowOut\":[\"$W6\",\"2001:db8::/32\",\"::ffff:$A\"],\"denyOut\":[\"0.0.0.0/0\"]}"
is "$(get "$S1" "http://[$W6]/" -g)" fail "IPv6 entries in allowOut open nothing over IPv6"
is "$(get "$S1" "http://$A/")" fail "nor over IPv4: deny-all holds"
is "$(ip netns exec "$EDGE_NS" nft list table inet "envd_egress_$ID1" | grep -c '2001:db8\|::ffff')" 0 \
    "no IPv6 element in the sandbox's sets"
add "$ID1" "$S1_IP" "{\"denyOut\":[\"$W6\"]}"
like "$(get "$S1" http://$A/)" "local=$A" "IPv6 entries in denyOut leave IPv4 alone"

# Names: the edge resolves them itself, AAAA answers included.
add "$ID1" "$S1_IP" "{\"allowOut\":[$NAMES],\"denyOut\":[\"0.0.0.0/0\"]}"
like "$(get "$S1" http://v6only.example.test/ --resolve v6only.example.test:80:$D)" \
    "host=v6only.example.test local=$W6" "a name with only an AAAA record is dialled over IPv6 (HTTP)"
like "$(get "$S1" https://v6only.example.test/ --resolve v6only.example.test:443:$D)" \
    "local=$W6" "a name with only an AAAA record is dialled over IPv6 (TLS)"
like "$(get "$S1" http://dual.example.test/ --resolve dual.example.test:80:$D)" \
    "local=$A" "a dual-stack name is dialled over IPv4"
for name in loop6 ula6 ll6 mapped6 unspec6; do
	n0=$(trapped)
	is "$(get "$S1" "http://$name.example.test/" --resolve "$name.example.test:80:$D")" fail \
	    "$name.example.test (always-denied AAAA) is refused over HTTP"
	is "$(get "$S1" "https://$name.example.test/" --resolve "$name.example.test:443:$D")" fail \
	    "$name.example.test (always-denied AAAA) is refused over TLS"
	is "$(trapped)" "$n0" "$name.example.test: the edge sent no packet to its address"
done
ip netns exec "$EDGE_NS" curl -s -g --max-time 1 "http://[fd00::10]/" >/dev/null
[ "$(trapped)" -gt "$n0" ]
ok $? "the counter does see the edge's own packets to such an address"
is "$(conns "$S1" probe $D 80 'GET / HTTP/1.1\r\nHost: loop6.example.test\r\n\r\n')" "connect=ok bytes=0" \
    "a refused AAAA name is accepted, then closed with no byte"

edge_cmd remove "$ID1" >/dev/null
ok $? "remove"
ip netns exec "$EDGE_NS" nft delete table inet egvtrap

done_testing
