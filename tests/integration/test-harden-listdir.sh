#!/usr/bin/env bash
# ListDir of huge directories: a walk's memory is capped (over the cap:
# internal "too many entries"), concurrent walks take turns instead of
# adding up, and the memory goes back to the kernel afterwards.
. "$(dirname "$0")/../functions.sh"
requires python3 --version

T=$TEST_TMP/t
mkdir -p "$T"
if ! mount -t tmpfs -o size=64m,nr_inodes=400k tmpfs "$T" 2>/dev/null; then
	echo "1..0 # SKIP cannot mount tmpfs"
	exit 0
fi
cleanup_fn "umount $T 2>/dev/null"
python3 -c '
import os, sys
for d, n in (("some", 100000), ("many", 200000)):
    p = os.path.join(sys.argv[1], d)
    os.mkdir(p)
    for i in range(n):
        os.close(os.open("%s/file-%06d" % (p, i), os.O_CREAT | os.O_WRONLY, 0o644))
' "$T"

start_envd
ok $? "daemon starts"
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$ENVD_PID/status"; }
peak_reset() { echo 5 >"/proc/$ENVD_PID/clear_refs"; }
list() {
	curl -s -o "$TEST_TMP/list.$2" -w '%{http_code}' -H 'Content-Type: application/json' \
	    -d "{\"path\":\"$T/$1\",\"depth\":1}" "$ENVD_URL/filesystem.Filesystem/ListDir"
}
settle() {
	# The memory goes back shortly after the answers (memtrim: 1 s).
	local i
	for i in $(seq 1 80); do
		[ "$(rss VmRSS)" -lt $((base + 16 * 1024)) ] && break
		sleep 0.05
	done
}
base=$(rss VmRSS)

is "$(list some 0)" 200 "ListDir of 100000 files: 200"
is "$(grep -o '"name":' "$TEST_TMP/list.0" | wc -l)" 100000 "... all 100000 entries"
is "$(list many 0)" 500 "ListDir of 200000 files: over the cap"
is "$(head -c 400 "$TEST_TMP/list.0")" \
    "{\"code\":\"internal\",\"message\":\"error reading directory $T/many: too many entries (more than 64 MiB)\"}" \
    "... internal: too many entries"
settle
echo "# at start $base KiB; after two listings $(rss VmRSS) KiB (peak $(rss VmHWM) KiB)"

for dir in many some; do
	peak_reset
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		list "$dir" "$i" >"$TEST_TMP/st.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	want=$([ "$dir" = many ] && echo 500 || echo 200)
	is "$(cat "$TEST_TMP"/st.* | tr -d '\n')" "$(printf "$want%.0s" 1 2 3 4 5 6 7 8)" \
	    "8 concurrent ListDir of $dir: all $want"
	peak=$(rss VmHWM)
	settle
	after=$(rss VmRSS)
	echo "# 8 concurrent ListDir of $dir: peak RSS $peak KiB, $after KiB after (start $base KiB)"
	# Two walks of at most 64 MiB of entries run at once (about 82 MiB
	# each, as malloc holds them); the arena of a finished one must not
	# stay resident while the next fills another worker's.
	[ "$peak" -lt $((base + 192 * 1024)) ]
	ok_rss $? "... peak RSS bounded: $peak KiB < start + 192 MiB"
	[ "$after" -lt $((base + 16 * 1024)) ]
	ok_rss $? "... memory given back: $after KiB < start + 16 MiB"
	rm -f "$TEST_TMP"/st.*
done
is "$(http_status "$ENVD_URL/health")" 204 "daemon healthy afterwards"

stop_envd
done_testing
