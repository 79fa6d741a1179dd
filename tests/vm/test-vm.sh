#!/usr/bin/env bash
# The template image in a microVM: boot to /health, /init as the
# orchestrator sends it, the unit's settings in the guest, pause and
# resume through a snapshot with the orchestrator's control calls around it
# (firecracker.md §6: /freeze and /collapse before the snapshot, the thaw
# of the resume /init, a rollback /unfreeze, /fsfreeze and /fsthaw), and a
# second clean boot from the same image.
#
# The image is built (packaging/image/build.sh, cached base) into
# $ENVD_VM_IMAGE, default tests/vm/image in the build tree. Skipped (exit
# 77) when /dev/kvm cannot boot the image's kernel, unless
# ENVD_VM_ACCEL=tcg asks for emulation (slow: minutes per boot); auto uses
# KVM where it boots the image's kernel and emulation otherwise.
# The SDK layer (tests/sdk) runs against the guest where node is installed;
# ENVD_VM_SDK=0 leaves it out.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/../integration/proc-lib.sh"

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
VM=$srcdir/tools/vm.sh
: "${ENVD_VM_IMAGE:=$(pwd)/tests/vm/image}"
export ENVD_VM_IMAGE
accel=${ENVD_VM_ACCEL:-kvm}
export ENVD_VM_ACCEL=$accel

skip() {
	echo "1..0 # SKIP $*"
	exit 77
}

[ "$(id -u)" -eq 0 ] || skip "needs root (image build)"
for t in qemu-system-x86_64 qemu-img mmdebstrap mke2fs curl python3; do
	command -v "$t" >/dev/null 2>&1 || skip "needs $t"
done
# auto: KVM where it boots the image's kernel, emulation otherwise.
if [ "$accel" = auto ]; then
	accel=kvm
	{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || accel=tcg
	ENVD_VM_ACCEL=$accel
	auto=1
fi
if [ "$accel" = kvm ] && ! { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }; then
	skip "/dev/kvm is missing or not usable"
fi

# --- the image ----------------------------------------------------------------
t0=$(date +%s)
"$srcdir/packaging/image/build.sh" -o "$ENVD_VM_IMAGE" >"$TEST_TMP/build.log" 2>&1
built=$?
build_s=$(($(date +%s) - t0))
if [ "$accel" = kvm ] && [ "$built" -eq 0 ] &&
    ! why=$("$VM" probe -d "$TEST_TMP/probe" 2>&1); then
	[ "${auto:-0}" = 1 ] || skip "${why#*: } (ENVD_VM_ACCEL=tcg to emulate)"
	echo "# ${why#*: }: emulating (TCG)"
	accel=tcg
	export ENVD_VM_ACCEL=tcg
fi
if [ "$accel" = kvm ]; then
	SLOW=1
else
	SLOW=10
	export ENVD_VM_TIMEOUT=${ENVD_VM_TIMEOUT:-400}
	# Each boot has its own overlay: a slow power-off need not be awaited.
	export STOP_TIMEOUT=${STOP_TIMEOUT:-5}
fi
ok "$built" "image builds ($build_s s)"
if [ "$built" -ne 0 ]; then
	tail -30 "$TEST_TMP/build.log" | sed 's/^/# /'
	done_testing
fi
grep -E '^build.sh:' "$TEST_TMP/build.log" | sed 's/^/# /'
[ "$accel" = kvm ] || echo "# TCG emulation: timings are not KVM timings"

RUN=$TEST_TMP/run
SNAP=$TEST_TMP/snap
cleanup_fn '"$VM" stop -d "$RUN" >/dev/null 2>&1'
TOKEN=vm-test-token-$$-$RANDOM
ROOT=(-H "X-Access-Token: $TOKEN" -H "Authorization: Basic $(printf 'root:' | base64)")

# vm_start CMD [ARGS...]: vm.sh start/restore; sets ENVD_URL, BOOT_MS.
vm_start() {
	local out
	out=$("$VM" "$@" 2>&1)
	local rc=$?
	echo "$out" | sed 's/^/# /'
	BOOT_MS=$(sed -n 's/^health after \([0-9]*\) ms$/\1/p' <<<"$out")
	ENVD_URL=$(sed -n 's/^url //p' <<<"$out")
	return $rc
}

# iso8601 [OFFSET-SECONDS]: the host's time as the orchestrator sends it.
iso8601() {
	date -u -d "@$(($(date +%s) + ${1:-0}))" +%Y-%m-%dT%H:%M:%S.%NZ
}

# init BODY: POST /init; prints the status (headers in init.hdr).
init() {
	curl -sS -o "$TEST_TMP/init.body" -D "$TEST_TMP/init.hdr" \
	    -w '%{http_code}' -m 10 \
	    -X POST "$ENVD_URL/init" -H 'Content-Type: application/json' \
	    -H "X-Access-Token: $TOKEN" --data-binary "$1"
}

# guest NAME SHELL-COMMAND: run it as root in the guest through envd's
# Process API; its stdout is printed.
guest() {
	run "$1" "{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",$(jq -Rn --arg c "$2" '$c')]}}" \
	    "${ROOT[@]}" -m $((20 * SLOW))
	output "$1" stdout
}

# sysguest NAME SHELL-COMMAND: the same with the _system tag, which runs
# outside the workload cgroups (and so also while they are frozen).
sysguest() {
	run "$1" "{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",$(jq -Rn --arg c "$2" '$c')]},\"tag\":\"_system\"}" \
	    "${ROOT[@]}" -m $((20 * SLOW))
	output "$1" stdout
}

# ctl PATH [TOKEN]: POST a control endpoint as the orchestrator does
# (firecracker.md §6); prints the status, headers in ctl.hdr, body ctl.body.
ctl() {
	curl -s -m $((10 * SLOW)) -D "$TEST_TMP/ctl.hdr" -o "$TEST_TMP/ctl.body" \
	    -w '%{http_code}' -X POST -H "X-Access-Token: ${2-$TOKEN}" \
	    -H 'User-Agent: Go-http-client/1.1' "$ENVD_URL$1"
}

# hdr_val NAME FILE: a response header's value.
hdr_val() { sed -n "s/^$1: //Ip" "$TEST_TMP/$2" | tr -d '\r'; }

# ticks NAME: the last tick a ticker stream has printed.
ticks() { output "$1" stdout | sed -n 's/^tick //p' | tail -1; }

# user_cg: the user group's cgroup.freeze and its "frozen" event.
user_cg() {
	sysguest cg 'cat /sys/fs/cgroup/user/cgroup.freeze; sed -n "s/^frozen //p" /sys/fs/cgroup/user/cgroup.events' |
	    tr '\n' ' '
}

# stalled NAME WHAT: the ticker's count stays put while it is frozen.
stalled() {
	local n1 n2
	sleep $((1 * SLOW > 3 ? 3 : 1))
	n1=$(ticks "$1")
	sleep 2
	n2=$(ticks "$1")
	is "$n2" "$n1" "$2: the background command stops progressing (tick $n1)"
}

# --- boot -----------------------------------------------------------------------
vm_start start -d "$RUN"
ok $? "boot: /health answers 204"
echo "# boot to first /health: ${BOOT_MS:-?} ms ($accel)"
[ -n "$ENVD_URL" ] || done_testing

# --- /init as the orchestrator sends it --------------------------------------
is "$(init "{\"envVars\":{\"VMTEST\":\"first\"},\"accessToken\":\"$TOKEN\",\"defaultUser\":\"user\",\"timestamp\":\"$(iso8601)\"}")" \
    204 "init: token, defaultUser, envVars and timestamp accepted"
is "$(http_status "$ENVD_URL/envs")" 401 "init: /envs without the token is 401"
like "$(curl -s -H "X-Access-Token: $TOKEN" "$ENVD_URL/envs")" '"VMTEST":"first"' \
    "init: envVars in /envs"
is "$(guest whoami 'echo $VMTEST; id -un' | tr '\n' ' ')" "first root " \
    "init: the env var reaches a command"
user_run() {
	run u '{"process":{"cmd":"/bin/sh","args":["-c","id -un; echo $HOME"]}}' \
	    -H "X-Access-Token: $TOKEN" -m $((20 * SLOW))
	output u stdout | tr '\n' ' '
}
is "$(user_run)" "user /home/user " "init: the default user runs commands"
is "$(guest sudo 'su user -c "sudo -n id -u"')" 0 "image: user has passwordless sudo"
like "$(guest tools 'python3 --version; git --version' | tr '\n' ' ')" \
    '^Python 3\.11.* git version 2\.' "image: python3 and git"

# restrict=on: the host's loopback is 10.0.2.2 to the guest, and the port
# forwarded to envd listens there; an unrestricted guest would get through.
hport=${ENVD_URL##*:}
is "$(guest out "timeout 5 bash -c '</dev/tcp/10.0.2.2/$hport' 2>/dev/null && echo reached || echo blocked")" \
    blocked "network: the guest reaches nothing on the host side"

# --- the unit's settings in force ---------------------------------------------
settings=$(guest unit 'p=$(pidof envd); ps -o user=,ni= -p $p; cat /proc/$p/oom_score_adj; ionice -p $p; systemctl show -p Restart --value envd' | tr -s ' \n' ' ' | sed 's/^ //')
is "$settings" "root -20 -1000 realtime: prio 4 always " \
    "unit: root, Nice=-20, OOMScoreAdjust=-1000, realtime I/O, Restart=always"
old=$(guest pid 'pidof envd')
start killer "{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",\"kill -9 $old\"]}}" "${ROOT[@]}"
t1=$(date +%s%3N)
down=0
wait_until 5 sh -c "! curl -s -m 0.5 -o /dev/null '$ENVD_URL/health'" && down=1
back() { [ "$(curl -s -m 0.5 -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" = 204 ]; }
wait_until 10 back
ok $? "unit: envd is back after SIGKILL"
ms=$(($(date +%s%3N) - t1))
echo "# back after $ms ms (down seen: $down)"
[ "$ms" -le $((2000 * SLOW)) ]
ok $? "unit: back within 2 s"
hangup killer
new=$(guest pid2 'pidof envd')
[ -n "$new" ] && [ "$new" != "$old" ]
ok $? "unit: a new envd process ($old -> $new)"
is "$(init "{\"accessToken\":\"$TOKEN\",\"defaultUser\":\"user\",\"timestamp\":\"$(iso8601)\"}")" \
    204 "unit: the restarted envd takes /init again"

# --- the SDK layer through the guest's address -------------------------------
if [ "${ENVD_VM_SDK:-1}" = 1 ] && command -v node >/dev/null 2>&1; then
	ENVD_REMOTE_URL=$ENVD_URL ENVD_REMOTE_TOKEN=$TOKEN \
	    "$srcdir/tests/sdk/run.sh" >"$TEST_TMP/sdk.log" 2>&1
	ok $? "sdk: $(grep -E '^sdk-(passed|failed)' "$TEST_TMP/sdk.log" | tr '\n' ' ')"
	grep -E '^not ok ' "$TEST_TMP/sdk.log" | sed 's/^/#   /'
fi

# --- pause and resume ----------------------------------------------------------
guest mk 'mkdir -p /tmp/w; echo first-boot >/home/user/marker' >/dev/null
start ticker '{"process":{"cmd":"/bin/sh","args":["-c","i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]},"tag":"ticker"}' \
    "${ROOT[@]}"
wait_output ticker "tick 2" 10
ok $? "pause: the background command prints"
TPID=$(pid_of ticker)

watch_start() {	# NAME: a WatchDir stream on /tmp/w
	enc '{"path":"/tmp/w"}' >"$TEST_TMP/$1.req"
	rm -f "$TEST_TMP/$1.bin"
	curl -s -N -o "$TEST_TMP/$1.bin" \
	    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
	    -H 'Content-Type: application/connect+json' \
	    -H 'Keepalive-Ping-Interval: 1' "${ROOT[@]}" \
	    --data-binary @"$TEST_TMP/$1.req" 2>/dev/null &
	CURL_PID[$1]=$!
}
watch_start w1
wait_for w1 '"start":\{\}' 10
guest touch1 'touch /tmp/w/before' >/dev/null
wait_for w1 '"name":"before"' 10
ok $? "pause: WatchDir reports a file made before the snapshot"

# --- §6.5 pause: /freeze then /collapse, then the snapshot ----------------------
# The image's envd runs in Firecracker mode with cgroups under
# /sys/fs/cgroup (the unit has Delegate=yes): commands land in "user".
is "$(sysguest cg0 "sed -n 's/^0:://p' /proc/$TPID/cgroup")" /user \
    "cgroups: the background command runs in the user group"
is "$(ctl /freeze '')" 401 "pause: /freeze without the token: 401"
is "$(user_cg)" "0 0 " "pause: a refused /freeze froze nothing"
is "$(ctl '/freeze?maxWaitMs=1500')" 200 "pause: /freeze?maxWaitMs=1500: 200"
is "$(hdr_val Cache-Control ctl.hdr)" no-store "pause: Cache-Control: no-store"
is "$(jq -c '{mode,requested,frozen,notFrozen,failed}' "$TEST_TMP/ctl.body")" \
    '{"mode":"legacy","requested":2,"frozen":2,"notFrozen":0,"failed":0}' \
    "pause: FreezeResult: user and ptys read frozen"
is "$(user_cg)" "1 1 " "pause: the user group reads frozen in the guest"
stalled ticker pause
run frozen '{"process":{"cmd":"/bin/true"}}' "${ROOT[@]}" -m $((20 * SLOW))
like "$(eos_of frozen)" '"code":"unavailable"' "pause: Process.Start while frozen: unavailable"
is "$(ctl /collapse)" 200 "pause: /collapse: 200"
is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/ctl.body")" \
    alreadyHuge,chunks,collapsed,elapsedMs,regions,skipped "pause: CollapseResult keys"
echo "# collapse: $(cat "$TEST_TMP/ctl.body")"
is "$(http_status "$ENVD_URL/health")" 204 "pause: envd answers while the workload is frozen"

clock_before=$(sysguest clock1 'date +%s')
last_tick=$(output ticker stdout | sed -n 's/^tick //p' | tail -1)
vm_start snapshot -d "$RUN" "$SNAP"
ok $? "pause: snapshot written"
hangup ticker
hangup w1
sleep 3
vm_start restore -d "$RUN" "$SNAP"
ok $? "resume: /health answers 204 after restore"
echo "# resume to first /health: ${BOOT_MS:-?} ms ($accel)"
RESUME_MS=$BOOT_MS

host_now=$(date +%s)
is "$(init "{\"envVars\":{\"VMTEST\":\"second\"},\"accessToken\":\"$TOKEN\",\"defaultUser\":\"user\",\"timestamp\":\"$(iso8601)\"}")" \
    204 "resume: /init with a later timestamp and the same token"
grep -i '^X-Envd-' "$TEST_TMP/init.hdr" | tr -d '\r' | sed 's/^/# /'
like "$(hdr_val X-Envd-Version init.hdr)" '^[0-9]+\.[0-9]+\.[0-9]+$' "resume: X-Envd-Version"
like "$(hdr_val X-Envd-Init-Unobserved init.hdr)" '^[0-9]+$' "resume: X-Envd-Init-Unobserved"
like "$(hdr_val X-Envd-Init-Clock-Correction init.hdr)" '^[0-9]+$' \
    "resume: X-Envd-Init-Clock-Correction (whole ms)"
like "$(hdr_val X-Envd-Defaults init.hdr)" '"user":"user"' "resume: X-Envd-Defaults"
like "$(hdr_val X-Envd-Cpus init.hdr)" '^\{"online":[0-9]+,"possible":[0-9]+,"target":0\}$' \
    "resume: X-Envd-Cpus"
like "$(hdr_val X-Envd-Memory init.hdr)" \
    '^\{"request":[0-9]+,"low":[0-9]+,"floor":[0-9]+,"partial":(true|false)\}$' \
    "resume: X-Envd-Memory"
is "$(hdr_val X-Envd-Thaw init.hdr)" "" "resume: no X-Envd-Thaw (the thaw ran)"
is "$(user_cg)" "0 0 " "resume: the user group was thawed before the 204"
clock_after=$(guest clock2 'date +%s')
echo "# guest clock: $clock_before before the snapshot, $clock_after after /init (host $host_now)"
[ "$clock_after" -ge "$host_now" ] && [ "$clock_after" -gt "$clock_before" ]
ok $? "resume: the guest clock moved forward to the host's time"
is "$(http_status "$ENVD_URL/envs")" 401 "resume: no token, no access"
like "$(curl -s -H "X-Access-Token: $TOKEN" "$ENVD_URL/envs")" '"VMTEST":"second"' \
    "resume: the token still holds"
is "$(rpc List '{}' "${ROOT[@]}")" 200 "resume: List answers"
like "$(body)" "\"pid\":$TPID[,}]" "resume: the background command is still in List"
stream again Connect "{\"process\":{\"pid\":$TPID}}" "${ROOT[@]}"
want=$((last_tick + 3))
wait_output again "tick $want" 20
ok $? "resume: its output still arrives (tick $want after tick $last_tick)"

# --- §6.5 rollback: a pause that fails after the freeze --------------------------
is "$(ctl '/freeze?maxWaitMs=1500')" 200 "rollback: /freeze: 200"
is "$(user_cg)" "1 1 " "rollback: frozen"
stalled again rollback
is "$(ctl /unfreeze)" 204 "rollback: /unfreeze: 204"
is "$(hdr_val Cache-Control ctl.hdr)" no-store "rollback: Cache-Control: no-store"
is "$(user_cg)" "0 0 " "rollback: thawed"
want=$(($(ticks again) + 2))
wait_output again "tick $want" 20
ok $? "rollback: the background command progresses again (tick $want)"
hangup again

# --- §6.6 filesystem-only pause: /fsfreeze, /fsthaw on the guest's root ---------
# FIFREEZE on / stops every writer of the root file system, a journald
# with a persistent journal included; envd's log lines go to its stderr, a
# journald stream socket, whose buffer holds the few lines of these calls. So only short control calls run while
# frozen, the thaw is always sent (the VM is stopped in any case), and the
# same envd process must answer afterwards.
pid_before=$(sysguest pid3 'pidof envd')
is "$(ctl /fsfreeze)" 204 "fs-only pause: /fsfreeze: 204"
is "$(hdr_val Cache-Control ctl.hdr)" no-store "fs-only pause: Cache-Control: no-store"
start fsw '{"process":{"cmd":"/bin/sh","args":["-c","echo begin; echo data >/var/tmp/fsw && echo wrote"]},"tag":"_system"}' \
    "${ROOT[@]}" -m $((60 * SLOW))
wait_output fsw begin 20
ok $? "fs-only pause: a writer starts while / is frozen"
sleep 2
! has_output fsw wrote
ok $? "fs-only pause: its write waits"
is "$(http_status "$ENVD_URL/health")" 204 "fs-only pause: envd answers while / is frozen"
is "$(ctl /fsfreeze)" 204 "fs-only pause: a retried /fsfreeze: 204"
is "$(ctl /fsthaw)" 204 "fs-only pause: /fsthaw: 204"
wait_output fsw wrote 20
ok $? "fs-only pause: the write completes after the thaw"
finish fsw
is "$(ctl /fsthaw)" 204 "fs-only pause: a second /fsthaw: 204"
is "$(sysguest fsr 'cat /var/tmp/fsw; pidof envd' | tr '\n' ' ')" "data $pid_before " \
    "fs-only pause: the data is there, the same envd answers"
watch_start w2
wait_for w2 '"start":\{\}' 10
guest touch2 'touch /tmp/w/after' >/dev/null
wait_for w2 '"name":"after"' 10
ok $? "resume: a reconnected WatchDir stream reports a new file"
hangup w2

"$VM" stop -d "$RUN" >/dev/null 2>&1
qpid=$(cat "$RUN/qemu.pid" 2>/dev/null)
[ -z "$qpid" ] && ! [ -e "$RUN/disk.qcow2" ]
ok $? "stop: no QEMU and no overlay left"

# --- a second boot is clean ---------------------------------------------------
vm_start start -d "$RUN"
ok $? "second boot: /health answers 204"
echo "# second boot to first /health: ${BOOT_MS:-?} ms"
is "$(curl -s "$ENVD_URL/envs" | jq -r '.VMTEST // "unset"')" unset \
    "second boot: no env vars from the first boot, no token needed"
is "$(guest clean 'ls /home/user/marker /tmp/w 2>&1 | wc -l; grep -lE "echo [t]ick" /proc/[0-9]*/cmdline 2>/dev/null | wc -l' | tr '\n' ' ')" \
    "2 0 " "second boot: no files or processes of the first boot"
"$VM" stop -d "$RUN" >/dev/null 2>&1
ok $? "second boot: stops cleanly"
if [ -n "${VM_BENCH_OUT:-}" ]; then
	printf 'boot_ms %s\nresume_ms %s\n' "$BOOT_MS" "$RESUME_MS" >"$VM_BENCH_OUT"
fi

done_testing
