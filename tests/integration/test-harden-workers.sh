#!/usr/bin/env bash
# The worker threads and the children: compose sources that would block a
# read (a FIFO, /proc/kmsg) are refused or fail at once and never starve
# the pool, a failed compose leaves no temporary file, SIGTERM exits within
# a second while workers are busy, and children get the descriptor limit
# the daemon was started with, not its raised one.
. "$(dirname "$0")/../functions.sh"
. "$(dirname "$0")/proc-lib.sh"
requires curl --version
requires jq --version
requires python3 --version
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }

W=$TEST_TMP/w
mkdir -p "$W/out"

# compose JSON [CURL ARGS...]: POST /files/compose; status, body in c.body.
compose() {
	curl -s -m 5 -o "$TEST_TMP/c.body" -w '%{http_code}' \
	    -X POST "$ENVD_URL/files/compose" "${@:2}" \
	    -H 'Content-Type: application/json' --data-binary "$1"
}
# fsrpc METHOD JSON: a unary Filesystem call; status, body in fs.body.
fsrpc() {
	curl -s -m 5 -o "$TEST_TMP/fs.body" -w '%{http_code}' \
	    -X POST "$ENVD_URL/filesystem.Filesystem/$1" \
	    -H 'Content-Type: application/json' --data-binary "$2"
}
pids=()
tmps() { find "$W" -name '*.e2b-compose.*.tmp' | wc -l; }

# The daemon starts with a soft limit below its hard one (and raises it).
ulimit -Sn 1024 && ulimit -Hn 4096
ok $? "test shell limited to 1024:4096 descriptors"
start_envd
ok $? "daemon starts"
is "$(awk '/Max open files/ { print $4 }' "/proc/$ENVD_PID/limits")" 4096 \
    "the daemon raised its soft limit to the hard one"

# --- children get the original soft limit ---------------------------------
run n '{"process":{"cmd":"/bin/sh","args":["-c","ulimit -Sn; ulimit -Hn"]}}'
is "$(output n stdout)" $'1024\n4096' \
    "a child sees the daemon's original soft limit (1024), hard 4096"
run n '{"process":{"cmd":"/bin/sh","args":["-c","ulimit -Sn"],"cwd":"/tmp"}}'
is "$(output n stdout)" 1024 "the same with a working directory"
# The child shares the daemon's descriptors until exec: with more of them
# than 1024 open, what it opens before exec (oom_score_adj) must not come
# after the lower limit.
CL="python3 $(dirname "$0")/connload.py"
$CL hold "$ENVD_PORT" 1100 8 idle >"$TEST_TMP/hold" &
holdpid=$!
wait_line "$TEST_TMP/hold" '^held'
n=$(ls "/proc/$ENVD_PID/fd" | wc -l)
ok $([ "$n" -gt 1100 ]; echo $?) "the daemon holds more than 1024 descriptors ($n)"
run n '{"process":{"cmd":"/bin/sh","args":["-c","cat /proc/self/oom_score_adj; ulimit -Sn"]}}'
is "$(output n stdout)" $'100\n1024' \
    "its child still gets oom_score_adj 100, then the soft limit 1024"
kill "$holdpid" 2>/dev/null
wait "$holdpid" 2>/dev/null

# --- blocking compose sources ----------------------------------------------
printf A >"$W/a"
mkfifo "$W/fifo"
for i in 1 2 3 4; do
	compose '{"source_paths":["'"$W"'/fifo"],"destination":"'"$W"'/out/f'$i'"}' \
	    >"$TEST_TMP/fifo$i" &
	pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
	is "$(cat "$TEST_TMP/fifo$i")" 400 "FIFO source $i: 400"
done
is "$(jq -c . "$TEST_TMP/c.body")" \
    "{\"code\":400,\"message\":\"source path is not a regular file: $W/fifo\"}" \
    "FIFO source: the spec's error"

# /proc/kmsg is a regular file of size 0 whose read blocks: four of them
# used to hold all four pool threads for ever.
pids=()
if head -c 0 /proc/kmsg 2>/dev/null; then
	for i in 1 2 3 4; do
		compose '{"source_paths":["'"$W"'/a","/proc/kmsg"],"destination":"'"$W"'/out/k'$i'"}' \
		    >"$TEST_TMP/kmsg$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in 1 2 3 4; do
		is "$(cat "$TEST_TMP/kmsg$i")" 500 "/proc/kmsg source $i: an error at once"
	done
	like "$(jq -r .message "$TEST_TMP/c.body")" \
	    '^error composing source /proc/kmsg: read /proc/kmsg: ' \
	    "/proc/kmsg source: says which read failed"
	ls "$W/out/k1" >/dev/null 2>&1
	ok $((!$?)) "a failed compose leaves the destination absent"
else
	ok 0 "# SKIP /proc/kmsg not readable"
fi
is "$(tmps)" 0 "no temporary file left by failed composes"

# The pool is still free for everything that uses it.
printf B >"$W/b"
is "$(compose '{"source_paths":["'"$W"'/a","'"$W"'/b"],"destination":"'"$W"'/out/ab"}')" \
    200 "compose still works"
is "$(cat "$W/out/ab" 2>/dev/null)" AB "compose: concatenated"
mkdir -p "$W/d/e/f/g"
is "$(fsrpc ListDir '{"path":"'"$W"'/d","depth":10}')" 200 "deep ListDir still works"
is "$(jq '.entries | length' "$TEST_TMP/fs.body")" 3 "deep ListDir: 3 entries"
is "$(fsrpc Remove '{"path":"'"$W"'/d"}')" 200 "Remove still works"
ok $([ ! -e "$W/d" ]; echo $?) "Remove removed"
enc '{"path":"'"$W"'/out","recursive":true}' >"$TEST_TMP/watch.req"
curl -s -N -m 3 -o "$TEST_TMP/watch.out" \
    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/watch.req"
like "$(head -c 17 "$TEST_TMP/watch.out" | tr -d "\\0")" '"start"' \
    "recursive WatchDir still starts"

# --- SIGTERM while the workers are busy -------------------------------------
# A tree large enough that listing it takes the pool a while.
python3 - "$W/big" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(200):
    d = os.path.join(root, "d%03d" % i)
    os.makedirs(d)
    for j in range(500):
        open(os.path.join(d, "f%03d" % j), "w").close()
EOF
pids=()
for i in $(seq 1 12); do
	fsrpc ListDir '{"path":"'"$W"'/big","depth":100}' >/dev/null &
	pids+=($!)
done
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$ENVD_PID"
for i in $(seq 1 100); do
	kill -0 "$ENVD_PID" 2>/dev/null || break
	sleep 0.02
done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if kill -0 "$ENVD_PID" 2>/dev/null; then
	ok 1 "SIGTERM with busy workers: still running after ${ms} ms"
	kill -9 "$ENVD_PID"
	wait "$ENVD_PID"
else
	wait "$ENVD_PID"
	is "$?" 0 "SIGTERM with busy workers: exit status 0"
	ok $([ "$ms" -le 1000 ]; echo $?) "SIGTERM with busy workers: gone in ${ms} ms"
fi
ENVD_PID=
wait "${pids[@]}"
done_testing
