#!/usr/bin/env bash
# The control endpoints (upstream-0.9.md §5) and the workload cgroups
# (firecracker.md §7): /freeze, /unfreeze, the thaw watchdog, /fsfreeze and
# /fsthaw on a loop-mounted scratch ext4, /collapse, and Process.Start into
# the user and ptys groups (refused with unavailable while frozen).
#
# The cgroup root is a subtree the test creates on the machine's cgroup2
# mount and removes at the end; the file system is an image in $TEST_TMP.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/proc-lib.sh"
requires curl --version
requires jq --version

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (cgroups, mount)"; exit 0; }
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG2" ] || { echo "1..0 # SKIP no cgroup2 mount"; exit 0; }
CG=$CG2/envd-test-$$
if ! mkdir "$CG" 2>/dev/null || [ ! -e "$CG/cgroup.freeze" ]; then
	rmdir "$CG" 2>/dev/null
	echo "1..0 # SKIP cannot create a freezable cgroup under $CG2"
	exit 0
fi
# Thaw and remove the test's cgroups (deepest first), killing any process
# left in them.
cg_cleanup() {
	local d
	find "$CG" -depth -mindepth 0 -type d 2>/dev/null | while read -r d; do
		echo 0 >"$d/cgroup.freeze" 2>/dev/null
		[ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
	done
	sleep 0.1
	find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
}
cleanup_fn cg_cleanup

req() {
	local m=$1 p=$2
	shift 2
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
	    -X "$m" "$ENVD_URL$p" -H "X-Access-Token: $TOKEN" "$@"
}
hdr() { tr -d '\r' <"$TEST_TMP/hdr"; }
body() { cat "$TEST_TMP/body"; }
fz() { cat "$CG/$1/cgroup.freeze"; }
TOKEN=tok-$$-$RANDOM

start_envd -cgroup-root "$CG"
ok $? "daemon starts with -cgroup-root $CG"
is "$(http_status -X POST "$ENVD_URL/init" -d "{\"accessToken\":\"$TOKEN\"}")" \
    204 "set a token"

# --- the groups -----------------------------------------------------------------
for g in user ptys socats; do
	check "$g group created" test -f "$CG/$g/cgroup.freeze"
done
if [ -e "$CG/user/cpu.weight" ]; then
	is "$(cat "$CG/user/cpu.weight")" 50 "user cpu.weight 50"
else
	echo "# cpu controller not enabled under $CG2: properties skipped"
fi

# --- the gate -------------------------------------------------------------------
for p in /freeze /unfreeze /fsfreeze /fsthaw /collapse; do
	is "$(http_status -X POST "$ENVD_URL$p")" 401 "$p is token-gated"
done
is "$(fz user)" 0 "a refused /freeze froze nothing"

# --- /freeze, /unfreeze ---------------------------------------------------------
is "$(req POST /freeze)" 204 "POST /freeze: 204"
like "$(hdr)" 'Cache-Control: no-store' "Cache-Control: no-store"
is "$(fz user)$(fz ptys)$(fz socats)" 110 "user and ptys frozen, socats not"

# A spawn while our freeze holds is refused, and nothing is started.
run frozen '{"process":{"cmd":"/bin/true"}}' -H "X-Access-Token: $TOKEN"
like "$(eos_of frozen)" '"code":"unavailable"' "Process.Start while frozen: unavailable"
like "$(eos_of frozen)" 'the target cgroup is frozen' "with upstream's reason"
run sysproc '{"process":{"cmd":"/bin/echo","args":["sys"]},"tag":"_system"}' \
    -H "X-Access-Token: $TOKEN"
like "$(output sysproc)" '^sys' "tag _system bypasses the groups while frozen"

is "$(req POST /unfreeze)" 204 "POST /unfreeze: 204"
is "$(fz user)$(fz ptys)" 00 "thawed"

# The resume thaw on /init (upstream-0.9.md §3.5): inline before the 204,
# or not at all with thaw:"skip".
is "$(req POST /freeze)" 204 "freeze before a resume"
is "$(req POST /init -d "{\"accessToken\":\"$TOKEN\",\"thaw\":\"skip\"}")" \
    204 "/init thaw:skip: 204"
like "$(hdr)" $'X-Envd-Thaw: skip\n' "X-Envd-Thaw: skip"
is "$(fz user)$(fz ptys)" 11 "thaw:skip leaves the groups frozen"
is "$(req POST /init -d "{\"accessToken\":\"$TOKEN\"}")" 204 "/init: 204"
is "$(fz user)$(fz ptys)" 00 "/init thawed before its 204"
like "$(hdr)" $'X-Envd-Init-Unobserved: [0-9]+\n' "X-Envd-Init-Unobserved"
! grep -qi '^X-Envd-Thaw' "$TEST_TMP/hdr"
ok $? "no X-Envd-Thaw without thaw:skip"

is "$(req POST '/freeze?maxWaitMs=2000')" 200 "freeze with maxWaitMs: 200"
like "$(hdr)" $'Content-Type: application/json\n' "application/json"
is "$(jq -c '{frozen,requested,failed,notFrozen,mode,visited,vanished}' "$TEST_TMP/body")" \
    '{"frozen":2,"requested":2,"failed":0,"notFrozen":0,"mode":"legacy","visited":0,"vanished":0}' \
    "FreezeResult: both groups read frozen"
is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/body")" \
    allowlisted,failed,frozen,mode,notFrozen,preFrozen,requested,sweepMs,truncated,unobservable,vanished,visited,waitMs \
    "FreezeResult key order"
is "$(tail -c 1 "$TEST_TMP/body" | od -An -c | tr -d ' ')" '\n' "ends with a newline"
is "$(cat "$CG/user/cgroup.events" | sed -n 's/^frozen //p')" 1 "user reads frozen"
# A cgroup frozen after our freeze is thawed with it.
mkdir "$CG/user/late" && echo 1 >"$CG/user/late/cgroup.freeze"
is "$(req POST /unfreeze)" 204 "unfreeze"
is "$(fz user)$(cat "$CG/user/late/cgroup.freeze")" 00 "the thaw walk thaws a cgroup frozen meanwhile"
rmdir "$CG/user/late"

# A cgroup the guest froze before our freeze stays frozen after the thaw.
mkdir "$CG/guest" && echo 1 >"$CG/guest/cgroup.freeze"
is "$(req POST '/freeze?maxWaitMs=1000')" 200 "freeze with a guest-frozen cgroup"
is "$(jq .preFrozen "$TEST_TMP/body")" 1 "preFrozen counts it"
is "$(req POST /unfreeze)" 204 "unfreeze"
is "$(fz user)$(cat "$CG/guest/cgroup.freeze")" 01 "guest-frozen cgroup left alone"
# A group the guest keeps frozen refuses spawns (the probe).
echo 0 >"$CG/guest/cgroup.freeze"
rmdir "$CG/guest"
echo 1 >"$CG/user/cgroup.freeze"
run probe '{"process":{"cmd":"/bin/true"}}' -H "X-Access-Token: $TOKEN"
like "$(eos_of probe)" '"code":"unavailable".*has a freeze requested|reads frozen' \
    "guest-frozen user group: unavailable"
echo 0 >"$CG/user/cgroup.freeze"

is "$(req POST '/freeze?maxWaitMs=abc')" 400 "non-integer maxWaitMs: 400"
like "$(body)" '^Invalid format for parameter maxWaitMs: ' "Go's binding message"
is "$(fz user)" 0 "a 400 froze nothing"

# --- children land in their group -------------------------------------------------
# in_group NAME JSON GROUP TEXT: start JSON, check the child's cgroup
# (GROUP "": the daemon's own).
in_group() {
	local cpid want
	want=${CG#"$CG2"}/$3
	[ -n "$3" ] || want=$(sed -n 's/^0:://p' "/proc/$ENVD_PID/cgroup")
	start "$1" "$2" -H "X-Access-Token: $TOKEN"
	wait_for "$1" '"start"' 5
	cpid=$(pid_of "$1")
	is "$(sed -n 's/^0:://p' "/proc/$cpid/cgroup" 2>/dev/null)" "$want" "$4"
	kill "$cpid" 2>/dev/null
	finish "$1"
}
in_group child '{"process":{"cmd":"/bin/sleep","args":["30"]}}' user \
    "a command without a PTY runs in user"
in_group ptychild '{"process":{"cmd":"/bin/sleep","args":["30"]},"pty":{"size":{"cols":80,"rows":24}}}' \
    ptys "a PTY command runs in ptys"
in_group syschild '{"process":{"cmd":"/bin/sleep","args":["30"]},"tag":"_system"}' \
    "" "a _system command stays in the daemon's cgroup"

# --- /collapse ------------------------------------------------------------------
is "$(req POST /collapse)" 200 "POST /collapse: 200"
is "$(jq -r 'keys_unsorted | join(",")' "$TEST_TMP/body")" \
    alreadyHuge,chunks,collapsed,elapsedMs,regions,skipped "collapse keys"
is "$(jq '.chunks == .collapsed + .skipped + .alreadyHuge' "$TEST_TMP/body")" true \
    "every chunk accounted for"

# --- mode=hierarchy (upstream-0.9.md §5.1 step 3) ---------------------------------
# The daemon moves into $CG/system.slice/envd.service, so its ancestor
# chain lies inside the test's tree; the guest's cgroups sit around it.
ENVD_CG0=$(sed -n 's/^0:://p' "/proc/$ENVD_PID/cgroup")
mkdir -p "$CG/system.slice/envd.service" "$CG/system.slice/foo.service" \
    "$CG/system.slice/systemd-journald.service" \
    "$CG/system.slice/rpcbind.socket/child" "$CG/init.scope" \
    "$CG/guestA" "$CG/guestB/sub" "$CG/guestC"
echo 1 >"$CG/guestC/cgroup.freeze"
echo "$ENVD_PID" >"$CG/system.slice/envd.service/cgroup.procs"
is "$(sed -n 's/^0:://p' "/proc/$ENVD_PID/cgroup")" \
    "${CG#"$CG2"}/system.slice/envd.service" "the daemon sits in system.slice/envd.service"
is "$(req POST '/freeze?mode=hierarchy&maxWaitMs=2000')" 200 "hierarchy freeze: 200"
is "$(jq -c '{mode,requested,frozen,notFrozen,allowlisted,visited,preFrozen,truncated,vanished,failed}' "$TEST_TMP/body")" \
    '{"mode":"hierarchy","requested":5,"frozen":5,"notFrozen":0,"allowlisted":4,"visited":12,"preFrozen":1,"truncated":false,"vanished":0,"failed":0}' \
    "FreezeResult: user, ptys and three guest cgroups; four allowlisted"
is "$(fz guestA)$(fz guestB)$(fz system.slice/foo.service)" 111 \
    "children off the chain are frozen"
is "$(fz guestB/sub)$(sed -n 's/^frozen //p' "$CG/guestB/sub/cgroup.events")" 01 \
    "no write below a frozen child (frozen through it)"
is "$(fz system.slice)$(fz system.slice/envd.service)$(fz init.scope)$(fz socats)" 0000 \
    "the chain, init.scope and socats are not"
is "$(fz system.slice/systemd-journald.service)$(fz system.slice/rpcbind.socket)$(fz system.slice/rpcbind.socket/child)" 000 \
    "allowlisted services and what lies below them are not"
is "$(http_status "$ENVD_URL/health")" 204 "the daemon still answers"
is "$(req POST /unfreeze)" 204 "unfreeze"
is "$(fz guestA)$(fz guestB)$(fz system.slice/foo.service)$(fz user)" 0000 \
    "the thaw walk thaws what the sweep froze"
is "$(fz guestC)" 1 "the guest's own freeze survives"
is "$(req POST '/freeze?mode=hierarchy&maxCgroups=3&maxWaitMs=1000')" 200 \
    "hierarchy freeze bounded at 3 cgroups"
is "$(jq -c '{visited,truncated,requested}' "$TEST_TMP/body")" \
    '{"visited":3,"truncated":true,"requested":4}' \
    "the walk stops at maxCgroups (user and ptys come first, always)"
is "$(fz guestA)$(fz guestB)$(fz system.slice/foo.service)" 110 \
    "nothing past the bound"
is "$(req POST /unfreeze)" 204 "unfreeze"
is "$(req POST '/freeze?mode=other&maxWaitMs=1000')" 200 "an unknown mode"
is "$(jq -c '{mode,requested,visited}' "$TEST_TMP/body")" \
    '{"mode":"legacy","requested":2,"visited":0}' "runs legacy"
is "$(fz guestA)" 0 "legacy leaves the guest's cgroups alone"
is "$(req POST /unfreeze)" 204 "unfreeze"
echo "$ENVD_PID" >"$CG2$ENVD_CG0/cgroup.procs"
echo 0 >"$CG/guestC/cgroup.freeze"
for d in system.slice/rpcbind.socket/child system.slice/rpcbind.socket \
    system.slice/systemd-journald.service system.slice/foo.service \
    system.slice/envd.service system.slice init.scope guestA guestB/sub \
    guestB guestC; do
	rmdir "$CG/$d"
done

stop_envd

# --- the watchdog ---------------------------------------------------------------
ENVD_THAW_WATCHDOG_MS=300 start_envd -cgroup-root "$CG"
ok $? "daemon with a 300 ms watchdog"
TOKEN=
is "$(req POST /freeze)" 204 "freeze"
is "$(fz user)" 1 "frozen"
sleep 1
is "$(fz user)$(fz ptys)" 00 "the watchdog thawed a freeze nobody thawed"
stop_envd

# --- the resume thaw skipped for a later /freeze (upstream-0.9.md §3.5) ---------
# An /init held up in its volume mount (a fake mount that waits for a
# file) while a /freeze arrives must not thaw that freeze.
FAKE=$TEST_TMP/fakebin
mkdir -p "$FAKE"
cat >"$FAKE/findmnt" <<'EOS'
#!/bin/sh
exit 1
EOS
cat >"$FAKE/mount" <<EOS
#!/bin/sh
echo "\$*" >>"$TEST_TMP/mount.log"
for i in \$(seq 1 250); do
	[ -e "$TEST_TMP/mount.go" ] && exit 0
	sleep 0.02
done
exit 32
EOS
chmod +x "$FAKE/findmnt" "$FAKE/mount"
vol='"volumeMounts":[{"nfs_target":"192.0.2.1:/v","path":"'$TEST_TMP/nfsmnt'"}]'
PATH=$FAKE:$PATH start_envd -cgroup-root "$CG"
ok $? "daemon with a fake mount"
init_bg() { # init_bg NAME LIFECYCLE: /init in the background
	curl -s -o /dev/null -D "$TEST_TMP/$1.hdr" -w '%{http_code}' -X POST \
	    "$ENVD_URL/init" -d "{\"lifecycleID\":\"$2\",$vol}" \
	    >"$TEST_TMP/$1.code" &
}
wait_mount() { # wait_mount N: the fake mount ran N times
	for i in $(seq 1 200); do
		[ "$(wc -l <"$TEST_TMP/mount.log" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.02
	done
	return 1
}
rm -f "$TEST_TMP/mount.go"
init_bg race L1
initpid=$!
wait_mount 1
ok $? "/init is in its mount"
is "$(req POST /freeze)" 204 "a /freeze while that /init runs"
touch "$TEST_TMP/mount.go"
wait "$initpid"
is "$(cat "$TEST_TMP/race.code")" 204 "the /init answers 204"
is "$(fz user)$(fz ptys)" 11 "and leaves the later freeze in place"
ok "$(grep -q 'a freeze came after this /init began' "$ENVD_LOG"; echo $?)" \
    "and says why"
# The same /init without a freeze in between thaws.
rm -f "$TEST_TMP/mount.go"
init_bg plain L2
initpid=$!
wait_mount 2
touch "$TEST_TMP/mount.go"
wait "$initpid"
is "$(cat "$TEST_TMP/plain.code")" 204 "a /init entered after the freeze"
is "$(fz user)$(fz ptys)" 00 "thaws it"

# --- the freeze lock: later calls wait for a freeze's wait, in order -------------
# A task blocked writing to a frozen file system cannot freeze, so user
# stays "frozen 0" and the first /freeze spends its whole budget waiting.
QMNT=$TEST_TMP/qmnt
if command -v mkfs.ext4 >/dev/null && command -v fsfreeze >/dev/null &&
    truncate -s 16M "$TEST_TMP/q.img" && mkfs.ext4 -q -F "$TEST_TMP/q.img" &&
    mkdir "$QMNT" && mount -o loop "$TEST_TMP/q.img" "$QMNT"; then
	cleanup_fn "fsfreeze -u '$QMNT' 2>/dev/null; umount '$QMNT'"
	fsfreeze -f "$QMNT"
	sh -c "echo \$\$ >'$CG/user/cgroup.procs'; exec sh -c 'echo x >$QMNT/f'" &
	writer=$!
	sleep 0.3
	stamp() { # stamp NAME METHOD PATH: request, then record when it ended
		curl -s -o "$TEST_TMP/$1.body" -w '%{http_code}' -X "$2" \
		    "$ENVD_URL$3" >"$TEST_TMP/$1.code"
		date +%s%N >"$TEST_TMP/$1.t"
	}
	stamp first POST '/freeze?maxWaitMs=1500' &
	p1=$!
	sleep 0.3
	stamp second POST '/freeze?maxWaitMs=100' &
	p2=$!
	sleep 0.2
	stamp thaw POST /unfreeze &
	p3=$!
	wait "$p1" "$p2" "$p3"
	is "$(cat "$TEST_TMP/first.code") $(cat "$TEST_TMP/second.code") $(cat "$TEST_TMP/thaw.code")" \
	    "200 200 204" "all three answered"
	is "$(jq -c '{requested,frozen,notFrozen}' "$TEST_TMP/first.body")" \
	    '{"requested":2,"frozen":1,"notFrozen":1}' \
	    "the first waited its budget for user (ptys froze)"
	# The second ends its own 100 ms wait after the first's answer; the
	# /unfreeze, sent 1 s before the first's budget ran out, ends after it.
	[ "$(cat "$TEST_TMP/first.t")" -le "$(cat "$TEST_TMP/second.t")" ] &&
	    [ "$(cat "$TEST_TMP/first.t")" -le "$(cat "$TEST_TMP/thaw.t")" ]
	ok $? "the second /freeze and the /unfreeze waited for the first"
	is "$(jq -c '{requested,notFrozen}' "$TEST_TMP/second.body")" \
	    '{"requested":2,"notFrozen":1}' "the second /freeze ran after the first"
	is "$(fz user)$(fz ptys)" 00 "the /unfreeze ran after the second /freeze"
	# An /init whose thaw waits for the lock and whose client gives up:
	# the thaw still runs after the freeze, and is counted unobserved.
	stamp third POST '/freeze?maxWaitMs=1200' &
	p1=$!
	sleep 0.3
	curl -s -m 0.4 -o /dev/null -X POST "$ENVD_URL/init" -d '{}'
	is "$?" 28 "an /init that gives up while the freeze waits"
	is "$(fz user)$(fz ptys)" 11 "nothing thawed under the freeze"
	wait "$p1"
	for i in $(seq 1 50); do
		[ "$(fz user)$(fz ptys)" = 00 ] && break
		sleep 0.02
	done
	is "$(fz user)$(fz ptys)" 00 "its thaw ran once the freeze ended"
	is "$(req POST /init -d '{}')" 204 "the next /init"
	like "$(hdr)" $'X-Envd-Init-Unobserved: 1\n' "counts the unobserved thaw"
	fsfreeze -u "$QMNT"
	wait "$writer"
	is "$(cat "$QMNT/f")" x "the writer finishes after the thaws"
else
	echo "# no mkfs.ext4/fsfreeze or loop mount: the lock-order test is not run"
fi
stop_envd

# --- -no-cgroups ----------------------------------------------------------------
rmdir "$CG/user" "$CG/ptys" "$CG/socats"
start_envd -cgroup-root "$CG" -no-cgroups
ok $? "daemon with -no-cgroups"
check "-no-cgroups creates no group" test ! -e "$CG/user"
is "$(req POST '/freeze?maxWaitMs=100')" 200 "freeze without a manager: 200"
is "$(jq -c '{requested,frozen}' "$TEST_TMP/body")" '{"requested":0,"frozen":0}' \
    "nothing to freeze"
run nocg '{"process":{"cmd":"/bin/echo","args":["x"]}}'
like "$(output nocg)" '^x' "spawns still work"
stop_envd

# --- /fsfreeze, /fsthaw ---------------------------------------------------------
if command -v mkfs.ext4 >/dev/null && command -v fsfreeze >/dev/null &&
    truncate -s 32M "$TEST_TMP/fs.img" && mkfs.ext4 -q -F "$TEST_TMP/fs.img" &&
    mkdir "$TEST_TMP/mnt" && mount -o loop "$TEST_TMP/fs.img" "$TEST_TMP/mnt"; then
	MNT=$TEST_TMP/mnt
	cleanup_fn "fsfreeze -u '$MNT' 2>/dev/null; umount '$MNT'"
	ENVD_FSFREEZE_PATH=$MNT start_envd
	ok $? "daemon with the scratch file system as fsfreeze target"
	is "$(req POST /fsfreeze)" 204 "POST /fsfreeze: 204"
	! fsfreeze -f "$MNT" 2>/dev/null
	ok $? "the file system is frozen (a second FIFREEZE is busy)"
	is "$(req POST /fsfreeze)" 204 "already frozen counts as success"
	(echo data >"$MNT/after") &
	writer=$!
	sleep 0.3
	kill -0 "$writer" 2>/dev/null
	ok $? "a write waits while frozen"
	is "$(req POST /fsthaw)" 204 "POST /fsthaw: 204"
	wait "$writer"
	is "$(cat "$MNT/after")" data "the write completes after the thaw"
	! fsfreeze -u "$MNT" 2>/dev/null
	ok $? "thawed (FITHAW is refused: not frozen)"
	is "$(req POST /fsthaw)" 204 "not frozen counts as success"
	stop_envd
else
	echo "# no mkfs.ext4/fsfreeze or loop mount: FIFREEZE success paths not run"
fi
# A file system without freeze support answers 500 with the ioctl's error.
mkdir -p "$TEST_TMP/tmpfs"
if mount -t tmpfs none "$TEST_TMP/tmpfs" 2>/dev/null; then
	cleanup_fn "umount '$TEST_TMP/tmpfs'"
	ENVD_FSFREEZE_PATH=$TEST_TMP/tmpfs start_envd
	is "$(req POST /fsfreeze)" 500 "FIFREEZE on tmpfs: 500"
	is "$(body)" "{\"code\":500,\"message\":\"FIFREEZE $TEST_TMP/tmpfs: operation not supported\"}" \
	    "the error names the ioctl, the path and the errno"
	stop_envd
fi
ENVD_FSFREEZE_PATH=/nonexistent-$$ start_envd
is "$(req POST /fsthaw)" 500 "missing target: 500"
is "$(body)" "{\"code\":500,\"message\":\"open /nonexistent-$$: no such file or directory\"}" \
    "open error"
stop_envd

done_testing
