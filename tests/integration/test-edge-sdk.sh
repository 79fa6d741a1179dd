#!/usr/bin/env bash
# test-edge-sdk.sh - the npm e2b SDK in non-debug mode through envd-edge:
# public URL of a port served from the sandbox, files, commands, PTY and
# watch calls over https://49983-ID.DOMAIN, and (when envd forwards
# loopback listeners) a server bound to 127.0.0.1.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"
requires command -v node
# The SDK comes from tests/sdk's lockfile; install it when missing.
[ -d "$EDGE_SRC/tests/sdk/node_modules/e2b" ] ||
    SDK_INSTALL_ONLY=1 "$EDGE_SRC/tests/sdk/run.sh" >/dev/null 2>&1
requires test -d "$EDGE_SRC/tests/sdk/node_modules/e2b"

ID1=sbxsdkaaaaaaaaaaaaa1

edge_topology || { echo "Bail out! topology"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
edge_hosts "$ID1"
echo "$EDGE_IP 3001-$ID1.$EDGE_DOMAIN" >>"/etc/netns/$CLIENT_NS/hosts"
check "edge starts" edge_start
fwd=
if "$ENVD_BIN" -help 2>&1 | grep -q -- '-forward-addr'; then
	fwd="-forward-addr $SBX_IP1"
fi
# shellcheck disable=SC2086
check "sandbox envd" sbx_envd "$SBX_NS1" "$SBX_IP1" $fwd
edge_cmd add "$ID1" --addr "$SBX_IP1" >/dev/null
ok $? "add the sandbox"

sdk() {
	ip netns exec "$CLIENT_NS" env NODE_EXTRA_CA_CERTS="$EDGE_CA" \
	    EDGE_SDK_DOMAIN="$EDGE_DOMAIN" EDGE_SDK_ID="$ID1" EDGE_SDK_MODE="${1:-}" \
	    EDGE_SDK_ENVD_VERSION="$("$ENVD_BIN" -version)" \
	    node --test --test-reporter=tap --test-timeout=60000 \
	    "$EDGE_SRC/tests/edge/sdk-edge.mjs" \
	    >"$TEST_TMP/sdk.tap" 2>&1
	st=$?
	grep -E '^# (pass|fail)|^not ok' "$TEST_TMP/sdk.tap" | sed 's/^/# /'
	[ $st = 0 ] || sed 's/^/#   /' "$TEST_TMP/sdk.tap" | head -60
	return $st
}
check "SDK: public port, commands, files, watch, PTY through the edge" sdk
if [ -n "$fwd" ]; then
	check "SDK: server bound to 127.0.0.1 through the edge" sdk local
else
	echo "ok $((tap_n + 1)) # SKIP server bound to 127.0.0.1: this envd has no -forward-addr (loopback port forwarding)"
	tap_n=$((tap_n + 1))
fi
done_testing
