#!/usr/bin/env bash
# POST /init: body validation, the token decision table outside Firecracker,
# timestamp ordering, envVars replacement, the 1 MiB cap, the CA bundle, the
# clock rule without CAP_SYS_TIME, and Firecracker mode without MMDS.
#
# The daemon runs as root with CAP_SYS_TIME, so every timestamp sent to it
# lies within the clock rule's window (at most a few seconds in the past):
# none of them may step the machine's clock.
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version

TOKEN=tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
OTHER=other-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

# post_init BODY [CURL ARGS...]: status code; headers and body kept.
post_init() {
	local body=$1
	shift
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
	    -X POST "$ENVD_URL/init" -H 'Content-Type: application/json' \
	    --data-binary "$body" "$@"
}

body() { cat "$TEST_TMP/body"; }
body_size() { stat -c %s "$TEST_TMP/body"; }
hdr() { tr -d '\r' <"$TEST_TMP/hdr"; }

envs() {
	curl -s "$ENVD_URL/envs" -H "X-Access-Token: ${1:-}"
}

envs_status() {
	if [ $# -gt 0 ]; then
		http_status "$ENVD_URL/envs" -H "X-Access-Token: $1"
	else
		http_status "$ENVD_URL/envs"
	fi
}

# ts_at UNIX_SECONDS [NANOS]: an RFC 3339 UTC timestamp.
ts_at() {
	printf '%s.%09dZ' "$(date -u -d "@$1" +%Y-%m-%dT%H:%M:%S)" "${2:-0}"
}

start_envd
ok $? "daemon starts"

# --- accepted and rejected bodies -------------------------------------------
is "$(post_init '')" 204 "empty body: 204"
like "$(hdr)" 'X-Envd-Version: [0-9]' "X-Envd-Version on 204"
like "$(hdr)" 'Cache-Control: no-store' "Cache-Control: no-store on 204"
is "$(post_init '   ')" 204 "whitespace body: 204"
is "$(post_init 'null')" 204 "null body: 204"
is "$(post_init '{"unknown":[1,{"x":null}]}')" 204 "unknown keys ignored"

for b in '{' 'not json' '[]' '{"a":1,}' "{'a':1}" '{} {}' '{"a":NaN}' \
    '{"accessToken":""}' '{"accessToken":"a\\b"}' '{"accessToken":"\u0061"}' \
    '{"accessToken":5}' '{"envVars":{"A":1}}' '{"envVars":"A"}' \
    '{"timestamp":"yesterday"}' '{"timestamp":"2026-01-01T00:00:00"}' \
    '{"defaultUser":1}'; do
	is "$(post_init "$b")" 400 "bad body $b: 400"
	is "$(body_size)" 0 "bad body $b: empty answer"
done
like "$(hdr)" 'X-Envd-Version: [0-9]' "X-Envd-Version on 400"
is "$(envs_status)" 200 "rejected bodies set no token"

# --- the decision table (no MMDS) -------------------------------------------
is "$(post_init '{}')" 204 "S=- R=-: 204"
is "$(envs_status)" 200 "S=- R=-: stays open"
is "$(post_init "{\"accessToken\":\"$TOKEN\"}" -H "X-Access-Token: $OTHER")" \
    204 "S=- R=X: 204 (X-Access-Token on /init is ignored)"
is "$(envs_status)" 401 "S=- R=X: the daemon is locked"
is "$(envs_status "$TOKEN")" 200 "S=- R=X: token := X"
is "$(post_init "{\"accessToken\":\"$TOKEN\"}")" 204 "S=X R=X: 204"
is "$(envs_status "$TOKEN")" 200 "S=X R=X: token unchanged"
is "$(post_init "{\"accessToken\":\"$OTHER\"}")" 401 "S=X R=Y: 401"
is "$(body)" "access token validation failed" "S=X R=Y: body"
like "$(hdr)" 'Content-Type: text/plain; charset=utf-8' "401 is plain text"
like "$(hdr)" 'X-Envd-Version: [0-9]' "X-Envd-Version on 401"
is "$(envs_status "$TOKEN")" 200 "S=X R=Y: X still works"
is "$(envs_status "$OTHER")" 401 "S=X R=Y: Y does not"
is "$(post_init '{}')" 401 "S=X R=-: 401"
is "$(body)" "access token reset not authorized" "S=X R=-: body"
is "$(post_init '' -H "X-Access-Token: $TOKEN")" 401 \
    "S=X, empty body with the right header: still a reset"
is "$(post_init 'null')" 401 "S=X, null body: reset not authorized"
is "$(envs_status "$TOKEN")" 200 "S=X R=-: token kept"
is "$(post_init "{\"accessToken\":\"${TOKEN}x\"}")" 401 "longer token: 401"
is "$(post_init "{\"accessToken\":\"${TOKEN%?}\"}")" 401 "prefix: 401"
is "$(post_init "{\"accessToken\":\"$OTHER\",\"envVars\":{\"BAD\":\"1\"}}")" \
    401 "rejected /init applies nothing"
is "$(envs "$TOKEN" | jq -r '.BAD // "absent"')" absent "no envVars from a 401"

# --- timestamps ------------------------------------------------------------
T0S=$(($(date +%s) - 2))
T0=$(ts_at "$T0S" 500)
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"timestamp\":\"$T0\",\"envVars\":{\"A\":\"1\"}}")" \
    204 "timestamp T0 applied"
is "$(envs "$TOKEN" | jq -r .A)" 1 "A=1 after T0"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"timestamp\":\"$(ts_at $((T0S - 1)))\",\"envVars\":{\"A\":\"2\"}}")" \
    204 "an older timestamp still answers 204"
is "$(envs "$TOKEN" | jq -r .A)" 1 "older timestamp: nothing applied"
# The applied timestamp is moved forward by the handler's own delay
# (0.9.1), so "equal" cannot be hit from outside: compare whole seconds.
T0P=$(TZ=Etc/GMT-1 date -d "@$((T0S + 1))" +%Y-%m-%dT%H:%M:%S).000000500+01:00
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"timestamp\":\"$T0P\",\"envVars\":{\"A\":\"5\"}}")" \
    204 "1 s newer with a +01:00 offset: 204"
is "$(envs "$TOKEN" | jq -r .A)" 5 "offsets compare as instants"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"timestamp\":\"$T0\",\"envVars\":{\"A\":\"3\"}}")" \
    204 "T0 again, now 1 s older: 204"
is "$(envs "$TOKEN" | jq -r .A)" 5 "T0 again: nothing applied"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"envVars\":{\"A\":\"6\"}}")" 204 \
    "no timestamp: 204"
is "$(envs "$TOKEN" | jq -r .A)" 6 "no timestamp: always applied"
is "$(post_init "{\"accessToken\":\"$OTHER\",\"timestamp\":\"$(ts_at $((T0S - 2)))\"}")" 401 \
    "a stale request with a wrong token is still 401"
is "$(post_init "{\"timestamp\":\"$(ts_at $((T0S - 2)))\"}")" 401 \
    "a stale request without the token is still 401"

# --- envVars replace --------------------------------------------------------
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"envVars\":{\"FOO\":\"1\",\"BAR\":\"2\"}}")" \
    204 "envVars FOO, BAR"
is "$(envs "$TOKEN" | jq -c .)" '{"BAR":"2","E2B_SANDBOX":"false","FOO":"1"}' \
    "both set, A gone"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"envVars\":{\"FOO\":\"3\"}}")" \
    204 "envVars FOO only"
is "$(envs "$TOKEN" | jq -c .)" '{"E2B_SANDBOX":"false","FOO":"3"}' \
    "replaced, not merged"
is "$(post_init "{\"accessToken\":\"$TOKEN\"}")" 204 "no envVars"
is "$(envs "$TOKEN" | jq -c .)" '{"E2B_SANDBOX":"false","FOO":"3"}' \
    "no envVars: unchanged"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"envVars\":{\"E2B_SANDBOX\":\"true\",\"X\":null}}")" \
    204 "envVars naming an internal key"
is "$(envs "$TOKEN" | jq -c .)" '{"E2B_SANDBOX":"false","X":""}' \
    "internal keys cannot be overridden; null is empty"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"envVars\":{}}")" 204 "envVars {}"
is "$(envs "$TOKEN" | jq -c .)" '{"E2B_SANDBOX":"false"}' "envVars {} clears"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"defaultUser\":\"\",\"defaultWorkdir\":\"\"}")" \
    204 "empty defaultUser / defaultWorkdir are accepted (and ignored)"
is "$(post_init "{\"accessToken\":\"$TOKEN\",\"defaultUser\":\"user\",\"defaultWorkdir\":\"/home/user\",\"hyperloopIP\":\"10.11.0.1\",\"lifecycleID\":\"x\",\"volumeMounts\":[]}")" \
    204 "orchestrator-shaped body"

# --- body cap ---------------------------------------------------------------
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$TEST_TMP/big"
st=$(curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
    -X POST "$ENVD_URL/init" --data-binary @"$TEST_TMP/big")
is "$st" 413 "1 MiB + 1 byte: 413"
is "$(body)" '' "413: empty body"
is "$(hdr | grep -ci '^Content-Type')" 0 "413: no content type"
like "$(hdr)" 'X-Envd-Memory: ."request":[0-9]+,"low":[0-9]+,"floor":[0-9]+,"partial":(true|false)' \
    "X-Envd-Memory on 413"
like "$(hdr)" 'X-Envd-Version: [0-9]' "X-Envd-Version on 413"
head -c $((1024 * 1024)) /dev/zero | tr '\0' ' ' >"$TEST_TMP/big"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ENVD_URL/init" \
    --data-binary @"$TEST_TMP/big")" 401 "exactly 1 MiB is read (and is a reset)"
is "$(envs_status "$TOKEN")" 200 "the token survives"
grep -q '"level":"fatal"' "$ENVD_LOG"
ok $((!$?)) "no fatal log line"
stop_envd

# --- CA bundle --------------------------------------------------------------
export ENVD_CA_BUNDLE_PATH=$TEST_TMP/certs/ca-certificates.crt
export ENVD_CA_PERSIST_PATH=$TEST_TMP/share/ca-certificates/e2b-ca.crt
start_envd
ok $? "daemon with CA paths in a temp dir"
PEM1='-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'
PEM2='-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n\n'
is "$(post_init "{\"caBundle\":\"$PEM1\"}")" 400 "no system bundle: 400"
is "$(body)" "failed to install CA bundle: open CA bundle: open $ENVD_CA_BUNDLE_PATH: no such file or directory" \
    "400 names the failure"
mkdir -p "$TEST_TMP/certs"
printf 'EXISTING\n' >"$ENVD_CA_BUNDLE_PATH"
chmod 644 "$ENVD_CA_BUNDLE_PATH"
is "$(post_init "{\"caBundle\":\"$PEM1\"}")" 204 "caBundle installed"
is "$(cat "$ENVD_CA_BUNDLE_PATH")" "$(printf 'EXISTING\n%b\n' "$PEM1")" \
    "appended to the bundle"
is "$(cat "$ENVD_CA_PERSIST_PATH")" "$(printf '%b\n' "$PEM1")" \
    "persisted (directory created)"
is "$(post_init "{\"caBundle\":\"$PEM1\\n\\n\"}")" 204 "same PEM again"
is "$(grep -c AAAA "$ENVD_CA_BUNDLE_PATH")" 1 "same PEM: not appended twice"
is "$(post_init "{\"caBundle\":\"$PEM2\"}")" 204 "a new PEM"
is "$(cat "$ENVD_CA_BUNDLE_PATH")" \
    "$(printf 'EXISTING\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n')" \
    "rotation: the old PEM is taken out, the new one appended once"
is "$(cat "$ENVD_CA_PERSIST_PATH")" \
    "$(printf -- '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n')" \
    "rotation: persisted copy replaced"
is "$(stat -c %a "$ENVD_CA_BUNDLE_PATH")" 644 "the bundle stays world-readable"
is "$(post_init '{"caBundle":""}')" 204 "empty caBundle is ignored"
is "$(ls "$TEST_TMP/certs" | wc -l)" 1 "no temp files left behind"
stop_envd
unset ENVD_CA_BUNDLE_PATH ENVD_CA_PERSIST_PATH

# --- clock rule without CAP_SYS_TIME ----------------------------------------
# start_raw LOG ARGS...: run the daemon by hand (not under valgrind).
start_raw() {
	local log=$1 i
	shift
	ENVD_PORT=$(free_port)
	ENVD_URL=http://127.0.0.1:$ENVD_PORT
	"$@" -port "$ENVD_PORT" 2>"$log" &
	ENVD_PID=$!
	for i in $(seq 1 200); do
		[ "$(http_status "$ENVD_URL/health")" = 204 ] && return 0
		sleep 0.025
	done
	return 1
}

if capsh --drop=cap_sys_time -- -c \
    'grep -q "^CapEff:" /proc/self/status && exit 0' 2>/dev/null; then
	start_raw "$TEST_TMP/clock.log" capsh --drop=cap_sys_time -- -c \
	    'exec "$0" "$@"' "$ENVD_BIN" -isnotfc
	ok $? "daemon without CAP_SYS_TIME"
	capeff=$(awk '/^CapEff:/ {print $2}' "/proc/$ENVD_PID/status")
	if [ $(((16#$capeff >> 25) & 1)) -eq 0 ]; then
		year=$(date +%Y)
		is "$(post_init '{"timestamp":"2001-01-01T00:00:00Z"}')" 204 \
		    "a far-off timestamp without CAP_SYS_TIME: 204"
		is "$(post_init '{"timestamp":"2001-01-01T00:00:01Z"}')" 204 \
		    "again: 204"
		is "$(date +%Y)" "$year" "the clock did not move"
		sleep 0.1
		is "$(grep -c 'cannot set the system clock' "$TEST_TMP/clock.log")" 1 \
		    "the failure is logged once"
	else
		ok 1 "capsh did not drop CAP_SYS_TIME ($capeff)"
	fi
	kill -TERM "$ENVD_PID"
	wait "$ENVD_PID"
	is "$?" 0 "daemon without CAP_SYS_TIME exits 0"
	ENVD_PID=
else
	echo "# skipping the clock test: capsh cannot drop CAP_SYS_TIME"
fi

# --- Firecracker mode (no -isnotfc), metadata service unreachable -----------
# MMDS is pointed at a closed loopback port: every read fails at once, so
# the hash counts as absent (tests/integration/test-firecracker.sh has a
# real one).
mkdir -p "$TEST_TMP/run"
ENVD_MMDS_ADDRESS=127.0.0.1 ENVD_MMDS_PORT=$(free_port) \
    ENVD_RUN_DIR="$TEST_TMP/run" start_raw "$TEST_TMP/fc.log" "$ENVD_BIN"
ok $? "daemon without -isnotfc"
is "$(envs | jq -r .E2B_SANDBOX)" true "E2B_SANDBOX=true without -isnotfc"
is "$(post_init "{\"accessToken\":\"$TOKEN\"}")" 204 "FC: first token set"
is "$(post_init "{\"accessToken\":\"$OTHER\"}")" 401 "FC: another token: 401"
is "$(post_init '{}')" 401 "FC: reset: 401"
is "$(envs "$TOKEN" | jq -r '.E2B_SANDBOX_ID // "absent"')" absent \
    "FC: no sandbox ID without MMDS"
kill -TERM "$ENVD_PID"
wait "$ENVD_PID"
is "$?" 0 "FC daemon exits 0"
ENVD_PID=
# Leave the sandbox marker as the -isnotfc daemons write it.
start_envd && stop_envd
done_testing
