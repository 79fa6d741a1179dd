#!/usr/bin/env bash
# Request framing that a proxy in front could read otherwise (smuggling),
# and the headers of a 304.
. "$(dirname "$0")/../functions.sh"
requires python3 --version
CL="python3 $(dirname "$0")/connload.py"

start_envd
ok $? "daemon starts"
D=$TEST_TMP/d
mkdir -p "$D"

# raw NAME: send $TEST_TMP/NAME with a half-close; the answer goes to
# $TEST_TMP/NAME.out.
raw() { $CL raw "$ENVD_PORT" "$TEST_TMP/$1" >"$TEST_TMP/$1.out"; }
answers() { grep -ac '^HTTP/1.1 ' "$TEST_TMP/$1.out"; }

printf 'POST /files?path=%s/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\nhelloGET /health HTTP/1.1\r\nHost: x\r\n\r\n' \
    "$D" >"$TEST_TMP/cl2"
raw cl2
like "$(head -1 "$TEST_TMP/cl2.out")" '^HTTP/1.1 400' \
    "two differing Content-Length headers: 400"
grep -qai '^Connection: close' "$TEST_TMP/cl2.out"
ok $? "... and the connection is closed"
is "$(answers cl2)" 1 "... and the bytes after the body are not a request"
ok $([ ! -e "$D/a" ]; echo $?) "... and nothing is written"

printf 'POST /init HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n' \
    >"$TEST_TMP/te"
raw te
like "$(head -1 "$TEST_TMP/te.out")" '^HTTP/1.1 400' \
    "Transfer-Encoding with Content-Length: 400"
is "$(answers te)" 1 "... and the bytes after the body are not a request"

printf 'POST /files?path=%s/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello' \
    "$D" >"$TEST_TMP/same"
raw same
like "$(head -1 "$TEST_TMP/same.out")" '^HTTP/1.1 200' \
    "repeated equal Content-Length headers are taken"
is "$(cat "$D/b" 2>/dev/null)" hello "... and the body written"

# 304: no Content-Length but the one a 200 would send (RFC 9110 8.6).
printf 'twelve bytes' >"$D/c"
url="$ENVD_URL/files?path=$D/c&username=root"
lm=$(curl -s -D - -o /dev/null "$url" | sed -n 's/^Last-Modified: //Ip' | tr -d '\r')
curl -s -D "$TEST_TMP/h304" -o "$TEST_TMP/b304" -H "If-Modified-Since: $lm" "$url"
like "$(head -1 "$TEST_TMP/h304")" '^HTTP/1.1 304' "If-Modified-Since: 304"
cls=$(grep -ai '^Content-Length:' "$TEST_TMP/h304" | tr -d '\r' | awk '{ print $2 }' | tr '\n' ' ')
ok $([ -z "$cls" ] || [ "$cls" = "12 " ]; echo $?) \
    "304 has no Content-Length but the 200's (got '$cls')"
grep -qai '^Transfer-Encoding' "$TEST_TMP/h304"
ok $([ $? -ne 0 ]; echo $?) "304 is not chunked"
ok $([ ! -s "$TEST_TMP/b304" ]; echo $?) "304 has no content"
# The connection stays usable after a 304.
out=$(curl -s -o /dev/null -w '%{http_code} %{num_connects}\n' -H "If-Modified-Since: $lm" "$url" \
    -o /dev/null -w '%{http_code} %{num_connects}\n' "$ENVD_URL/health")
is "$(echo $out)" "304 1 204 0" "a keep-alive connection goes on after a 304"

stop_envd
done_testing
