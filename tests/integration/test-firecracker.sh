#!/usr/bin/env bash
# Firecracker mode (no -isnotfc) against a fake MMDS V2 in network
# namespaces this test creates: the daemon's namespace reaches
# 169.254.169.254:80 only over a veth pair to a second namespace holding the
# fake service; neither has a route anywhere else. Drives the orchestrator's
# sequences of spec/firecracker.md §6: cold boot (boot-time poll, /run/e2b
# files, E2B_SANDBOX*), /init with retries, memory resume (later timestamp,
# rotated token authorised by accessTokenHash, new sandbox ID), clearing,
# forged and reset requests, a metadata service that is down, cpuCount and
# X-Envd-Cpus, hyperloopIP, every 0.9.1 response header, and the route
# self-heal (§3.3) against an nftables NAT capture of 169.254.169.254:80,
# with an iptables on the daemon's PATH that turns the daemon's iptables
# argv into the same nft rules (the machine has no iptables).
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version
requires ip -V
requires /usr/bin/python3 --version
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for network namespaces"
	exit 0
fi

P=efc$$
NS_SB=${P}sb
NS_MD=${P}md
RUN=$TEST_TMP/run
STATE=$TEST_TMP/mmds.json
MLOG=$TEST_TMP/mmds.log
SYS=$TEST_TMP/sys
HOSTS=$TEST_TMP/hosts
FAKE=$TEST_TMP/fakebin
IPTLOG=$TEST_TMP/iptables.log
MMDS_PID=
COLL_PID=
CLOG=$TEST_TMP/collector.log

CG=
FSMNT=
teardown() {
	local d
	[ -n "$ENVD_PID" ] && kill -9 "$ENVD_PID" 2>/dev/null
	[ -n "$MMDS_PID" ] && kill "$MMDS_PID" 2>/dev/null
	[ -n "$COLL_PID" ] && kill "$COLL_PID" 2>/dev/null
	ip netns del "$NS_SB" 2>/dev/null
	ip netns del "$NS_MD" 2>/dev/null
	if [ -n "$CG" ]; then
		find "$CG" -depth -type d 2>/dev/null | while read -r d; do
			echo 0 >"$d/cgroup.freeze" 2>/dev/null
		done
		find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	[ -n "$CGMNT" ] && umount "$CGMNT" 2>/dev/null
	if [ -n "$FSMNT" ]; then
		fsfreeze -u "$FSMNT" 2>/dev/null
		umount "$FSMNT" 2>/dev/null
	fi
	:
}
cleanup_fn teardown

if ! ip netns add "$NS_SB" 2>/dev/null; then
	echo "1..0 # SKIP cannot create network namespaces"
	exit 0
fi
ip netns add "$NS_MD"
ip link add "${P}a" netns "$NS_SB" type veth peer name "${P}b" netns "$NS_MD"
ip -n "$NS_SB" link set lo up
ip -n "$NS_MD" link set lo up
ip -n "$NS_SB" addr add 169.254.169.1/24 dev "${P}a"
ip -n "$NS_MD" addr add 169.254.169.254/24 dev "${P}b"
# The log collector's address of the orchestrator, 192.0.2.1, over the same
# pair.
ip -n "$NS_MD" addr add 192.0.2.1/32 dev "${P}b"
ip -n "$NS_SB" link set "${P}a" up
ip -n "$NS_SB" route add 192.0.2.1/32 dev "${P}a"
ip -n "$NS_MD" link set "${P}b" up

in_sb() { ip netns exec "$NS_SB" "$@"; }
sha512() { printf '%s' "$1" | sha512sum | cut -d' ' -f1; }
meta() { # meta INSTANCE TEMPLATE [HASH]
	if [ $# -ge 3 ]; then
		printf '{"instanceID":"%s","envID":"%s","address":"http://192.0.2.1/logs","accessTokenHash":"%s"}' \
		    "$1" "$2" "$3" >"$STATE.tmp"
	else
		printf '{"instanceID":"%s","envID":"%s"}' "$1" "$2" >"$STATE.tmp"
	fi
	mv "$STATE.tmp" "$STATE"
}
ts_now() { # ts_now [OFFSET_S]: whole seconds, so never ahead with 0 or less
	date -u -d "@$(($(date +%s) + ${1:-0}))" +%Y-%m-%dT%H:%M:%S.%NZ
}
# Now to the nanosecond: later than any ts_now before it, and not ahead of
# the daemon's clock, which a timestamp more than 50 ms ahead would step
# (this is the machine's own clock).
ts_exact() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
post_init() {
	in_sb curl -s -m 5 -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" \
	    -w '%{http_code}' -X POST "$ENVD_URL/init" \
	    -H 'Content-Type: application/json' --data-binary "$1"
}
hdr_val() { tr -d '\r' <"$TEST_TMP/hdr" | sed -n "s/^$1: //Ip"; }
envs() { in_sb curl -s -m 5 "$ENVD_URL/envs" -H "X-Access-Token: ${1:-}"; }
envs_status() {
	in_sb curl -s -m 5 -o /dev/null -w '%{http_code}' "$ENVD_URL/envs" \
	    -H "X-Access-Token: ${1:-}"
}
wait_env() { # wait_env KEY VALUE TOKEN: up to 2 s
	local i
	for i in $(seq 1 80); do
		[ "$(envs "$3" | jq -r ".$1 // empty")" = "$2" ] && return 0
		sleep 0.025
	done
	return 1
}

# iptables -w 5 -t nat (-D|-I) CHAIN [1] -d ADDR -p tcp --dport 80 -j RETURN
# as nft rules in table ip nat; anything else fails.
mkdir -p "$FAKE"
NFT=$(command -v nft || echo /usr/sbin/nft)
cat >"$FAKE/iptables" <<EOS
#!/bin/sh
echo "iptables \$*" >>"$IPTLOG"
[ "\$1 \$2 \$3 \$4" = "-w 5 -t nat" ] || exit 2
op=\$5 chain=\$6
shift 6
[ "\$op" = -I ] && { [ "\$1" = 1 ] || exit 2; shift; }
[ "\$1 \$3 \$4 \$5 \$6 \$7 \$8" = "-d -p tcp --dport 80 -j RETURN" ] || exit 2
rule="ip daddr \$2 tcp dport 80 return"
$NFT list chain ip nat "\$chain" >/dev/null 2>&1 || exit 1
if [ "\$op" = -I ]; then
	exec $NFT insert rule ip nat "\$chain" \$rule
fi
h=\$($NFT -a list chain ip nat "\$chain" | sed -n "s/.*\$rule # handle //p" | head -1)
[ -n "\$h" ] || exit 1
exec $NFT delete rule ip nat "\$chain" handle "\$h"
EOS
chmod +x "$FAKE/iptables"

# The fake kernel trees the daemon is pointed at.
mkdir -p "$RUN" "$SYS/cpu1" "$SYS/cpu2" "$SYS/cpu3"
printf '0-3\n' >"$SYS/possible"
printf '0-3\n' >"$SYS/online"
printf '127.0.0.1\tlocalhost\n192.0.2.9\tevents.e2b.local old\n' >"$HOSTS"

meta isb-boot tpl-1
ip netns exec "$NS_MD" /usr/bin/python3 "$(dirname "$0")/fake-mmds.py" \
    169.254.169.254 80 "$STATE" "$MLOG" 2>"$TEST_TMP/mmds.err" &
MMDS_PID=$!
: >"$CLOG"
ip netns exec "$NS_MD" /usr/bin/python3 "$(dirname "$0")/fake-collector.py" \
    192.0.2.1 80 "$CLOG" 2>"$TEST_TMP/collector.err" &
COLL_PID=$!
for i in $(seq 1 100); do
	in_sb curl -s -m 1 -o /dev/null -X PUT \
	    -H 'X-metadata-token-ttl-seconds: 1' \
	    http://169.254.169.254/latest/api/token && break
	sleep 0.05
done
: >"$MLOG"

# --- cold boot ----------------------------------------------------------------
ENVD_PORT=$(free_port)
ENVD_URL=http://127.0.0.1:$ENVD_PORT
VG=()
if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
	VG=(valgrind --quiet --leak-check=full
	    --show-leak-kinds=definite,indirect
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99
	    --log-file="$TEST_TMP/valgrind.log")
fi
# The workload cgroups under a subtree of the machine's cgroup2 mount, and
# a loop-mounted scratch file system as the /fsfreeze target (never /).
CGARGS=()
ENVX=()
# ip netns exec remounts /sys, so the hierarchy is mounted once more where
# the daemon can see it.
CGMNT=
if mkdir "$TEST_TMP/cg2" && mount -t cgroup2 none "$TEST_TMP/cg2" 2>/dev/null; then
	CGMNT=$TEST_TMP/cg2
	if mkdir "$CGMNT/envd-fc-$$" 2>/dev/null; then
		CG=$CGMNT/envd-fc-$$
		CGARGS=(-cgroup-root "$CG")
	fi
fi
if command -v mkfs.ext4 >/dev/null && command -v fsfreeze >/dev/null &&
    truncate -s 16M "$TEST_TMP/fs.img" && mkfs.ext4 -q -F "$TEST_TMP/fs.img" &&
    mkdir "$TEST_TMP/fsmnt" && mount -o loop "$TEST_TMP/fs.img" "$TEST_TMP/fsmnt"; then
	FSMNT=$TEST_TMP/fsmnt
	ENVX=(ENVD_FSFREEZE_PATH="$FSMNT")
fi
ip netns exec "$NS_SB" env PATH="$FAKE:$PATH" ENVD_RUN_DIR="$RUN" \
    ENVD_SYSFS_CPU="$SYS" ENVD_HOSTS_PATH="$HOSTS" "${ENVX[@]}" "${VG[@]}" \
    "$ENVD_BIN" -port "$ENVD_PORT" "${CGARGS[@]}" 2>"$ENVD_LOG" &
ENVD_PID=$!
for i in $(seq 1 400); do
	[ "$(in_sb curl -s -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" = 204 ] && break
	sleep 0.025
done
ok $? "daemon without -isnotfc is healthy in its namespace"
ok "$(wait_env E2B_SANDBOX_ID isb-boot '' && echo 0 || echo 1)" \
    "boot poll: E2B_SANDBOX_ID from MMDS"
is "$(envs | jq -r .E2B_TEMPLATE_ID)" tpl-1 "boot poll: E2B_TEMPLATE_ID"
is "$(envs | jq -r .E2B_SANDBOX)" true "E2B_SANDBOX=true"
is "$(cat "$RUN/.E2B_SANDBOX_ID")" isb-boot ".E2B_SANDBOX_ID holds the ID, no newline"
is "$(cat "$RUN/.E2B_TEMPLATE_ID")" tpl-1 ".E2B_TEMPLATE_ID holds the ID"
is "$(stat -c %a "$RUN/.E2B_SANDBOX_ID")" 666 ".E2B_SANDBOX_ID mode 0666"
is "$(head -1 "$MLOG")" \
    "PUT /latest/api/token ttl=60 accept=- token=none conn=close" \
    "first request: token PUT, ttl 60, no keep-alive"
is "$(sed -n 2p "$MLOG")" "GET / ttl=- accept=application/json token=ok conn=close" \
    "then GET / with the session token and Accept: application/json"
sleep 0.3
is "$(wc -l <"$MLOG")" 2 "boot poll stops after the first success"

# --- template build: no hash anywhere, first-time setup ---------------------
T=tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
U=tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
is "$(post_init '{}')" 204 "template build /init: 204"
is "$(hdr_val X-Envd-Version)" "$("$ENVD_BIN" -version)" "X-Envd-Version"
like "$(hdr_val X-Envd-Memory)" '^."request":[0-9]+,"low":[0-9]+,"floor":[0-9]+,"partial":(true|false).$' \
    "X-Envd-Memory"
is "$(hdr_val X-Envd-Defaults)" '{"user":"root","fallback":true}' \
    "X-Envd-Defaults before a defaultUser"
is "$(hdr_val X-Envd-Cpus)" '{"online":4,"possible":4,"target":0}' \
    "X-Envd-Cpus from the sysfs tree"
is "$(hdr_val X-Envd-Init-Unobserved)" 0 "X-Envd-Init-Unobserved: 0"
is "$(hdr_val Cache-Control)" no-store "Cache-Control: no-store"
is "$(hdr_val X-Envd-Thaw)" "" "no X-Envd-Thaw without thaw:skip"

# --- new secure sandbox from the template snapshot: S=-, R=T, H=hash(T) ------
meta isb-1 tpl-1 "$(sha512 "$T")"
: >"$MLOG"
BODY="{\"accessToken\":\"$T\",\"envVars\":{\"A\":\"1\"},\"defaultUser\":\"root\",\"defaultWorkdir\":\"/tmp\",\"hyperloopIP\":\"192.0.2.1\",\"cpuCount\":2,\"timestamp\":\"$(ts_now)\",\"lifecycleID\":\"l1\",\"volumeMounts\":[]}"
is "$(post_init "$BODY")" 204 "create: /init with the token and MMDS hash: 204"
like "$(hdr_val X-Envd-Init-Clock-Correction)" '^[0-9]+$' \
    "X-Envd-Init-Clock-Correction is whole ms"
is "$(hdr_val X-Envd-Defaults)" '{"user":"root","workdir":"/tmp","fallback":false}' \
    "X-Envd-Defaults after defaultUser/defaultWorkdir"
is "$(hdr_val X-Envd-Cpus)" '{"online":4,"possible":4,"target":2}' \
    "X-Envd-Cpus target 2"
is "$(cat "$RUN/cpu-target")" 2 "cpu-target persisted"
ok "$(grep -q '^GET / .*token=ok' "$MLOG"; echo $?)" "token check read MMDS"
is "$(envs_status "$T")" 200 "token T is in force"
is "$(envs "$T" | jq -r .A)" 1 "envVars applied"
ok "$(wait_env E2B_SANDBOX_ID isb-1 "$T" && echo 0 || echo 1)" \
    "post-/init poll: new E2B_SANDBOX_ID"
is "$(envs "$T" | jq -r .E2B_EVENTS_ADDRESS)" http://192.0.2.1 \
    "E2B_EVENTS_ADDRESS from hyperloopIP"
is "$(grep -c 'events.e2b.local' "$HOSTS")" 1 "one events.e2b.local line"
ok "$(grep -qP '^192\.0\.2\.1\tevents\.e2b\.local$' "$HOSTS"; echo $?)" \
    "events.e2b.local maps to the hyperloop IP"
ok "$(grep -qP '^192\.0\.2\.9\told$' "$HOSTS"; echo $?)" \
    "other names of the old line kept"
ok "$(grep -q '^127.0.0.1' "$HOSTS"; echo $?)" "other entries kept"

# --- retries of the same /init: fast path, no MMDS needed ---------------------
touch "$STATE.down"
for n in 1 2 3; do
	is "$(post_init "$BODY")" 204 "retry $n with MMDS down: 204 (fast path)"
done
rm -f "$STATE.down"
ok "$(! grep -q 'accessToken\|'"$T" "$ENVD_LOG"; echo $?)" "the token is never logged"

# --- cpuCount refused ---------------------------------------------------------
is "$(post_init "{\"accessToken\":\"$T\",\"cpuCount\":9}")" 204 \
    "cpuCount 9 of 4: still 204"
is "$(hdr_val X-Envd-Cpus)" '{"online":4,"possible":4,"target":2,"rejected":"cpu target 9 outside 1..4"}' \
    "X-Envd-Cpus says why"
is "$(post_init "{\"accessToken\":\"$T\",\"cpuCount\":1.5}")" 400 \
    "cpuCount 1.5: 400"
is "$(post_init "{\"accessToken\":\"$T\",\"thaw\":\"skip\"}")" 204 "thaw skip: 204"
is "$(hdr_val X-Envd-Thaw)" skip "X-Envd-Thaw: skip"

# --- memory resume from a snapshot: rotation to U, new sandbox ID -------------
meta isb-2 tpl-1 "$(sha512 "$U")"
is "$(post_init "{\"accessToken\":\"$U\",\"timestamp\":\"$(ts_exact)\",\"envVars\":{\"A\":\"2\"}}")" \
    204 "resume with a new token and its hash: 204 (rotation)"
is "$(envs_status "$T")" 401 "old token refused after rotation"
is "$(envs "$U" | jq -r .A)" 2 "later timestamp applied"
ok "$(wait_env E2B_SANDBOX_ID isb-2 "$U" && echo 0 || echo 1)" \
    "resume: E2B_SANDBOX_ID follows MMDS"
is "$(cat "$RUN/.E2B_SANDBOX_ID")" isb-2 "resume: .E2B_SANDBOX_ID rewritten"
is "$(post_init "{\"accessToken\":\"$U\",\"timestamp\":\"$(ts_now -5)\",\"envVars\":{\"A\":\"3\"}}")" \
    204 "stale replay: 204"
is "$(envs "$U" | jq -r .A)" 2 "stale replay applies nothing"
like "$(hdr_val X-Envd-Init-Clock-Correction)" '^[0-9]+$' \
    "stale replay still has X-Envd-Init-Clock-Correction"

# --- forged and reset requests -----------------------------------------------
is "$(post_init '{"accessToken":"forged"}')" 401 "forged token: 401"
is "$(cat "$TEST_TMP/body")" "access token validation failed" "forged: message"
is "$(post_init '{}')" 401 "reset without hash(\"\"): 401"
is "$(cat "$TEST_TMP/body")" "access token reset not authorized" "reset: message"
is "$(envs_status "$U")" 200 "U survives both"

# --- open sandbox from a snapshot of a secure one: clearing -----------------
meta isb-3 tpl-1 "$(sha512 "")"
is "$(post_init '{}')" 204 "no token and MMDS hash(\"\"): 204"
is "$(envs_status)" 200 "token cleared: open"
is "$(post_init "{\"accessToken\":\"$T\"}")" 401 \
    "open daemon, T sent, MMDS says hash(\"\"): 401"
meta isb-3 tpl-1 "$(sha512 "$T")"
is "$(post_init "{\"accessToken\":\"$T\"}")" 204 "set T again via its hash"

# --- metadata service down -----------------------------------------------------
touch "$STATE.down"
is "$(post_init "{\"accessToken\":\"$T\"}")" 204 "MMDS down: the same token still 204"
is "$(post_init "{\"accessToken\":\"$U\"}")" 401 "MMDS down: another token 401"
is "$(post_init '{}')" 401 "MMDS down: reset 401"
rm -f "$STATE.down"

# --- route self-heal: a user's NAT redirect captures the metadata service -------
in_sb nft -f - <<EOF2
table ip nat {
	chain OUTPUT { type nat hook output priority -100; }
	chain PREROUTING { type nat hook prerouting priority -100; }
}
add rule ip nat OUTPUT ip daddr 169.254.169.254 tcp dport 80 redirect to :9
EOF2
ok "$(! in_sb curl -s -m 2 -o /dev/null -X PUT http://169.254.169.254/latest/api/token; echo $?)" \
    "the redirect captures 169.254.169.254:80"
meta isb-4 tpl-1 "$(sha512 "$U")"
: >"$IPTLOG"
is "$(post_init "{\"accessToken\":\"$U\"}")" 204 \
    "captured MMDS: /init re-pins the route and reads again: 204 (rotation)"
is "$(cat "$IPTLOG")" "iptables -w 5 -t nat -D PREROUTING -d 169.254.169.254 -p tcp --dport 80 -j RETURN
iptables -w 5 -t nat -I PREROUTING 1 -d 169.254.169.254 -p tcp --dport 80 -j RETURN
iptables -w 5 -t nat -D OUTPUT -d 169.254.169.254 -p tcp --dport 80 -j RETURN
iptables -w 5 -t nat -I OUTPUT 1 -d 169.254.169.254 -p tcp --dport 80 -j RETURN" \
    "the four iptables commands of upstream, in its order"
is "$(envs_status "$U")" 200 "U in force after the self-heal"
is "$(in_sb nft list chain ip nat OUTPUT | grep -c 'return')" 1 \
    "one RETURN rule pinned first"
: >"$IPTLOG"
meta isb-4 tpl-1 "$(sha512 "$T")"
is "$(post_init "{\"accessToken\":\"$T\"}")" 204 \
    "route pinned: the next token check reads MMDS at once"
is "$(cat "$IPTLOG")" "" "no self-heal when the first read succeeds"
in_sb nft delete table ip nat

# --- the log exporter (§11) ---------------------------------------------------------
for i in $(seq 1 100); do
	grep -q '"instanceID":"isb-4"' "$CLOG" && break
	sleep 0.05
done
ok "$(grep -q '^POST /logs ' "$CLOG"; echo $?)" "log lines are POSTed to the MMDS address"
ok "$(! grep -v '^POST /logs application/json close {' "$CLOG" | grep -q .; echo $?)" \
    "one POST per line, application/json, Connection: close"
ok "$(grep -q '"instanceID":"isb-4"' "$CLOG"; echo $?)" \
    "lines carry the current record's instanceID"
L=$(grep -m1 '"message":"request"' "$CLOG" | cut -d' ' -f5-)
is "$(jq -r '.envID' <<<"$L")" tpl-1 "and its envID"
is "$(jq -c 'keys_unsorted' <<<"$L")" "$(jq -c 'keys' <<<"$L")" "keys sorted"
ok "$(grep -q '"message":"envd .* listening' "$CLOG"; echo $?)" \
    "lines logged before the address was known are sent too"
ok "$(! grep -q "accessToken\|$T\|$U" "$CLOG"; echo $?)" \
    "no token and no /init body ever reaches the collector"

# --- /metrics in Firecracker mode (upstream-0.9.md §4) ------------------------------
metrics() {
	in_sb curl -s -m 5 -o "$TEST_TMP/metrics" -w '%{http_code}' \
	    "$ENVD_URL/metrics" -H "X-Access-Token: $T"
}
is "$(metrics)" 200 "GET /metrics: 200"
# oom_kills appears once the whole kernel log has been read, which on a
# machine with a long log takes a moment after start.
t0=$(date +%s%N)
for i in $(seq 1 200); do
	jq -e 'has("oom_kills")' "$TEST_TMP/metrics" >/dev/null && break
	sleep 0.1
	metrics >/dev/null
done
echo "# oom_kills known $(( ($(date +%s%N) - t0) / 1000000 )) ms after the first /metrics"
is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/metrics")" \
    ts,cpu_count,cpu_used_pct,cpu_possible,cpu_target,cpu_target_attempts,cpu_write_pending_ms,mem_total,mem_used,mem_cache,disk_used,disk_total,oom_kills \
    "0.9.1 keys, oom_kills last"
is "$(jq -c '[.cpu_possible,.cpu_target,.cpu_write_pending_ms]' "$TEST_TMP/metrics")" \
    '[4,2,0]' "cpu_possible from the sysfs tree, cpu_target from cpuCount"
# The fake tree has no cpuN/online files: every run fails and is retried.
jq -e '.cpu_target_attempts >= 1' "$TEST_TMP/metrics" >/dev/null
ok $? "cpu_target_attempts counts the failed runs ($(jq .cpu_target_attempts "$TEST_TMP/metrics"))"
jq -e '.oom_kills | type == "array"' "$TEST_TMP/metrics" >/dev/null
ok $? "oom_kills is a list once the kernel log was read"
is "$(post_init "{\"accessToken\":\"$T\",\"cpuCount\":3}")" 204 "cpuCount 3"
for i in $(seq 1 40); do
	metrics >/dev/null
	jq -e '.cpu_target == 3 and .cpu_target_attempts >= 1' \
	    "$TEST_TMP/metrics" >/dev/null && break
	sleep 0.05
done
is "$(jq -c '[.cpu_target,.cpu_target_attempts >= 1]' "$TEST_TMP/metrics")" \
    '[3,true]' "a new target: cpu_target follows, attempts counted afresh"

# A real OOM kill, in a memory cgroup the test makes under its own.
MEMCG=
MV1=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
if [ -n "$MV1" ] && [ -w "/sys/fs/cgroup/memory$MV1" ]; then
	MEMCG=/sys/fs/cgroup/memory$MV1/envd-oom-$$
elif [ -n "$(awk '$3 == "cgroup2" && $2 == "/sys/fs/cgroup"' /proc/mounts)" ] &&
    grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	MEMCG=/sys/fs/cgroup/$(sed -n 's/^0:://p' /proc/self/cgroup)/envd-oom-$$
fi
VICTIM=oomv$$
# memcg_limit DIR: 32 MiB without swap; fails where DIR takes no limit (a
# cgroup2 parent without +memory in its subtree_control).
memcg_limit() {
	local m=$((32 * 1024 * 1024))
	if [ -e "$1/memory.limit_in_bytes" ]; then
		echo "$m" >"$1/memory.limit_in_bytes" || return 1
		[ ! -e "$1/memory.memsw.limit_in_bytes" ] ||
		    echo "$m" >"$1/memory.memsw.limit_in_bytes" 2>/dev/null
		return 0
	fi
	[ -e "$1/memory.max" ] && echo "$m" >"$1/memory.max" || return 1
	echo 0 >"$1/memory.swap.max" 2>/dev/null
	return 0
}
if [ -n "$MEMCG" ] && mkdir "$MEMCG" 2>/dev/null &&
    { cleanup_fn "rmdir '$MEMCG' 2>/dev/null"; memcg_limit "$MEMCG"; }; then
	MEMCG=$MEMCG VICTIM=$VICTIM timeout 20 sh -c '
	    echo $$ >"$MEMCG/cgroup.procs" && exec /usr/bin/python3 -c "
import os
open(\"/proc/self/comm\", \"w\").write(os.environ[\"VICTIM\"])
b = []
for i in range(64):
    b.append(bytearray(8 << 20))
"' 2>/dev/null
	is "$?" 137 "the victim was killed (SIGKILL)"
	for i in $(seq 1 100); do
		metrics >/dev/null
		jq -e --arg v "$VICTIM" 'any(.oom_kills[]; .process == $v)' \
		    "$TEST_TMP/metrics" >/dev/null && break
		sleep 0.05
	done
	ok "$(jq -e --arg v "$VICTIM" 'any(.oom_kills[]; .process == $v)' "$TEST_TMP/metrics" >/dev/null; echo $?)" \
	    "oom_kills names the killed process"
	jq -e '[.oom_kills[].seq] | . == sort and length <= 32' "$TEST_TMP/metrics" >/dev/null
	ok $? "oldest first, at most 32"
else
	echo "# no writable memory cgroup with a limit: the real OOM kill is not run"
fi

# --- §6.5 pause: /freeze then /collapse, the resume thaw; rollback -----------------
ctl() { # ctl PATH [TOKEN]: POST a control endpoint as the orchestrator does
	in_sb curl -s -m 10 -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" \
	    -w '%{http_code}' -X POST -H "X-Access-Token: ${2-$T}" \
	    -H 'User-Agent: Go-http-client/1.1' "$ENVD_URL$1"
}
fz() { cat "$CG/$1/cgroup.freeze"; }
frozen() { sed -n 's/^frozen //p' "$CG/$1/cgroup.events"; }
if [ -n "$CG" ]; then
	is "$(ctl /freeze '')" 401 "/freeze without the token: 401"
	is "$(ctl '/freeze?maxWaitMs=1500&mode=hierarchy&maxCgroups=512')" 200 \
	    "pause: /freeze?maxWaitMs=1500&mode=hierarchy&maxCgroups=512: 200"
	is "$(hdr_val Content-Type)" application/json "FreezeResult is JSON"
	is "$(hdr_val Cache-Control)" no-store "Cache-Control: no-store"
	is "$(jq -c '{mode,requested,frozen,notFrozen,allowlisted,failed}' "$TEST_TMP/body")" \
	    '{"mode":"hierarchy","requested":2,"frozen":2,"notFrozen":0,"allowlisted":1,"failed":0}' \
	    "user and ptys frozen, socats allowlisted"
	is "$(frozen user)$(frozen ptys)$(fz socats)" 110 "guest effect: the workload reads frozen"
	is "$(ctl /collapse)" 200 "pause: /collapse: 200"
	is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/body")" \
	    alreadyHuge,chunks,collapsed,elapsedMs,regions,skipped "CollapseResult keys"
	is "$(in_sb curl -s -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" 204 \
	    "the daemon answers while the workload is frozen"
	# Memory resume from that snapshot: a later /init thaws before its 204.
	is "$(post_init "{\"accessToken\":\"$T\",\"timestamp\":\"$(ts_now)\"}")" 204 \
	    "resume: /init with a later timestamp: 204"
	is "$(hdr_val X-Envd-Init-Unobserved)" 0 "X-Envd-Init-Unobserved: 0"
	is "$(fz user)$(fz ptys)$(frozen user)" 000 "resume: thawed before the 204"
	# A pause that fails after the freeze: the rollback's /unfreeze.
	is "$(ctl '/freeze?maxWaitMs=1500')" 200 "pause (legacy): /freeze: 200"
	is "$(jq -r .mode "$TEST_TMP/body")" legacy "legacy sweep"
	is "$(fz user)$(fz ptys)" 11 "frozen"
	is "$(ctl /unfreeze)" 204 "rollback: /unfreeze: 204"
	is "$(hdr_val Cache-Control)" no-store "Cache-Control: no-store"
	is "$(fz user)$(fz ptys)$(frozen ptys)" 000 "rollback: thawed"
	# An old orchestrator: no maxWaitMs, a bare 204.
	is "$(ctl /freeze)" 204 "/freeze without maxWaitMs: 204"
	is "$(cat "$TEST_TMP/body")" "" "no body"
	is "$(ctl /unfreeze)" 204 "/unfreeze"
else
	echo "# no cgroup2 mount to make a tree under: the pause sequence is not run"
fi

# --- §6.6 filesystem-only pause: /fsfreeze (exactly 204), rollback /fsthaw --------
if [ -n "$FSMNT" ]; then
	is "$(ctl /fsfreeze)" 204 "fs-only pause: /fsfreeze: 204"
	is "$(hdr_val Cache-Control)" no-store "Cache-Control: no-store"
	! fsfreeze -f "$FSMNT" 2>/dev/null
	ok $? "guest effect: the file system is frozen"
	(echo data >"$FSMNT/after") &
	writer=$!
	sleep 0.3
	kill -0 "$writer" 2>/dev/null
	ok $? "a write waits"
	is "$(ctl /fsfreeze)" 204 "a retried /fsfreeze: 204"
	is "$(ctl /fsthaw)" 204 "rollback: /fsthaw: 204"
	wait "$writer"
	is "$(cat "$FSMNT/after")" data "the write lands after the thaw"
	is "$(ctl /fsthaw)" 204 "a second /fsthaw: 204"
	# The in-place checkpoint's tail (§6.8): /unfreeze, /fsthaw, /init.
	is "$(ctl /fsfreeze)$(ctl /unfreeze)$(ctl /fsthaw)" 204204204 \
	    "checkpoint: /fsfreeze, then /unfreeze and /fsthaw: 204 each"
	is "$(post_init "{\"accessToken\":\"$T\",\"timestamp\":\"$(ts_now)\"}")" 204 \
	    "checkpoint: the re-init: 204"
	echo more >"$FSMNT/after2"
	is "$(cat "$FSMNT/after2")" more "the file system is writable"
else
	echo "# no mkfs.ext4/fsfreeze or loop mount: the fs-only pause is not run"
fi

# --- §5.1 step 6: /freeze flushes the log queue, then drops the rest ------------------
burst() { # burst TAG N: N requests, one log line each, with path /TAG-i
	local i
	for i in $(seq 1 "$2"); do
		in_sb curl -s -o /dev/null "$ENVD_URL/$1-$i"
	done
}
sent() { grep -c "\"path\":\"/$1-" "$CLOG"; }
echo 0.05 >"$CLOG.slow"
burst flush 12
is "$(ctl '/freeze?maxWaitMs=1800')" 200 "/freeze with lines queued for a slow collector"
is "$(sent flush)" 12 "every line queued before the freeze was sent before its answer"
is "$(ctl /unfreeze)" 204 "unfreeze"
echo 0.3 >"$CLOG.slow"
burst purge 12
is "$(ctl '/freeze?maxWaitMs=700')" 200 "/freeze whose budget cannot send them all"
n=$(sent purge)
rm -f "$CLOG.slow"
sleep 1
is "$(sent purge)" "$n" "what the budget did not send is dropped, never sent after the answer"
[ "$n" -ge 1 ] && [ "$n" -lt 12 ]
ok $? "the budget sent some ($n of 12)"
is "$(ctl /unfreeze)" 204 "unfreeze"
echo 0.3 >"$CLOG.slow"
burst legacy 6
is "$(ctl /freeze)" 204 "/freeze without maxWaitMs"
n=$(sent legacy)
rm -f "$CLOG.slow"
sleep 1
is "$(sent legacy)" "$n" "no budget: the queue is dropped at once ($n sent)"
is "$(ctl /unfreeze)" 204 "unfreeze"
burst after 3
for i in $(seq 1 100); do
	[ "$(sent after)" = 3 ] && break
	sleep 0.02
done
is "$(sent after)" 3 "lines logged after the pause are exported again"

# --- the body cap ---------------------------------------------------------------
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$TEST_TMP/big"
is "$(in_sb curl -s -m 5 -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
    -X POST "$ENVD_URL/init" --data-binary @"$TEST_TMP/big")" 413 "413 over 1 MiB"
like "$(hdr_val X-Envd-Memory)" '"floor"' "413 carries X-Envd-Memory"

kill -TERM "$ENVD_PID"
for i in $(seq 1 200); do
	kill -0 "$ENVD_PID" 2>/dev/null || break
	sleep 0.05
done
wait "$ENVD_PID"
is "$?" 0 "daemon exits 0 after SIGTERM"
ENVD_PID=
if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
	sed -i -e '/WARNING: unhandled .* syscall: /,+4d' \
	    -e '/Warning: noted but unhandled ioctl /,+2d' "$TEST_TMP/valgrind.log"
	[ -s "$TEST_TMP/valgrind.log" ] && sed 's/^/#   /' "$TEST_TMP/valgrind.log" | head -60
	[ ! -s "$TEST_TMP/valgrind.log" ]
	ok $? "valgrind reports no error or leak"
fi
done_testing
