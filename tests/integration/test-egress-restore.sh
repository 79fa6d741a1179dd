#!/usr/bin/env bash
# test-egress-restore.sh - restore over the state a crashed edge left: adds
# killed with SIGKILL at random points, a remove cut off after the record
# went, temporary files of interrupted writes, HAProxy itself killed. After
# restore the records are the truth: every recorded sandbox has its table
# and map entries back, nothing else of this state directory is left (no
# table, set, map entry, egress record or temporary file), another state
# directory's table is untouched, and the fences behave as before.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
EGRESS_PREFIX=egc
. "$(dirname "$0")/../edge/egress-lib.sh"

S3=${P}s3
S3_IP=169.254.12.2
ID3=egresssbx3
KILLS=8

# tables: the egress tables in the edge namespace, one name a line, sorted.
tables() {
	ip netns exec "$EDGE_NS" nft list tables inet | awk '$3 ~ /^envd_egress_/ { print $3 }' | sort
}

# recorded: the table names the records in the state directory call for.
recorded() {
	local f
	for f in "$STATE"/sandboxes/*.json; do
		[ -e "$f" ] && f=${f##*/} && echo "envd_egress_${f%.json}"
	done | sort
}

# map_keys FILE: the keys of a map file, sorted.
map_keys() { awk '{ print $1 }' "$STATE/$1" | sort; }

# live_keys FILE: the keys HAProxy holds for a map file, sorted.
live_keys() { hapi "show map $STATE/$1" | awk 'NF >= 3 { print $2 }' | sort; }

# consistent LABEL: the state directory, nftables and HAProxy agree.
consistent() {
	local ids
	ids=$(recorded | sed 's/^envd_egress_//')
	is "$(tables | grep -v '^envd_egress_foreign$')" "$(recorded)" "$1: a table for each record, no other"
	is "$(ls "$STATE/egress" | sed 's/\.json$//' | sort)" "$ids" "$1: an egress record for each record, no other"
	is "$(map_keys sandboxes.map)" "$ids" "$1: sandboxes.map holds the records only"
	is "$(live_keys sandboxes.map)" "$ids" "$1: HAProxy's address map holds the records only"
	is "$(map_keys egress.map | grep -c '^src:')" "$(echo "$ids" | grep -c .)" "$1: one cap entry a sandbox in egress.map"
	is "$(live_keys egress.map)" "$(map_keys egress.map)" "$1: HAProxy's egress map is the file"
	is "$(find "$STATE" -name '*.tmp.*' | wc -l)" 0 "$1: no temporary file left"
	is "$(tables | grep -c '^envd_egress_foreign$')" 1 "$1: another state directory's table is untouched"
}

egress_topology || { echo "Bail out! topology"; exit 1; }
ip netns add "$S3" && EXTRA_NS+=("$S3") && ip -n "$S3" link set lo up &&
    veth_pair "$EDGE_NS" 169.254.12.1 "$S3" "$S3_IP" 24 3 &&
    ip -n "$S3" route add default via 169.254.12.1 || { echo "Bail out! S3"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
check "world starts" egress_world
check "edge starts" edge_start
real=$(readlink -f "$STATE")

add "$ID1" "$S1_IP" "{\"denyOut\":[\"$A\"]}"
add "$ID2" "$S2_IP" '{"allowOut":["api.example.test"],"denyOut":["0.0.0.0/0"]}'
add "$ID3" "$S3_IP" "{\"denyOut\":[\"$B\"]}"
is "$(get "$S3" http://$B/)" fail "sandbox 3 is fenced before the crash"
like "$(get "$S3" http://$A/)" "local=$A" "sandbox 3 reaches A through the proxy"
is "$(hapi "show table egress_conns" | grep -c "key=$S3_IP ")" 1 "the proxy keeps a connection count for sandbox 3"

# A table another edge (another state directory) made, and one this edge
# made for a sandbox whose records are all gone already.
ip netns exec "$EDGE_NS" nft -f - <<EOF
table inet envd_egress_foreign {
	comment "envd-edge /elsewhere/state"
}
table inet envd_egress_ghost {
	comment "envd-edge $real"
	set allow {
		type ipv4_addr
		flags interval
		elements = { 192.0.2.7 }
	}
}
EOF
ok $? "leftover tables made"

# Adds killed at random points, each leaving what it had done so far.
for i in $(seq 1 $KILLS); do
	edge_cmd add "egkill$i" --addr "169.254.12.$((10 + i))" \
	    --network "{\"denyOut\":[\"$B\"],\"allowOut\":[\"$C\"]}" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
# A remove killed after the record went: maps, egress record and table stay.
rm "$STATE/sandboxes/$ID3.json"
# Interrupted atomic writes.
echo '{"sandboxId":"half' >"$STATE/sandboxes/halfsbx.json.tmp.4242"
echo 'src:192.0.2.9 1' >"$STATE/egress.map.tmp.4242"
echo '{' >"$STATE/egress/halfsbx.json.tmp.77"
echo "ghostsbx 192.0.2.99" >>"$STATE/sandboxes.map"

# 1. envd-edge crashed, HAProxy still runs.
out=$(edge_cmd restore 2>&1)
ok $? "restore with HAProxy running"
like "$out" "dropped [1-9][0-9]* leftover file" "restore says what it dropped"
consistent "HAProxy alive"
is "$(tables | grep -c "^envd_egress_\($ID3\|ghost\)$")" 0 "the removed and the ghost sandbox lose their tables"
is "$(ip netns exec "$EDGE_NS" nft list ruleset | grep -c "$S3_IP\|192\.0\.2\.7")" 0 "no rule or set element of them left"
is "$(live_keys egress.map | grep -c "@$S3_IP\|:$S3_IP$")" 0 "no egress map entry of sandbox 3 in HAProxy"
is "$(hapi "show table egress_conns" | grep -c "key=$S3_IP ")" 0 "no connection count of sandbox 3"
is "$(get "$S1" http://$A/)" fail "sandbox 1 still denies A"
like "$(get "$S1" http://$B/)" "local=$B" "sandbox 1 still reaches B"
like "$(get "$S2" http://api.example.test/)" "local=$A" "sandbox 2 still reaches its name"
is "$(get "$S2" http://$B/)" fail "sandbox 2 still denies all else"
out=$(edge_cmd restore 2>&1)
is "$out" "" "a second restore finds nothing to drop"

# 2. HAProxy killed too, with a fresh half-done remove and more leftovers.
add "$ID3" "$S3_IP" "{\"denyOut\":[\"$B\"]}"
rm "$STATE/sandboxes/$ID3.json"
echo "ghostsbx 192.0.2.99" >>"$STATE/sandboxes.map"
echo "src:192.0.2.99 5" >>"$STATE/egress.map"
echo '{}' >"$STATE/tokens.map.tmp.999"
pid=$(cat "$STATE/haproxy.pid")
kill -9 "$pid"
for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$pid" 2>/dev/null
ok $? "HAProxy is gone"
# Its pid file now names a process that is no HAProxy: stop leaves it be.
sleep 30 &
decoy=$!
SBX_PIDS+=("$decoy")
echo "$decoy" >"$STATE/haproxy.pid"
edge_cmd stop
kill -0 "$decoy" 2>/dev/null
ok $? "stop does not signal the process a stale pid file names"
[ ! -e "$STATE/haproxy.pid" ]
ok $? "stop removes the stale pid file"
kill "$decoy"
ip netns exec "$EDGE_NS" nft delete table inet "envd_egress_$ID1"
edge_cmd restore >/dev/null 2>&1
ok $? "restore after HAProxy was killed"
consistent "HAProxy restarted"
is "$(tables | grep -c "^envd_egress_$ID3$")" 0 "sandbox 3 loses its table again"
is "$(tables | grep -c "^envd_egress_$ID1$")" 1 "sandbox 1 gets its lost table back"
is "$(grep -c '192\.0\.2\.99' "$STATE/sandboxes.map" "$STATE/egress.map" | grep -vc ':0$')" 0 "stale map lines are gone from the files"
is "$(get "$S1" http://$A/)" fail "after the restart: sandbox 1 denies A"
like "$(get "$S1" http://$B/)" "local=$B" "after the restart: sandbox 1 reaches B"
like "$(get "$S2" https://api.example.test/)" "local=$A" "after the restart: sandbox 2 reaches its name over TLS"
is "$(get "$S2" http://$B/)" fail "after the restart: sandbox 2 denies all else"
for f in "$STATE"/sandboxes/egkill*.json; do
	[ -e "$f" ] || continue
	id=${f##*/}
	id=${id%.json}
	edge_cmd remove "$id" >/dev/null 2>&1
	ok $? "a killed add that got its record ($id) is a whole sandbox: remove works"
done

edge_cmd remove "$ID1" >/dev/null
edge_cmd remove "$ID2" >/dev/null
is "$(tables)" envd_egress_foreign "all removed: only the foreign table is left"
ip netns exec "$EDGE_NS" nft delete table inet envd_egress_foreign

done_testing
