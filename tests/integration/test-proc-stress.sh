#!/usr/bin/env bash
# The Process service under load (spec/process.md §4.3): a subscriber that
# stops reading while the child writes a lot (bounded memory, the other
# subscriber goes on once the stalled one is dropped), clients that vanish
# mid-stream, many concurrent streams, large input, and the retention cache
# expiring. Sizes shrink under valgrind (ENVD_VALGRIND=1).
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/proc-lib.sh"
requires curl --version
requires jq --version
requires python3 --version
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
ensure_user user

if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
	BIG=$((48 * 1024 * 1024)) NSTREAMS=20 NHANG=5 INPUT=$((1024 * 1024))
	RSS_SLACK=65536
else
	BIG=$((1024 * 1024 * 1024)) NSTREAMS=100 NHANG=20 INPUT=$((4 * 1024 * 1024))
	RSS_SLACK=8192
fi

start_envd
ok $? "daemon starts"
http_status -X POST "$ENVD_URL/init" -d '{"defaultUser":"user"}' >/dev/null
run s '{"process":{"cmd":"true"}}'
sleep 0.5
IDLE=$(rss_kb "$ENVD_PID")
echo "# idle VmRSS ${IDLE} kB"

# --- a subscriber that stops reading -----------------------------------------
# The process waits for a line, then writes BIG bytes. Stream A is the Start
# stream, frozen with SIGSTOP; stream B is a Connect stream read at full speed.
start a "{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\",\"read x; exec head -c $BIG /dev/zero\"]},\"stdin\":true}"
wait_for a '"start"'
P=$(pid_of a)
kill -STOP "${CURL_PID[a]}"
enc "{\"process\":{\"pid\":$P}}" >"$TEST_TMP/b.req"
curl -sS -N "$ENVD_URL/process.Process/Connect" -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/b.req" 2>/dev/null |
    $PY -S "$ENVELOPES" count "$TEST_TMP/b.count" &
B_PID=$!
count() { cat "$TEST_TMP/b.count" 2>/dev/null || echo 0; }
wait_until 10 test -s "$TEST_TMP/b.count"
send_input "$P" $'go\n' >/dev/null
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms) max=0 prev=-1 changed=$t0 gap=0
while kill -0 "$B_PID" 2>/dev/null && [ $(($(ms) - t0)) -lt $((180000 * SLOW)) ]; do
	r=$(rss_kb "$ENVD_PID")
	[ "$r" -gt "$max" ] && max=$r
	c=$(count) now=$(ms)
	if [ "$c" != "$prev" ]; then
		[ $((now - changed)) -gt "$gap" ] && gap=$((now - changed))
		changed=$now prev=$c
	fi
	sleep 0.25
done
wait "$B_PID"
echo "# max VmRSS ${max} kB (idle ${IDLE} kB); longest pause of the reading subscriber ${gap} ms; $(($(ms) - t0)) ms in all"
ok_rss $((max - IDLE <= RSS_SLACK ? 0 : 1)) "VmRSS stays within idle + $((RSS_SLACK / 1024)) MiB while a subscriber does not read"
ok $((gap <= 17000 * SLOW ? 0 : 1)) "the reading subscriber is held up for at most ~15 s"
grep -qa '"end":{"exited":true,"status":"exit status 0"}' "$TEST_TMP/b.count.tail"
ok $? "the reading subscriber gets the end event"
is "$(tail -c 7 "$TEST_TMP/b.count.tail" | xxd -p)" 02000000027b7d "... and the end-of-stream {}"
bytes=$(count)
ok $((bytes > BIG * 4 / 3 ? 0 : 1)) "the reading subscriber got every byte (${bytes} envelope bytes)"
kill -CONT "${CURL_PID[a]}"
finish a
is "$(eos_of a)" "" "the stalled subscriber was disconnected (no end-of-stream)"
like "$(grep -c 'has not read for' "$ENVD_LOG")" '^[1-9]' "the daemon logged the disconnect"
rpc List '{}' >/dev/null
is "$(body)" '{}' "the process is gone"

# --- a subscriber that stops reading, then disconnects -------------------------
start a "{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\",\"read x; exec head -c $BIG /dev/zero\"]},\"stdin\":true}"
wait_for a '"start"'
P=$(pid_of a)
kill -STOP "${CURL_PID[a]}"
send_input "$P" $'go\n' >/dev/null
sleep 2
kill -KILL "${CURL_PID[a]}"
{ wait "${CURL_PID[a]}"; } 2>/dev/null
wait_until 30 dead "$P"
ok $? "after the stalled client disconnects, output is discarded and the child ends"
wait_until 10 sh -c "[ \"\$(curl -s '$ENVD_URL/process.Process/List' -H 'Content-Type: application/json' -d '{}')\" = '{}' ]"
ok $? "... and leaves the table"

# --- clients that vanish mid-stream -----------------------------------------------
for i in $(seq 1 "$NHANG"); do
	start h "{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\",\"while :; do echo line $i; sleep 0.02; done\"]},\"tag\":\"h$i\"}"
	wait_for h '"stdout"'
	hangup h
done
rpc List '{}' >/dev/null
is "$(jq '.processes | length' <"$TEST_TMP/rpc.body")" "$NHANG" "processes outlive their vanished clients"
for i in $(seq 1 "$NHANG"); do
	rpc SendSignal "{\"process\":{\"tag\":\"h$i\"},\"signal\":\"SIGNAL_SIGKILL\"}" >/dev/null
done
rpc List '{}' >/dev/null
is "$(body)" '{}' "... and are gone after SIGKILL"

# --- many concurrent streams ----------------------------------------------------
for i in $(seq 1 "$NSTREAMS"); do
	start "m$i" "{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\",\"read x; echo m$i \$x\"]},\"tag\":\"m$i\"}"
done
for i in $(seq 1 "$NSTREAMS"); do wait_for "m$i" '"start"' 30 || break; done
rpc List '{}' >/dev/null
is "$(jq '.processes | length' <"$TEST_TMP/rpc.body")" "$NSTREAMS" "$NSTREAMS processes with open streams"
RSS_MANY=$(rss_kb "$ENVD_PID")
echo "# VmRSS with $NSTREAMS streaming processes: ${RSS_MANY} kB"
for i in $(seq 1 "$NSTREAMS"); do
	rpc SendInput "{\"process\":{\"tag\":\"m$i\"},\"input\":{\"stdin\":\"$(b64 $'x\n')\"}}" >/dev/null
done
bad=0
for i in $(seq 1 "$NSTREAMS"); do
	finish "m$i"
	[ "$(output "m$i")" = "m$i x" ] && [ "$(eos_of "m$i")" = '{}' ] || bad=$((bad + 1))
done
is "$bad" 0 "every stream got its own output, end event and end-of-stream"

# --- large input ------------------------------------------------------------------
head -c "$INPUT" /dev/urandom >"$TEST_TMP/in.raw"
start cat '{"process":{"cmd":"cat"},"stdin":true}'
wait_for cat '"start"'
P=$(pid_of cat)
printf '{"process":{"pid":%d},"input":{"stdin":"%s"}}' "$P" "$(base64 -w0 "$TEST_TMP/in.raw")" >"$TEST_TMP/in.json"
is "$(rpc SendInput @"$TEST_TMP/in.json")" 200 "SendInput of $((INPUT / 1024)) KiB (more than a pipe holds)"
is "$(rpc SendInput @"$TEST_TMP/in.json")" 200 "... twice"
rpc CloseStdin "{\"process\":{\"pid\":$P}}" >/dev/null
finish cat
cat "$TEST_TMP/in.raw" "$TEST_TMP/in.raw" | cmp -s - <(output cat stdout)
ok $? "the output is the input, byte for byte, in order"
is "$(end_of cat)" '{"event":{"end":{"exited":true,"status":"exit status 0"}}}' "cat exits 0"

# --- the retention cache expires after 30 s ------------------------------------------
run s '{"process":{"cmd":"true"}}'
P=$(pid_of s)
stream r Connect "{\"process\":{\"pid\":$P}}"
finish r
like "$(end_of r)" '"end":' "retained end event right after the exit"
sleep 31
stream r Connect "{\"process\":{\"pid\":$P}}"
finish r
is "$(eos_of r)" "{\"error\":{\"code\":\"not_found\",\"message\":\"process with pid $P not found\"}}" \
    "not_found 31 s later"

is "$(http_status "$ENVD_URL/health")" 204 "the daemon is healthy"
stop_envd
done_testing
