#!/usr/bin/env bash
# The walking skeleton: health, routing errors, CORS, version, logging,
# idle CPU and a clean SIGTERM exit.
. "$(dirname "$0")/../functions.sh"

# -version / -commit / bad flags, without starting anything.
v=$("$ENVD_BIN" -version)
like "$v" '^[0-9]+\.[0-9]+\.[0-9]+$' "-version prints a bare semver"
v2=$("$ENVD_BIN" --version=true)
is "$v2" "$v" "--version=true prints the same"
c=$("$ENVD_BIN" -commit)
like "$c" '^([0-9a-f]{7})?$' "-commit prints a short sha or nothing"
"$ENVD_BIN" -no-such-flag 2>"$TEST_TMP/usage"
is "$?" 2 "unknown flag exits 2"
grep -q 'flag provided but not defined: -no-such-flag' "$TEST_TMP/usage"
ok $? "unknown flag is named"
grep -q 'Usage of' "$TEST_TMP/usage"
ok $? "usage printed"

start_envd
ok $? "daemon starts and answers /health"

hdr=$(curl -s -D - -o "$TEST_TMP/body" "$ENVD_URL/health")
like "$hdr" $'^HTTP/1.1 204' "GET /health is 204"
like "$hdr" $'[Xx]-[Ee]nvd-[Vv]ersion: '"$v" "X-Envd-Version on /health"
like "$hdr" $'Cache-Control: no-store' "Cache-Control no-store on /health"
is "$(stat -c %s "$TEST_TMP/body")" 0 "/health has an empty body"

hdr=$(curl -s -D - -o "$TEST_TMP/body" "$ENVD_URL/nope")
like "$hdr" '^HTTP/1.1 404' "unknown path is 404"
like "$hdr" 'Content-Type: text/plain; charset=utf-8' "404 is text/plain"
is "$(cat "$TEST_TMP/body")" "404 page not found" "404 body"
like "$hdr" 'X-Envd-Version: ' "X-Envd-Version on a 404"
is "$(http_status "$ENVD_URL//health")" 404 "//health is 404 (exact routing)"
is "$(http_status "$ENVD_URL/health/")" 404 "/health/ is 404"

hdr=$(curl -s -D - -o "$TEST_TMP/body" -X POST "$ENVD_URL/health")
like "$hdr" '^HTTP/1.1 405' "POST /health is 405"
like "$hdr" 'Allow: GET' "405 names the allowed method"
is "$(stat -c %s "$TEST_TMP/body")" 0 "405 has an empty body"
is "$(http_status -I "$ENVD_URL/health")" 405 "HEAD /health is 405"

hdr=$(curl -s -D - -o /dev/null -X OPTIONS "$ENVD_URL/files" \
    -H 'Origin: https://example.com' \
    -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: content-type,x-access-token')
like "$hdr" '^HTTP/1.1 204' "preflight is 204"
like "$hdr" 'Access-Control-Allow-Origin: \*' "preflight allows any origin"
like "$hdr" 'Access-Control-Allow-Methods: POST' "preflight echoes the method"
like "$hdr" 'Access-Control-Allow-Headers: content-type,x-access-token' \
    "preflight echoes the headers"
like "$hdr" 'Access-Control-Max-Age: 7200' "preflight max age"
like "$hdr" 'Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers' \
    "preflight Vary"

hdr=$(curl -s -D - -o /dev/null "$ENVD_URL/health" -H 'Origin: https://x.test')
like "$hdr" 'Access-Control-Allow-Origin: \*' "simple request gets ACAO"
like "$hdr" 'Access-Control-Expose-Headers: Grpc-Status' "expose headers"
# Every plain /health is the same answer: the same headers on one
# keep-alive connection and on fresh ones, before and after a request
# with Origin, and never the CORS headers of that one.
plain=$(curl -s -D - -o /dev/null "$ENVD_URL/health" | grep -vi '^date:' | tr -d '\r')
like "$plain" 'Vary: Origin' "plain /health varies on Origin"
! grep -q 'Access-Control-Allow-Origin' <<<"$plain"
ok $? "plain /health after one with Origin has no ACAO"
many=$(curl -s -D - -o /dev/null "$ENVD_URL/health" -o /dev/null "$ENVD_URL/health" \
    -o /dev/null "$ENVD_URL/health" | grep -vi '^date:' | tr -d '\r')
is "$many" "$(printf '%s\n\n%s\n\n%s\n' "$plain" "$plain" "$plain")" \
    "three /health on one connection: the same headers each time"
hdr=$(curl -s -D - -o /dev/null -w '%{num_connects}\n' "$ENVD_URL/health" \
    -H 'Origin: https://y.test' --next -s -D - -o /dev/null \
    -w '%{num_connects}\n' "$ENVD_URL/health" | tr -d '\r')
is "$(grep -c '^Access-Control-Allow-Origin: \*$' <<<"$hdr"):$(grep -x '[01]' <<<"$hdr" | tr '\n' ' ')" \
    "1:1 0 " "Origin, then none, on one connection: ACAO on the first only"
hdr=$(curl -s -D - -o /dev/null "$ENVD_URL/nope" -H 'Origin: https://x.test')
like "$hdr" 'Access-Control-Allow-Origin: \*' "CORS on errors too"
is "$(http_status -X OPTIONS "$ENVD_URL/health")" 405 \
    "OPTIONS without ACRM is an ordinary request"

body=$(curl -s "$ENVD_URL/version")
is "$(echo "$body" | jq -r .version)" "$v" "/version reports the version"
like "$(echo "$body" | jq -r .build)" '^[0-9]+\.[0-9]+\.[0-9]+' "/version build"
is "$(echo "$body" | jq -r .commit)" "$c" "/version commit matches -commit"

# Keep-alive: several requests over one connection.
out=$(curl -s -w '%{http_code}:%{num_connects} ' -o /dev/null "$ENVD_URL/health" \
    -o /dev/null "$ENVD_URL/health" -o /dev/null "$ENVD_URL/version")
is "$out" "204:1 204:0 200:0 " "keep-alive: three requests on one connection"

# Header room: 12 KB of request headers fit the connection pool; 20 KB
# get 431 Request Header Fields Too Large, and the daemon carries on.
big=$(head -c 12000 /dev/zero | tr '\0' a)
is "$(http_status -H "X-Big: $big" "$ENVD_URL/health")" 204 "12 KB of headers are served"
big=$(head -c 20000 /dev/zero | tr '\0' a)
is "$(http_status -H "X-Big: $big" "$ENVD_URL/health")" 431 "20 KB of headers get 431"
is "$(http_status "$ENVD_URL/health")" 204 "served after a 431"

# Logging: JSON lines, paths without query strings. A 204 from /health
# (the orchestrator's poll) is not logged without -verbose. A line is
# written once its response is out, so /health goes first and the test
# waits (bounded) for the /version line that follows it.
nv=$(grep -c '"path":"/version"' "$ENVD_LOG")
curl -s -o /dev/null "$ENVD_URL/health?secret=s3cr3tvalue" \
    -H 'X-Access-Token: t0kenvalue'
curl -s -o /dev/null "$ENVD_URL/version?secret=s3cr3tvalue" \
    -H 'X-Access-Token: t0kenvalue'
for i in $(seq 1 40); do
	[ "$(grep -c '"path":"/version"' "$ENVD_LOG")" -gt "$nv" ] && break
	sleep 0.05
done
[ "$(grep -c '"path":"/version"' "$ENVD_LOG")" -gt "$nv" ]
ok $? "request lines carry the path"
! grep -q '"path":"/health","status":204' "$ENVD_LOG"
ok $? "a 204 from /health is not logged"
! grep -q 's3cr3tvalue\|t0kenvalue' "$ENVD_LOG"
ok $? "no query string or header value in the log"
jq -e . "$ENVD_LOG" >/dev/null
ok $? "every log line is JSON"

# An idle daemon does not spin.
t1=$(awk '{print $14 + $15}' "/proc/$ENVD_PID/stat")
sleep 1
t2=$(awk '{print $14 + $15}' "/proc/$ENVD_PID/stat")
[ $((t2 - t1)) -le 2 ]
ok $? "idle daemon uses ~0% CPU ($((t2 - t1)) ticks in 1 s)"

start=$(date +%s%N)
stop_envd
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -lt 1000 ]
ok $? "SIGTERM exit within 1 s (${elapsed} ms)"
done_testing
