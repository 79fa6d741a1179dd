#!/usr/bin/env bash
# test-edge-sdk-layer.sh - the SDK conformance layer (tests/sdk) run once
# more, with every daemon behind envd-edge: the e2b SDK in non-debug mode
# dials https://49983-ID.DOMAIN with the access token, through HAProxy, for
# its files, commands, PTY and watch calls.
#
# Four sandbox namespaces, each added to the edge with its own ID; the
# harness (ENVD_EDGE, see tests/sdk/lib/harness.mjs) runs each daemon it
# starts in a free one. The test process runs in the edge namespace, as
# the orchestrator does: /init straight to the sandbox's address, every
# other request through the edge's public listener.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
requires command -v node
[ -d "$EDGE_SRC/tests/sdk/node_modules/e2b" ] ||
    SDK_INSTALL_ONLY=1 "$EDGE_SRC/tests/sdk/run.sh" >/dev/null 2>&1
requires test -d "$EDGE_SRC/tests/sdk/node_modules/e2b"

SLOTS=4
EDGE_RATE_LIMIT=1000000

edge_topology || { echo "Bail out! topology"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
check "edge starts" edge_start

# Sandbox k: namespace ${P}dk, 198.51.100.(8+4k+2) inside, .(8+4k+1) on
# the edge; ID sbxlayerNNNNNNNNNNNN.
mkdir -p "/etc/netns/$EDGE_NS"
echo "127.0.0.1 localhost" >"/etc/netns/$EDGE_NS/hosts"
json=
ids=()
for k in $(seq 1 $SLOTS); do
	id=$(printf 'sbxlayer%012d' "$k")
	ids+=("$id")
	inner=198.51.100.$((8 + 4 * k + 2))
	edge_sbx_ns "d$k" "$inner" "198.51.100.$((8 + 4 * k + 1))" &&
	    edge_cmd add "$id" --addr "$inner" >/dev/null
	ok $? "sandbox $k: namespace and edge entry"
	echo "$EDGE_IP 49983-$id.$EDGE_DOMAIN" >>"/etc/netns/$EDGE_NS/hosts"
	json="$json${json:+,}{\"id\":\"$id\",\"addr\":\"$inner\",\"netns\":\"${P}d$k\"}"
done
printf '{"domain":"%s","sandboxes":[%s]}\n' "$EDGE_DOMAIN" "$json" >"$TEST_TMP/edge.json"

ip netns exec "$EDGE_NS" env ENVD_EDGE="$TEST_TMP/edge.json" \
    NODE_EXTRA_CA_CERTS="$EDGE_CA" TMPDIR="$TEST_TMP" \
    "$EDGE_SRC/tests/sdk/run.sh" >"$TEST_TMP/sdk.log" 2>&1
st=$?
passed=$(sed -n 's/^sdk-passed: //p' "$TEST_TMP/sdk.log")
ok $st "the SDK layer through the edge: $(grep -E '^sdk-(passed|failed)' "$TEST_TMP/sdk.log" | tr '\n' ' ')"
grep -E '^not ok ' "$TEST_TMP/sdk.log" | sed 's/^/#   /'
[ $st = 0 ] || tail -40 "$TEST_TMP/sdk.log" | sed 's/^/#   /'

# The calls did go through HAProxy, to these sandboxes, over envd's port:
# a layer that fell back to local daemons would leave no such log lines.
sleep 0.3
n=$(grep -c " id=sbxlayer[0-9]* port=49983" "$EDGE_LOGFILE" 2>/dev/null)
echo "# HAProxy logged ${n:-0} requests to the layer's sandboxes; $passed cases passed"
grep " id=sbxlayer" "$EDGE_LOGFILE" | awk '{print $3, $4, $5}' | sort | uniq -c |
    sort -rn | head -12 | sed 's/^/#  /'
[ "${n:-0}" -ge 200 ]
ok $? "HAProxy carried the layer's requests"
for rpc in filesystem.Filesystem/WatchDir process.Process/Start \
    process.Process/SendInput 'POST /files' 'GET /files'; do
	grep -q "${rpc/ / .*}" "$EDGE_LOGFILE"
	ok $? "through the edge: $rpc"
done
done_testing
