#!/usr/bin/env bash
# gzip upload bodies are inflated in slices: a small body that inflates to
# gigabytes (a gzip bomb) does not stall the daemon or grow its memory, it
# gets the full-disk error where the disk is small, and ordinary gzip
# uploads of every shape still arrive byte for byte.
. "$(dirname "$0")/../functions.sh"
requires python3 --version
GZ="python3 $(dirname "$0")/gzbomb.py"

start_envd
ok $? "daemon starts"
D=$TEST_TMP/d
mkdir -p "$D"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$ENVD_PID/status"; }
base=$(rss)

# 16 members of 64 MiB of zeros: 1 GiB from about 1 MiB on the wire. Before
# slicing, each read of the body was inflated whole on the loop and /health
# waited seconds (2.3 to 5 s measured); sliced, it waits milliseconds (the
# bar leaves room for a loaded machine).
out=$($GZ bomb "$ENVD_PORT" "$ENVD_PID" /dev/null 16)
read -r st hmax hn peak p99 <<<"$(head -1 <<<"$out")"
echo "# 1 GiB bomb into /dev/null: status $st, /health max ${hmax} ms p99 ${p99} ms over $hn answers, daemon RSS peak $peak KiB (at start $base KiB)"
is "$st" 200 "gzip bomb into /dev/null: 200"
[ "$hn" -ge 20 ] && [ "$hmax" -lt 500 ]
ok $? "... /health answered throughout (max ${hmax} ms < 500 ms, $hn answers)"
[ "$peak" -lt $((base + 32 * 1024)) ]
ok_rss $? "... daemon RSS stays bounded (peak $peak KiB, start $base KiB)"

# Where the inflated bytes do not fit: the full-disk error of the spec.
small=$TEST_TMP/small
mkdir -p "$small"
if mount -t tmpfs -o size=8m tmpfs "$small" 2>/dev/null; then
	cleanup_fn "umount $small 2>/dev/null"
	out=$($GZ bomb "$ENVD_PORT" "$ENVD_PID" "$small/f" 16)
	read -r st hmax hn peak p99 <<<"$(head -1 <<<"$out")"
	is "$st" 507 "gzip bomb onto an 8 MiB disk: 507"
	like "$(tail -1 <<<"$out")" '^\{"code":507,"message":"attempted to write [0-9]+ bytes: not enough disk space available"\}$' \
	    "... with the full-disk message"
	is "$(ls -A "$small" | tr '\n' ' ')" "" "... and nothing left on the disk"
	[ "$peak" -lt $((base + 32 * 1024)) ]
	ok_rss $? "... daemon RSS stays bounded (peak $peak KiB)"
	umount "$small"
else
	for i in 1 2 3 4; do ok 0 "# SKIP cannot mount tmpfs"; done
fi

# Ordinary gzip uploads: random data, and compressible data that takes
# many slices per read (so the body is paused and resumed many times).
head -c 3M /dev/urandom >"$D/random"
python3 -c '
import os, sys
blk = os.urandom(4096)
with open(sys.argv[1], "wb") as f:
    for i in range(12000):
        f.write(blk if i % 7 else os.urandom(4096))
' "$D/text"
for src in random text; do
	for how in raw multipart chunked; do
		is "$($GZ file "$ENVD_PORT" "$D/$src.$how" "$D/$src" "$how")" 200 \
		    "gzip upload ($src, $how): 200"
		cmp -s "$D/$src" "$D/$src.$how"
		ok $? "... byte-exact"
	done
done
is "$(ls -A "$D" | grep -c envd-upload)" 0 "no temporary files left"

# Connect unary bodies inflate to at most CONNECT_MAX_MESSAGE (8 MiB).
mkjson() {
	python3 -c '
import gzip, sys
n = int(sys.argv[1])
doc = b"{\"path\":\"/\"}"
sys.stdout.buffer.write(gzip.compress(doc + b" " * (n - len(doc)), 9))
' "$1" >"$D/connect.gz"
}
stat_gz() {
	curl -s -o "$D/connect.out" -w '%{http_code}' -H 'Content-Type: application/json' \
	    -H 'Content-Encoding: gzip' --data-binary @"$D/connect.gz" \
	    "$ENVD_URL/filesystem.Filesystem/Stat"
}
mkjson $((8 * 1024 * 1024))
is "$(stat_gz)" 200 "Connect gzip body inflating to exactly 8 MiB: 200"
mkjson $((8 * 1024 * 1024 + 1))
is "$(stat_gz)" 429 "Connect gzip body inflating to 8 MiB + 1: 429"
like "$(cat "$D/connect.out")" '"code":"resource_exhausted".*larger than 8388608 bytes' \
    "... resource_exhausted, message is larger than 8388608 bytes"
mkjson $((1024 * 1024 * 1024))
is "$(stat_gz)" 429 "Connect gzip bomb (1 GiB): 429"
[ "$(rss)" -lt $((base + 32 * 1024)) ]
ok_rss $? "... daemon RSS stays bounded ($(rss) KiB)"
is "$(http_status "$ENVD_URL/health")" 204 "daemon healthy afterwards"

stop_envd
done_testing
