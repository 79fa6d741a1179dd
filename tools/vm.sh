#!/usr/bin/env bash
# vm.sh - boot the template image (packaging/image/build.sh) in a KVM
# microVM, stop it, snapshot it to a file and restore it.
#
# Usage:
#   tools/vm.sh start    -d RUNDIR [-i IMAGEDIR] [-p PORT]
#   tools/vm.sh stop     -d RUNDIR
#   tools/vm.sh snapshot -d RUNDIR SNAPDIR
#   tools/vm.sh restore  -d RUNDIR [-p PORT] SNAPDIR
#   tools/vm.sh probe    -d RUNDIR [-i IMAGEDIR]
#
# start boots IMAGEDIR's vmlinuz and initrd.img directly, with a fresh
# copy-on-write overlay (RUNDIR/disk.qcow2) over IMAGEDIR/rootfs.ext4, so
# the image itself is never written and every boot starts clean. The guest
# has a virtio disk and a virtio NIC on QEMU's user-mode network with
# restrict=on: it reaches nothing outside, and only envd's port 49983 is
# forwarded, to 127.0.0.1:PORT (default: a free port). The serial console
# goes to RUNDIR/serial.log. start returns once GET /health answers 204
# and prints "health after N ms" and "url http://127.0.0.1:PORT".
#
# snapshot pauses the guest, writes its memory and device state to
# SNAPDIR/state (a QEMU migration stream) and the disk to SNAPDIR/disk.qcow2,
# then ends QEMU. restore starts QEMU from a copy of that disk with
# -incoming, resumes the guest and waits for /health again, like start;
# a snapshot can be restored many times.
#
# stop powers the guest off (ACPI), ends QEMU after STOP_TIMEOUT seconds at
# the latest and removes the overlay: no process or disk is left; RUNDIR
# keeps serial.log and qemu.log.
#
# probe exits 0 when KVM boots IMAGEDIR's kernel (its banner on the serial
# console within 10 s), else 1 with the reason.
#
# Environment: ENVD_VM_ACCEL (kvm, or tcg: emulation, q35, much slower),
# ENVD_VM_IMAGE (IMAGEDIR, default /var/cache/envd-c/image/out),
# ENVD_VM_CPUS (2), ENVD_VM_MEM (1024, MiB), ENVD_VM_MACHINE (microvm or
# q35), ENVD_VM_TIMEOUT (seconds to wait for /health, default 60),
# ENVD_VM_APPEND (extra kernel arguments). Needs /dev/kvm, qemu-system-x86,
# qemu-utils, curl and python3.

set -euo pipefail

me=$(basename "$0")
image=${ENVD_VM_IMAGE:-/var/cache/envd-c/image/out}
cpus=${ENVD_VM_CPUS:-2}
mem=${ENVD_VM_MEM:-1024}
accel=${ENVD_VM_ACCEL:-kvm}
if [ "$accel" = tcg ]; then
	machine=${ENVD_VM_MACHINE:-q35}
	cpu=${ENVD_VM_CPU:-max}
else
	machine=${ENVD_VM_MACHINE:-microvm}
	cpu=${ENVD_VM_CPU:-host,-arch-capabilities}
fi
timeout=${ENVD_VM_TIMEOUT:-60}
stop_timeout=${STOP_TIMEOUT:-20}
rundir=
port=

usage() {
	sed -n '2,40s/^# \{0,1\}//p' "$0"
}

die() {
	echo "$me: $*" >&2
	exit 1
}

# qmp RUNDIR COMMAND [ARGS-JSON]: one QMP command; prints its "return"
# as JSON, or fails with QMP's error.
qmp() {
	python3 - "$1/qmp.sock" "$2" "${3:-}" <<'EOF'
import json, socket, sys
path, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(path)
f = s.makefile("rw")
def call(c, a=None):
    msg = {"execute": c}
    if a:
        msg["arguments"] = a
    f.write(json.dumps(msg) + "\n")
    f.flush()
    while True:
        line = f.readline()
        if not line:
            sys.exit("qmp: connection closed")
        r = json.loads(line)
        if "return" in r:
            return r["return"]
        if "error" in r:
            sys.exit("qmp: %s: %s" % (c, r["error"].get("desc")))
json.loads(f.readline())  # greeting
call("qmp_capabilities")
print(json.dumps(call(cmd, json.loads(args) if args else None)))
EOF
}

qemu_pid() {
	local pid
	pid=$(cat "$rundir/qemu.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# free_port: a port nothing listens on now, from the kernel.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now_ms() { date +%s%3N; }

# wait_health T0_MS: until /health answers 204; prints the time since T0.
wait_health() {
	local t0=$1 deadline code
	deadline=$(($(now_ms) + timeout * 1000))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		qemu_pid >/dev/null || {
			tail -20 "$rundir/serial.log" >&2 2>/dev/null
			die "QEMU ended before /health answered (see $rundir)"
		}
		code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' \
		    "http://127.0.0.1:$port/health" 2>/dev/null) || :
		if [ "$code" = 204 ]; then
			echo "health after $(($(now_ms) - t0)) ms"
			echo "url http://127.0.0.1:$port"
			return 0
		fi
		sleep 0.02
	done
	tail -20 "$rundir/serial.log" >&2 2>/dev/null
	die "no /health 204 within $timeout s (see $rundir/serial.log)"
}

# launch [QEMU ARGS...]: start QEMU in the background on RUNDIR/disk.qcow2.
launch() {
	local blk net
	[ "$accel" = tcg ] || kvm_open || die "/dev/kvm is not usable"
	for f in vmlinuz initrd.img rootfs.ext4; do
		[ -f "$image/$f" ] || die "no $image/$f (packaging/image/build.sh)"
	done
	if qemu_pid >/dev/null; then
		die "a VM already runs in $rundir"
	fi
	[ -n "$port" ] || port=$(free_port)
	case $machine in
	microvm)
		blk=virtio-blk-device
		net=virtio-net-device
		machine_arg=microvm,accel=$accel,isa-serial=on,rtc=on
		;;
	q35)
		blk=virtio-blk-pci
		net=virtio-net-pci
		machine_arg=q35,accel=$accel
		;;
	*) die "ENVD_VM_MACHINE must be microvm or q35" ;;
	esac
	echo "$port" >"$rundir/port"
	rm -f "$rundir/qmp.sock" "$rundir/qemu.pid"
	qemu-system-x86_64 -name envd-vm -M "$machine_arg" -cpu "$cpu" \
	    -smp "$cpus" -m "$mem" -nodefaults -no-user-config \
	    -display none -no-reboot \
	    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
	    -append "console=ttyS0 root=/dev/vda rw quiet panic=-1 ${ENVD_VM_APPEND:-}" \
	    -serial "file:$rundir/serial.log" \
	    -drive "id=root,file=$rundir/disk.qcow2,format=qcow2,if=none,cache=unsafe" \
	    -device "$blk,drive=root" \
	    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:49983" \
	    -device "$net,netdev=n0" \
	    -qmp "unix:$rundir/qmp.sock,server=on,wait=off" \
	    -pidfile "$rundir/qemu.pid" -daemonize "$@" \
	    >>"$rundir/qemu.log" 2>&1 ||
	    { cat "$rundir/qemu.log" >&2; die "QEMU did not start"; }
}

kvm_open() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# A /dev/kvm that opens may still not run a stock kernel (a nested
# hypervisor that only takes its own guest kernels): the kernel must print
# its banner on the serial console within 10 s.
cmd_probe() {
	local pid i log=$rundir/probe.log
	kvm_open || die "/dev/kvm is missing or not readable and writable"
	[ -f "$image/vmlinuz" ] || die "no $image/vmlinuz"
	rm -f "$log"
	qemu-system-x86_64 -M "microvm,accel=kvm,isa-serial=on" -cpu "$cpu" \
	    -m 256 -nodefaults -no-user-config -display none -no-reboot \
	    -kernel "$image/vmlinuz" -append "console=ttyS0 panic=-1" \
	    -serial "file:$log" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -aq 'Linux version' "$log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
	grep -aq 'Linux version' "$log" 2>/dev/null ||
	    die "KVM does not boot a stock kernel here (no banner in 10 s)"
	rm -f "$log"
	echo "kvm usable"
}

cmd_start() {
	local t0
	mkdir -p "$rundir"
	image=$(cd "$image" && pwd)
	rm -f "$rundir/disk.qcow2" "$rundir/serial.log"
	qemu-img create -q -f qcow2 -F raw -b "$image/rootfs.ext4" \
	    "$rundir/disk.qcow2"
	t0=$(now_ms)
	trap abandon EXIT
	launch
	wait_health "$t0"
	trap - EXIT
}

# abandon: on a failed start, end QEMU and remove the overlay.
abandon() {
	local pid
	if pid=$(qemu_pid); then
		kill "$pid" 2>/dev/null || :
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	fi
	rm -f "$rundir/disk.qcow2" "$rundir/qmp.sock" "$rundir/qemu.pid" \
	    "$rundir/port"
}

cmd_stop() {
	local pid i
	if pid=$(qemu_pid); then
		qmp "$rundir" system_powerdown >/dev/null 2>&1 || :
		for ((i = 0; i < stop_timeout * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "$me: no power-off within $stop_timeout s, ending QEMU" >&2
			qmp "$rundir" quit >/dev/null 2>&1 || kill "$pid" 2>/dev/null || :
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || :
		fi
	fi
	rm -f "$rundir/disk.qcow2" "$rundir/qmp.sock" "$rundir/qemu.pid" \
	    "$rundir/port"
}

# wait_migration RUNDIR: until QMP reports the migration done.
wait_migration() {
	local st i
	for ((i = 0; i < timeout * 20; i++)); do
		st=$(qmp "$1" query-migrate | python3 -c \
		    'import json,sys; print(json.load(sys.stdin).get("status", "none"))')
		case $st in
		completed) return 0 ;;
		failed|cancelled) die "migration $st" ;;
		esac
		sleep 0.05
	done
	die "migration not done within $timeout s"
}

cmd_snapshot() {
	local snap=$1 pid t0
	pid=$(qemu_pid) || die "no VM runs in $rundir"
	mkdir -p "$snap"
	snap=$(cd "$snap" && pwd)
	rm -f "$snap/state" "$snap/disk.qcow2"
	t0=$(now_ms)
	qmp "$rundir" stop >/dev/null
	qmp "$rundir" migrate \
	    "{\"uri\":\"exec:cat >$snap/state.tmp\"}" >/dev/null
	wait_migration "$rundir"
	qmp "$rundir" quit >/dev/null 2>&1 || :
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	mv "$snap/state.tmp" "$snap/state"
	mv "$rundir/disk.qcow2" "$snap/disk.qcow2"
	rm -f "$rundir/qmp.sock" "$rundir/qemu.pid" "$rundir/port"
	echo "snapshot in $(($(now_ms) - t0)) ms: $snap" \
	    "($(du -h "$snap/state" | cut -f1) state)"
}

cmd_restore() {
	local snap=$1 t0 i st
	[ -f "$snap/state" ] && [ -f "$snap/disk.qcow2" ] ||
	    die "no snapshot in $snap"
	snap=$(cd "$snap" && pwd)
	mkdir -p "$rundir"
	t0=$(now_ms)
	trap abandon EXIT
	cp --sparse=always "$snap/disk.qcow2" "$rundir/disk.qcow2"
	launch -incoming "exec:cat $snap/state"
	for ((i = 0; i < timeout * 20; i++)); do
		st=$(qmp "$rundir" query-status | python3 -c \
		    'import json,sys; print(json.load(sys.stdin)["status"])')
		[ "$st" = inmigrate ] || break
		sleep 0.02
	done
	[ "$st" = paused ] || [ "$st" = running ] ||
	    die "guest is $st after loading the snapshot"
	[ "$st" = running ] || qmp "$rundir" cont >/dev/null
	wait_health "$t0"
	trap - EXIT
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
cmd=$1
shift
args=()
while [ $# -gt 0 ]; do
	case $1 in
	-h|--help) usage; exit 0 ;;
	-d) [ $# -ge 2 ] || die "-d needs a value"; rundir=$2; shift ;;
	-i) [ $# -ge 2 ] || die "-i needs a value"; image=$2; shift ;;
	-p) [ $# -ge 2 ] || die "-p needs a value"; port=$2; shift ;;
	-*) die "unknown option $1" ;;
	*) args+=("$1") ;;
	esac
	shift
done
[ -n "$rundir" ] || die "-d RUNDIR is required"
mkdir -p "$rundir"
rundir=$(cd "$rundir" && pwd)

case $cmd in
probe) cmd_probe ;;
start) [ ${#args[@]} -eq 0 ] || die "start takes no arguments"; cmd_start ;;
stop) cmd_stop ;;
snapshot) [ ${#args[@]} -eq 1 ] || die "snapshot SNAPDIR"; cmd_snapshot "${args[0]}" ;;
restore) [ ${#args[@]} -eq 1 ] || die "restore SNAPDIR"; cmd_restore "${args[0]}" ;;
*) die "unknown command $cmd (start, stop, snapshot, restore)" ;;
esac
