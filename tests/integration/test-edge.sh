#!/usr/bin/env bash
# test-edge.sh - envd-edge and HAProxy in front of two sandboxes running
# envd-c, in network namespaces: routing, errors, traffic token, host
# masking, internal routes, rate limit, remove, restart and restore.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../edge/lib.sh"

ID1=sbxaaaaaaaaaaaaaaaa1
ID2=sbxbbbbbbbbbbbbbbbb2
ID3=sbxcccccccccccccccc3
EDGE_RATE_LIMIT=60

edge_topology || { echo "Bail out! topology"; exit 1; }
edge_ca || { echo "Bail out! CA"; exit 1; }
edge_hosts "$ID1" "$ID2" "$ID3" zzzzzzzzzzzzzzzzzzzz
check "edge starts (restore on an empty state)" edge_start
check "sandbox 1 envd" sbx_envd "$SBX_NS1" "$SBX_IP1"
check "sandbox 2 envd" sbx_envd "$SBX_NS2" "$SBX_IP2"
check "sandbox 1 echo server" sbx_echo "$SBX_NS1" "$SBX_IP1" 8080
check "sandbox 2 echo server" sbx_echo "$SBX_NS2" "$SBX_IP2" 8080

# add: public sandbox 1, private+masked sandbox 2.
out=$(edge_cmd add "$ID1" --addr "$SBX_IP1")
ok $? "add a public sandbox"
like "$out" '"sandboxId":"'"$ID1"'"' "add prints the record"
[[ "$out" != *trafficAccessToken* ]]
ok $? "a public sandbox has no traffic token"
out=$(edge_cmd add "$ID2" --addr "$SBX_IP2" --network \
    '{"allowPublicTraffic":false,"maskRequestHost":"localhost:${PORT}"}' 2>&1)
is "$out" "envd-edge: You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag." "private without secure is refused"
out=$(edge_cmd add "$ID2" --addr "$SBX_IP2" --secure --network \
    '{"allowPublicTraffic":false,"maskRequestHost":"localhost:${PORT}"}')
ok $? "add a private, masked sandbox"
TOK=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["trafficAccessToken"])')
like "$TOK" '^[0-9a-f]{64}$' "the token is 64 lowercase hex characters"
! grep -rqF "$TOK" "$STATE"
ok $? "the token is not in the state directory"
out=$(edge_cmd show "$ID2")
[[ "$out" != *"$TOK"* && "$out" == *'"private":true'* ]]
ok $? "show: private, no token"
out=$(edge_cmd add "$ID2" --addr "$SBX_IP2" 2>&1)
like "$out" "exists with a different spec" "add with a different spec is refused"
out=$(edge_cmd add "$ID2" --addr "$SBX_IP2" --secure --network \
    '{"allowPublicTraffic":false,"maskRequestHost":"localhost:${PORT}"}')
[ $? = 0 ] && [[ "$out" != *trafficAccessToken* ]]
ok $? "add with the same spec succeeds without a new token"
out=$(edge_cmd add "$ID3" --addr "$SBX_IP1" --network '{"maskRequestHost":"exämple.com"}' 2>&1)
is "$out" "envd-edge: mask request host 'exämple.com' is not ASCII. Please use ASCII characters only." "non-ASCII mask refused"
out=$(edge_cmd add "$ID3" --addr "$SBX_IP1" --network '{"maskRequestHost":"a:b:c"}' 2>&1)
is "$out" "envd-edge: mask request host is not valid: a:b:c" "unsplittable mask refused"
is "$(edge_cmd list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 2 "list has two sandboxes"

# Routing by host, over TLS and plain HTTP.
out=$(ccurl "https://8080-$ID1.$EDGE_DOMAIN/x?q=1")
like "$out" '"host": "8080-'"$ID1"'.'"$EDGE_DOMAIN"'"' "TLS: the service sees the original Host"
like "$out" '"xff": null' "no X-Forwarded-For added"
out=$(ccurl "http://8080-$ID1.$EDGE_DOMAIN/x")
like "$out" '"path": "/x"' "plain HTTP on :80 routes too"
is "$(ccurl -o /dev/null -w '%{http_code}' "https://49983-$ID1.$EDGE_DOMAIN/health")" 204 "envd /health through the edge"
is "$(ccurl -o /dev/null -w '%{http_code}' --http2 "https://49983-$ID1.$EDGE_DOMAIN/health")" 204 "HTTP/2 through the edge"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "Host: 49983-$ID1-6532622b.$EDGE_DOMAIN" "http://$EDGE_IP/health")" 204 "legacy suffix in the host"

# Header routing.
is "$(ccurl -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $ID1" -H 'E2b-Sandbox-Port: 49983' "https://sandbox.$EDGE_DOMAIN/health")" 204 "sandbox.DOMAIN with routing headers"
is "$(ccurl -H "E2b-Sandbox-Id: $ID1" "https://sandbox.$EDGE_DOMAIN/health")" "missing header" "one routing header: missing header"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $ID1" -H 'E2b-Sandbox-Port: 1' "https://49983-$ID1.$EDGE_DOMAIN/health")" 204 "the host wins over routing headers"
out=$(ccurl -H "E2b-Sandbox-Id: $ID1" -H 'E2b-Sandbox-Port: 8080' "http://$EDGE_IP/")
like "$out" '"path": "/"' "IP host with routing headers"
out=$(ccurl -H "E2b-Sandbox-Id: $ID1" -H 'E2b-Sandbox-Port: 8080' "https://sandbox.$EDGE_DOMAIN/")
like "$out" '"host": "8080-'"$ID1"'.'"$EDGE_DOMAIN"'"' "sandbox.DOMAIN: the guest sees PORT-ID.DOMAIN"

# Host errors.
for c in "abc.$EDGE_DOMAIN|Invalid host" "abcd-$ID1.$EDGE_DOMAIN|Invalid sandbox port" \
    "8080-ABC.$EDGE_DOMAIN|Invalid sandbox ID" "8080-$ID1|Invalid host"; do
	h=${c%%|*}
	is "$(ccurl -w ' %{http_code} %{content_type}' -H "Host: $h" "http://$EDGE_IP/")" \
	    "${c#*|}"$'\n'" 400 text/plain; charset=utf-8" "Host $h: 400 ${c#*|}"
done
is "$(ccurl -w ' %{http_code}' "https://8080-zzzzzzzzzzzzzzzzzzzz.$EDGE_DOMAIN/")" \
    '{"sandboxId":"zzzzzzzzzzzzzzzzzzzz","message":"The sandbox was not found","code":502} 502' "unknown sandbox: 502 and body"
t0=$(date +%s%N)
out=$(ccurl -w ' %{http_code}' "https://9999-$ID1.$EDGE_DOMAIN/")
t1=$(date +%s%N)
is "$out" '{"sandboxId":"'"$ID1"'","message":"The sandbox is running but port is not open","port":9999,"code":502} 502' "nothing listening: 502 and body"
[ $(( (t1 - t0) / 1000000 )) -ge 1000 ]
ok $? "nothing listening: retried for at least 1 s"

# Internal envd routes.
for p in /init /freeze /unfreeze /collapse /fsfreeze /fsthaw /upgrade /init/ //init /files/../init /%69nit; do
	out=$(ccurl --path-as-is -w ' %{http_code}' "https://49983-$ID1.$EDGE_DOMAIN$p")
	like "$out" '"message":"This endpoint is reserved for the E2B control plane and is not reachable through the sandbox URL".* 404$' "internal route $p refused"
done
is "$(ccurl -o /dev/null -w '%{http_code}' -X POST "https://49983-$ID1.$EDGE_DOMAIN/init")" 404 "POST /init refused"
! grep -q '"/init"\|/freeze' "$TEST_TMP/envd-$SBX_NS1.log"
ok $? "envd never saw an internal route"
out=$(ccurl "https://8080-$ID1.$EDGE_DOMAIN/init")
like "$out" '"path": "/init"' "/init on another port reaches the service"

# Traffic token matrix on the private sandbox (port 8080).
u="https://8080-$ID2.$EDGE_DOMAIN/"
out=$(ccurl -w ' %{http_code}' "$u")
is "$out" '{"sandboxId":"'"$ID2"'","message":"Sandbox is secured with traffic access token. Token header '"'"'e2b-traffic-access-token'"'"' is missing","code":403} 403' "no token header: 403 missing"
out=$(ccurl -w ' %{http_code}' -H 'e2b-traffic-access-token: wrong' "$u")
like "$out" 'is invalid","code":403} 403$' "wrong token: 403 invalid"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "e2b-traffic-access-token: $TOK" "$u")" 200 "e2b- token: 200"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "cube-traffic-access-token: $TOK" "$u")" 200 "cube- token: 200"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "E2B-TRAFFIC-ACCESS-TOKEN: $TOK" "$u")" 200 "header name is case-insensitive"
is "$(ccurl -o /dev/null -w '%{http_code}' -H 'e2b-traffic-access-token: wrong' -H "cube-traffic-access-token: $TOK" "$u")" 403 "e2b- wrong, cube- right: 403"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "e2b-traffic-access-token: $TOK" -H 'cube-traffic-access-token: wrong' "$u")" 200 "e2b- right, cube- wrong: 200"
is "$(ccurl -o /dev/null -w '%{http_code}' -H 'e2b-traffic-access-token;' -H "cube-traffic-access-token: $TOK" "$u")" 200 "empty e2b- header: the cube- one counts"
is "$(ccurl -o /dev/null -w '%{http_code}' "https://49983-$ID2.$EDGE_DOMAIN/health")" 204 "envd's port needs no traffic token"

# maskRequestHost.
out=$(ccurl -H "e2b-traffic-access-token: $TOK" "$u")
like "$out" '"host": "localhost:8080", "xfh": "8080-'"$ID2"'.'"$EDGE_DOMAIN"'"' "mask: Host localhost:8080, X-Forwarded-Host the original"
out=$(ccurl -H "e2b-traffic-access-token: $TOK" -H "Host: 08080-$ID2.$EDGE_DOMAIN" "http://$EDGE_IP/")
like "$out" '"host": "localhost:8080"' "mask: leading zeros normalised"
out=$(edge_cmd add "$ID3" --addr "$SBX_IP1" --network '{"maskRequestHost":"x-${PORT}:${PORT}"}') &&
out=$(ccurl "https://8080-$ID3.$EDGE_DOMAIN/")
like "$out" '"host": "x-8080:8080"' "mask with two \${PORT}"

# WebSocket-style upgrade passes through (envd answers the request itself).
out=$(ccurl -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    -H "e2b-traffic-access-token: $TOK" "$u")
is "$out" 200 "upgrade request reaches the service through the token gate"

# Isolation, remove.
out=$(ccurl "https://8080-$ID1.$EDGE_DOMAIN/")
[[ "$out" == *"$ID1"* ]]
ok $? "sandbox 1 reaches its own service"
check "remove sandbox 3" edge_cmd remove "$ID3"
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID3.$EDGE_DOMAIN/")" 502 "a removed sandbox's URL fails at once"
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID1.$EDGE_DOMAIN/")" 200 "the other sandbox is unaffected"

# Restart: kill HAProxy, restore brings every sandbox back; reload keeps them.
pid=$(cat "$STATE/haproxy.pid")
kill -9 $pid
sleep 0.2
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID1.$EDGE_DOMAIN/")" 000 "edge down after HAProxy is killed"
check "restore restarts HAProxy" edge_cmd restore
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID1.$EDGE_DOMAIN/")" 200 "sandbox 1 back after restore"
is "$(ccurl -o /dev/null -w '%{http_code}' -H "e2b-traffic-access-token: $TOK" "$u")" 200 "sandbox 2 back, token still valid"
is "$(ccurl -o /dev/null -w '%{http_code}' "$u")" 403 "sandbox 2 still private"
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID3.$EDGE_DOMAIN/")" 502 "the removed sandbox stays removed"
check "reload" edge_cmd reload
is "$(ccurl -o /dev/null -w '%{http_code}' "https://8080-$ID1.$EDGE_DOMAIN/")" 200 "served after reload"
check "restore with HAProxy running" edge_cmd restore
is "$(ccurl -o /dev/null -w '%{http_code}' -H "e2b-traffic-access-token: $TOK" "$u")" 200 "served after a live restore"

# Rate limit (60 per 60 s here): fresh counters since the restart above
# are not guaranteed, so count until the first 429.
n=0 got=
for i in $(seq 1 80); do
	s=$(ccurl -o /dev/null -w '%{http_code}' "https://49983-$ID1.$EDGE_DOMAIN/health")
	if [ "$s" = 429 ]; then got=$i; break; fi
done
[ -n "$got" ] && [ "$got" -le 61 ]
ok $? "the request past the limit is 429 (after $got)"
out=$(ccurl -i "https://8080-$ID1.$EDGE_DOMAIN/" | tr -d '\r')
like "$out" '[Rr]etry-[Aa]fter: [1-9][0-9]*' "429 has an integer Retry-After"
like "$out" '\{"code":"resource_exhausted","message":"Rate limit exceeded"\}' "429 body"
is "$(ccurl --interface "$CLIENT_IP2" -o /dev/null -w '%{http_code}' "https://8080-$ID1.$EDGE_DOMAIN/")" 200 "another client IP is unaffected"

# Logs never carry the token.
sleep 0.3
[ -s "$EDGE_LOGFILE" ]
ok $? "HAProxy logged requests"
! grep -rqF "$TOK" "$EDGE_LOGFILE" "$TEST_TMP"/envd-*.log "$STATE"
ok $? "the token is in no log file and not in the state"
! grep -q 'q=1' "$EDGE_LOGFILE"
ok $? "query strings are not logged"

check "remove sandbox 2" edge_cmd remove "$ID2"
is "$(ccurl --interface "$CLIENT_IP2" -o /dev/null -w '%{http_code}' -H "e2b-traffic-access-token: $TOK" "$u")" 502 "removed private sandbox: 502"
done_testing
