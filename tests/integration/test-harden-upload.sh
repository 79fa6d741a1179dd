#!/usr/bin/env bash
# Uploads that end badly: a client that hangs up in the middle of its body
# (every shape) leaves no temporary file, descriptor or socket behind.
. "$(dirname "$0")/../functions.sh"
requires python3 --version
requires ss --version
UP="python3 $(dirname "$0")/upload-abort.py"

start_envd
ok $? "daemon starts"
D=$TEST_TMP/d
mkdir -p "$D"
nfd() { ls "/proc/$ENVD_PID/fd" | wc -l; }
socks() { ss -Htan "( sport = :$ENVD_PORT )" state established state close-wait | wc -l; }
base=$(nfd)

for shape in raw multipart gzip chunked bomb; do
	$UP abort "$ENVD_PORT" "$D" "$shape"
	# Within about a second everything is gone; the bomb's bytes already
	# taken in are inflated first (a few seconds in a sanitizer build).
	n=20
	[ "$shape" = bomb ] && n=40
	envd_sanitized && n=$((n * 5))
	for i in $(seq 1 "$n"); do
		left=$(ls -A "$D" | wc -l)
		[ "$left" = 0 ] && [ "$(nfd)" = "$base" ] && [ "$(socks)" = 0 ] && break
		sleep 0.05
	done
	is "$(ls -A "$D" | tr '\n' ' ')" "" "$shape upload aborted: no temporary file left"
	is "$(nfd)" "$base" "... and the daemon's descriptors are back to $base"
	is "$(socks)" 0 "... and its socket is closed"
done

is "$($UP half "$ENVD_PORT" "$D/half")" 200 \
    "a whole body followed by a half-close is still answered"
is "$(stat -c %s "$D/half" 2>/dev/null)" 600000 "... and written"
# A gzip body is paused while its slices are inflated; a half-close then
# is the end of the body, not a hang-up.
is "$($UP half "$ENVD_PORT" "$D/halfgz" gzip)" 200 \
    "a whole gzip body followed by a half-close is still answered"
is "$(stat -c %s "$D/halfgz" 2>/dev/null)" 67108864 "... and written whole"
rm -f "$D/halfgz"
# A directory on the path swapped for a symlink while the body comes in:
# the file lands in the directory that was checked (now moved), nothing
# goes where the link points, and no temporary file stays.
ensure_user user
S=$TEST_TMP/swap
mkdir -p "$S/sub" "$S/out"
chown user: "$S" "$S/sub" "$S/out"
is "$($UP swap "$ENVD_PORT" "$S" user)" 200 \
    "directory swapped for a symlink mid-upload: 200"
cmp -s "$S/body" "$S/moved/f"
ok $? "... the file is in the directory that was checked, byte-exact"
is "$(stat -c %U "$S/moved/f" 2>/dev/null)" user "... owned by the uploader"
is "$(ls -A "$S/out" | tr '\n' ' ')" "" "... nothing where the symlink points"
is "$(ls -A "$S/moved" | tr '\n' ' ')" "f " "... no temporary file left"

is "$(http_status "$ENVD_URL/health")" 204 "daemon healthy after the aborts"

stop_envd
done_testing
