#!/usr/bin/env bash
# GET /envs (sorted JSON of the daemon-wide env map, Go escaping) and
# GET /metrics (field order, plausible values, background sampling).
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version

get() {
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
	    "$ENVD_URL$1"
}
hdr() { tr -d '\r' <"$TEST_TMP/hdr"; }
init() {
	http_status -X POST "$ENVD_URL/init" --data-binary "$1"
}

start_envd
ok $? "daemon starts"

# --- /envs ---------------------------------------------------------------------
is "$(get /envs)" 200 "GET /envs: 200"
like "$(hdr)" $'Content-Type: application/json\n' "application/json"
like "$(hdr)" 'Cache-Control: no-store' "Cache-Control: no-store"
is "$(od -An -c "$TEST_TMP/body" | tr -s ' ' | tr -d '\n')" \
    ' { " E 2 B _ S A N D B O X " : " f a l s e " } \n' \
    "exactly {\"E2B_SANDBOX\":\"false\"} and a newline under -isnotfc"
is "$(init '{"envVars":{"Z":"1","A":"x<y&z","M":"line\nbreak","E2B_SANDBOX":"true","b":"lower","_":"u"}}')" \
    204 "set envVars"
is "$(get /envs)" 200 "GET /envs: 200"
is "$(cat "$TEST_TMP/body")" \
    '{"A":"x\u003cy\u0026z","E2B_SANDBOX":"false","M":"line\nbreak","Z":"1","_":"u","b":"lower"}' \
    "keys sorted bytewise, Go escaping, internal key kept"
is "$(tail -c 1 "$TEST_TMP/body" | od -An -c | tr -d ' ')" '\n' \
    "body ends with a newline"
is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/body")" \
    "A,E2B_SANDBOX,M,Z,_,b" "key order as sent"
is "$(init '{"envVars":{"B":"2"}}')" 204 "replace envVars"
get /envs >/dev/null
is "$(cat "$TEST_TMP/body")" '{"B":"2","E2B_SANDBOX":"false"}' \
    "replaced: old keys gone"
is "$(init '{"defaultUser":"user"}')" 204 "an /init without envVars"
get /envs >/dev/null
is "$(cat "$TEST_TMP/body")" '{"B":"2","E2B_SANDBOX":"false"}' \
    "envVars unchanged"
is "$(init "{\"envVars\":{\"UTF\":\"$(printf '\xc3\xa9\xe2\x80\xa8')\"}}")" \
    204 "non-ASCII value"
get /envs >/dev/null
is "$(cat "$TEST_TMP/body")" \
    "$(printf '{"E2B_SANDBOX":"false","UTF":"\xc3\xa9\\u2028"}')" \
    "UTF-8 kept, U+2028 escaped"

# --- /metrics ------------------------------------------------------------------
check_metrics() {
	local tag=$1 body now ncpu memtotal blocks bsize
	is "$(get /metrics)" 200 "$tag: GET /metrics: 200"
	like "$(hdr)" $'Content-Type: application/json\n' "$tag: application/json"
	like "$(hdr)" 'Cache-Control: no-store' "$tag: Cache-Control: no-store"
	body=$(cat "$TEST_TMP/body")
	is "$(tail -c 1 "$TEST_TMP/body" | od -An -c | tr -d ' ')" '\n' \
	    "$tag: body ends with a newline"
	is "$(jq -r 'keys_unsorted | join(",")' <<<"$body")" \
	    "ts,cpu_count,cpu_used_pct,cpu_possible,cpu_target,cpu_target_attempts,cpu_write_pending_ms,mem_total,mem_used,mem_cache,disk_used,disk_total" \
	    "$tag: field order"
	like "$body" '^\{"ts":[0-9]+,"cpu_count":[0-9]+,"cpu_used_pct":[0-9]+(\.[0-9]{1,2})?,"cpu_possible":[0-9]+,"cpu_target":[0-9]+,"cpu_target_attempts":[0-9]+,"cpu_write_pending_ms":[0-9]+,"mem_total":[0-9]+,"mem_used":[0-9]+,"mem_cache":[0-9]+,"disk_used":[0-9]+,"disk_total":[0-9]+\}$' \
	    "$tag: integers, and a percentage with at most two decimals"
	now=$(date +%s)
	jq -e --argjson now "$now" '.ts >= $now - 5 and .ts <= $now + 1' \
	    <<<"$body" >/dev/null
	ok $? "$tag: ts is now"
	ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
	is "$(jq .cpu_count <<<"$body")" "$ncpu" "$tag: cpu_count"
	jq -e '.cpu_used_pct >= 0 and .cpu_used_pct <= 100' <<<"$body" >/dev/null
	ok $? "$tag: 0 <= cpu_used_pct <= 100"
	memtotal=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
	is "$(jq .mem_total <<<"$body")" "$memtotal" "$tag: mem_total"
	# 0.9.1: the MiB fields are gone; outside Firecracker the CPU
	# hot-plug fields are 0 and oom_kills is omitted.
	is "$(jq -c '[.cpu_possible,.cpu_target,.cpu_target_attempts,.cpu_write_pending_ms,has("mem_total_mib"),has("mem_used_mib"),has("oom_kills")]' <<<"$body")" \
	    '[0,0,0,0,false,false,false]' "$tag: 0.9.1 keys under -isnotfc"
	jq -e '.mem_used > 0 and .mem_used <= .mem_total and
	    .mem_cache <= .mem_total' <<<"$body" >/dev/null
	ok $? "$tag: memory figures are plausible"
	read -r blocks bsize < <(stat -f -c '%b %s' /)
	is "$(jq .disk_total <<<"$body")" "$((blocks * bsize))" "$tag: disk_total"
	jq -e '.disk_used > 0 and .disk_used <= .disk_total' <<<"$body" >/dev/null
	ok $? "$tag: disk_used is plausible"
}
check_metrics "at start"
sleep 2.2
check_metrics "after sampling"

# cpu_used_pct follows the load: one busy loop per CPU (at most 8, 3 s).
ncpu=$(grep -c '^cpu[0-9]' /proc/stat)
[ "$ncpu" -gt 8 ] && ncpu=8
burners=()
for i in $(seq 1 "$ncpu"); do
	timeout 3 sh -c 'while :; do :; done' &
	burners+=($!)
done
sleep 2.2
get /metrics >/dev/null
busy=$(jq .cpu_used_pct "$TEST_TMP/body")
kill "${burners[@]}" 2>/dev/null
wait "${burners[@]}" 2>/dev/null
jq -e '.cpu_used_pct >= 50' "$TEST_TMP/body" >/dev/null
ok $? "cpu_used_pct while every CPU is busy: $busy"

# A daemon with nothing to do does not spin with the sampling timer.
t1=$(awk '{print $14 + $15}' "/proc/$ENVD_PID/stat")
sleep 1
t2=$(awk '{print $14 + $15}' "/proc/$ENVD_PID/stat")
[ $((t2 - t1)) -le 2 ]
ok $? "idle daemon stays idle with the sampler ($((t2 - t1)) ticks in 1 s)"

start=$(date +%s%N)
stop_envd
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -lt 1000 ]
ok $? "the sampling timer does not delay SIGTERM (${elapsed} ms)"
done_testing
