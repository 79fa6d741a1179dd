#!/usr/bin/env bash
# /init volumeMounts (spec/firecracker.md §9, upstream-0.9.md §3.7): the
# exact helper argv (findmnt, umount, mkdir, mount with upstream's options
# and retry=0), the lifecycleID ledger (same life: skip; new life: force
# unmount, lazy on failure, then mount), 500 ms retries within the 10 s
# budget and the 400 text, the process-group kill of a hung helper, the
# helpers' environment, and the "run in progress: skip NFS, answer 204"
# quirk. The kernel cannot mount NFS here, so findmnt, umount and mount are
# fakes on the daemon's PATH that log their argv and keep a mount table.
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version

FAKE=$TEST_TMP/fakebin
ST=$TEST_TMP/fakestate
MNT=$TEST_TMP/mnt
mkdir -p "$FAKE" "$ST"
: >"$ST/log"
: >"$ST/table"
OPTS=fg,hard,sync,rsize=1048576,wsize=1048576,mountproto=tcp,mountport=2049,proto=tcp,port=2049,nfsvers=3,noacl,noac,lookupcache=none,retry=0

# Each fake appends "NAME ARGS..." to $ST/log.
cat >"$FAKE/findmnt" <<EOS
#!/bin/sh
echo "findmnt \$*" >>"$ST/log"
p=\$4
grep -qxF -- "\$p" "$ST/table" || exit 1
echo "192.0.2.1:/vol"
EOS
cat >"$FAKE/umount" <<EOS
#!/bin/sh
echo "umount \$*" >>"$ST/log"
[ "\$1" = --force ] && [ -e "$ST/force-fails" ] && exit 32
grep -vxF -- "\$2" "$ST/table" >"$ST/table.new"
mv "$ST/table.new" "$ST/table"
EOS
cat >"$FAKE/mount" <<EOS
#!/bin/sh
echo "mount \$*" >>"$ST/log"
env >"$ST/env"
if [ -e "$ST/hang" ]; then
	sleep 300 &
	echo \$! >"$ST/grandchild"
	wait
fi
n=\$(cat "$ST/fail" 2>/dev/null || echo 0)
if [ "\$n" != 0 ]; then
	[ "\$n" = always ] || echo \$((n - 1)) >"$ST/fail"
	echo "mount.nfs: Connection refused" >&2
	exit 32
fi
echo "\$7" >>"$ST/table"
EOS
chmod +x "$FAKE"/*

post_init() {
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
	    -X POST "$ENVD_URL/init" -H 'Content-Type: application/json' \
	    --data-binary "$1" "${@:2}"
}
vol_body() { # vol_body LIFECYCLE PATH...
	local life=$1 p v=""
	shift
	for p; do
		v="$v${v:+,}{\"nfs_target\":\"192.0.2.1:/$(basename "$p")\",\"path\":\"$p\"}"
	done
	printf '{"lifecycleID":"%s","volumeMounts":[%s]}' "$life" "$v"
}
logged() { cat "$ST/log"; }
reset_log() { : >"$ST/log"; }

PATH=$FAKE:$PATH start_envd
ok $? "envd starts with the fake helpers on its PATH"

# --- first mount ---------------------------------------------------------------
A=$MNT/a
is "$(post_init "$(vol_body L1 "$A")")" 204 "volumeMounts: 204"
is "$(logged)" "findmnt --noheadings --output SOURCE $A
mount -v -t nfs -o $OPTS 192.0.2.1:/a $A" "findmnt, then mount with upstream's exact argv"
ok "$([ -d "$A" ]; echo $?)" "mkdir -p created the mount point"
is "$(cut -d= -f1 "$ST/env" | grep -v '^PWD$\|^SHLVL$\|^_$' | sort | tr '\n' ' ')" \
    "PATH " "helpers get PATH and nothing else from the daemon"

# --- same lifecycle: skipped -------------------------------------------------------
reset_log
is "$(post_init "$(vol_body L1 "$A")")" 204 "same lifecycleID: 204"
is "$(logged)" "" "same lifecycleID: no helper runs"

# --- new lifecycle: force unmount, then mount ------------------------------------
reset_log
is "$(post_init "$(vol_body L2 "$A")")" 204 "new lifecycleID: 204"
is "$(logged)" "findmnt --noheadings --output SOURCE $A
umount --force $A
mount -v -t nfs -o $OPTS 192.0.2.1:/a $A" "new lifecycleID: umount --force, then mount"

# --- force fails: lazy -------------------------------------------------------------
reset_log
touch "$ST/force-fails"
is "$(post_init "$(vol_body L3 "$A")")" 204 "umount --force fails: still 204"
is "$(logged)" "findmnt --noheadings --output SOURCE $A
umount --force $A
umount --lazy $A
mount -v -t nfs -o $OPTS 192.0.2.1:/a $A" "umount --lazy after a failed --force"
rm -f "$ST/force-fails"

# --- two volumes, retries ---------------------------------------------------------
reset_log
B=$MNT/b
C=$MNT/c
echo 2 >"$ST/fail"
t0=$(date +%s%N)
is "$(post_init "$(vol_body L4 "$B" "$C")")" 204 "mount fails twice, then succeeds: 204"
t1=$(date +%s%N)
is "$(grep -c "^mount .* $B\$" "$ST/log")" 3 "three mount attempts for the first volume"
is "$(grep -c "^mount .* $C\$" "$ST/log")" 1 "one for the second"
ok "$([ $(((t1 - t0) / 1000000)) -ge 1000 ]; echo $?)" \
    "the two retries waited 500 ms each"

# --- always fails: 400 after the budget ---------------------------------------------
reset_log
echo always >"$ST/fail"
D=$MNT/d
is "$(post_init "$(vol_body L5 "$D")" -m 30)" 400 "mount never succeeds: 400"
n=$(grep -c '^mount ' "$ST/log")
ok "$([ "$n" -ge 10 ] && [ "$n" -le 21 ]; echo $?)" \
    "retried every 500 ms within 10 s ($n attempts)"
is "$(cat "$TEST_TMP/body")" "failed to setup NFS volumes: failed to mount NFS at \"$D\": after $n attempts: \`mount -v -t nfs -o $OPTS 192.0.2.1:/d $D\` failed: exit status 32
mount.nfs: Connection refused" "400 text: path, attempts, argv, exit status and output"
rm -f "$ST/fail"

# --- hung helper: process-group kill; a second /init skips NFS --------------------
reset_log
touch "$ST/hang"
E=$MNT/e
F=$MNT/f
post_init "$(vol_body L6 "$E")" -m 1 >/dev/null
t0=$(date +%s%N)
is "$(post_init "$(vol_body L7 "$F")" -m 5)" 204 \
    "a run in progress (its client gone): the next /init skips NFS, 204"
t1=$(date +%s%N)
ok "$([ $(((t1 - t0) / 1000000)) -lt 4000 ]; echo $?)" "and does not wait for it"
ok "$(! grep -q " $F\$" "$ST/log"; echo $?)" "nothing was mounted for the skipped /init"
for i in $(seq 1 150); do
	grep -qF "$E\\\": after" "$ENVD_LOG" && break
	sleep 0.1
done
like "$(cat "$ENVD_LOG")" "failed to mount NFS at .*$E.*: after 1 attempts: .* failed: signal: killed" \
    "the hung mount is killed at the 10 s budget"
gc=$(cat "$ST/grandchild")
for i in $(seq 1 50); do kill -0 "$gc" 2>/dev/null || break; sleep 0.1; done
ok "$(! kill -0 "$gc" 2>/dev/null; echo $?)" "its child died with it (whole process group)"
rm -f "$ST/hang"

reset_log
is "$(post_init "$(vol_body L8 "$E")")" 204 "after the kill a new run mounts again"
like "$(logged)" "mount -v -t nfs -o $OPTS 192.0.2.1:/e $E" "the volume is mounted"

stop_envd
done_testing
