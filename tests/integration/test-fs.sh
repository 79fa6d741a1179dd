#!/usr/bin/env bash
# The filesystem.Filesystem service over Connect: every RPC in JSON with
# byte-level bodies and status codes, a binary-protobuf Stat, a WatchDir
# stream decoded envelope by envelope, the polling watchers, and the
# routing answers (415, 405, 404). The default user is `user` (via /init).
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version
requires xxd -v
requires protoc --version

PROTO_DIR=$(cd "$(dirname "$0")/../../proto" && pwd)
ensure_user user
H=$(getent passwd user | cut -d: -f6)
R=fs-test-$$
D=$H/$R
rm -rf "$D"
mkdir -p "$D"
chown user:user "$D"
cleanup_fn "rm -rf '$D'"

# rpc METHOD BODY [CURL ARGS...]: status code; headers and body kept.
rpc() {
	local m=$1 b=$2
	shift 2
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
	    -X POST "$ENVD_URL/filesystem.Filesystem/$m" \
	    -H 'Content-Type: application/json' \
	    -H 'Connect-Protocol-Version: 1' --data-binary "$b" "$@"
}
body() { cat "$TEST_TMP/body"; }
hdr() { tr -d '\r' <"$TEST_TMP/hdr"; }
jbody() { jq -c "$@" "$TEST_TMP/body"; }

# envelopes FILE: one line per Connect envelope, "FLAGS PAYLOAD".
envelopes() {
	local hex off=0 n len
	hex=$(xxd -p "$1" | tr -d '\n')
	n=${#hex}
	while [ "$off" -lt "$n" ]; do
		len=$((16#${hex:off+2:8}))
		printf '%s %s\n' "${hex:off:2}" \
		    "$(printf '%s' "${hex:off+10:len*2}" | xxd -r -p)"
		off=$((off + 10 + len * 2))
	done
}

# envelope BODY [FLAGS]: a Connect envelope around BODY.
envelope() {
	printf "\\x${2:-00}\\x00\\x00$(printf '\\x%02x\\x%02x' \
	    $(( ${#1} >> 8 )) $(( ${#1} & 255 )))%s" "$1"
}

# wait_for COND...: poll COND for up to 10 s.
wait_for() {
	local i
	for i in $(seq 1 400); do
		"$@" && return 0
		sleep 0.025
	done
	return 1
}

# mkfile PATH CONTENT: a file owned by user, 0644, with a fixed mtime.
MTIME='2026-01-02 03:04:05.123456789 UTC'
mkfile() {
	printf '%s' "$2" >"$1"
	chown user:user "$1"
	chmod 644 "$1"
	touch -d "$MTIME" "$1"
}

start_envd
ok $? "daemon starts"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ENVD_URL/init" \
    -H 'Content-Type: application/json' -d '{"defaultUser":"user"}')" 204 \
    "/init makes user the default user"

# --- Stat ---------------------------------------------------------------
mkfile "$D/a.txt" hello
is "$(rpc Stat '{"path":"'"$R"'/a.txt"}')" 200 "Stat file: 200"
is "$(body)" '{"entry":{"name":"a.txt","type":"FILE_TYPE_FILE","path":"'"$D"'/a.txt","size":"5","mode":420,"permissions":"-rw-r--r--","owner":"user","group":"user","modifiedTime":"2026-01-02T03:04:05.123456789Z"}}' \
    "Stat file: exact body (relative path under home)"
like "$(hdr)" $'Content-Type: application/json\n' "Stat: Content-Type echoes the request"
is "$(rpc Stat '{"path":"'"$D"'/a.txt"}'; jbody .entry.path)" "200\"$D/a.txt\"" \
    "Stat absolute path"
is "$(rpc Stat '{"path":"~/'"$R"'/./a.txt"}'; jbody .entry.path)" \
    "200\"$D/a.txt\"" "Stat ~ path is cleaned"
is "$(rpc Stat '{"path":"/tmp//.//"}'; jbody .entry.path,.entry.name)" \
    "200\"/tmp//.//\"
\".\"" "absolute path kept as given; name is Go's Base of it"

mkdir "$D/dir"
chown user:user "$D/dir"
chmod 755 "$D/dir"
touch -d "$MTIME" "$D/dir"
dsize=$(stat -c %s "$D/dir")
is "$(rpc Stat '{"path":"'"$R"'/dir"}')" 200 "Stat dir: 200"
is "$(body)" '{"entry":{"name":"dir","type":"FILE_TYPE_DIRECTORY","path":"'"$D"'/dir","size":"'"$dsize"'","mode":493,"permissions":"drwxr-xr-x","owner":"user","group":"user","modifiedTime":"2026-01-02T03:04:05.123456789Z"}}' \
    "Stat dir: exact body"

ln -s a.txt "$D/link"
chown -h user:user "$D/link"
touch -h -d "$MTIME" "$D/link"
is "$(rpc Stat '{"path":"'"$R"'/link"}')" 200 "Stat symlink: 200"
is "$(body)" '{"entry":{"name":"link","type":"FILE_TYPE_FILE","path":"'"$D"'/link","size":"5","mode":420,"permissions":"Lrwxrwxrwx","owner":"user","group":"user","modifiedTime":"2026-01-02T03:04:05.123456789Z","symlinkTarget":"'"$D"'/a.txt","isSymlink":true}}' \
    "Stat symlink: target's type and mode, absolute symlinkTarget, isSymlink"
# The binary encoding: is_symlink is field 12 (tag 0x60), the last field.
stat_bin() {
	local p=$1
	printf "\\x0a\\x$(printf %02x ${#p})%s" "$p" >"$TEST_TMP/stat.req"
	curl -s -o "$TEST_TMP/stat.bin" -w '%{http_code}' -X POST \
	    "$ENVD_URL/filesystem.Filesystem/Stat" \
	    -H 'Content-Type: application/proto' \
	    --data-binary @"$TEST_TMP/stat.req"
}
is "$(stat_bin "$R/link")" 200 "Stat symlink (binary): 200"
is "$(tail -c 2 "$TEST_TMP/stat.bin" | od -An -tx1 | tr -d ' ')" 6001 \
    "binary: is_symlink = true as field 12"
stat_bin "$R/a.txt" >/dev/null
od -An -tx1 -v "$TEST_TMP/stat.bin" | tr -d ' \n' | grep -qv '6001$'
ok $? "binary: a plain file has no is_symlink"

is "$(rpc Stat '{"path":"'"$R"'/nope"}')" 404 "Stat missing: 404"
is "$(body)" '{"code":"not_found","message":"file not found: lstat '"$D"'/nope: no such file or directory"}' \
    "Stat missing: not_found body"
like "$(hdr)" $'Content-Type: application/json\n' "error body is JSON"
is "$(rpc Stat '{"path":"'"$R"'/a.txt/x"}')" 500 "Stat below a file: 500"
is "$(body)" '{"code":"internal","message":"error getting file info: lstat '"$D"'/a.txt/x: not a directory"}' \
    "Stat ENOTDIR: internal, not not_found"
is "$(rpc Stat '{"path":"~bob/x"}')" 400 "Stat ~bob: 400"
is "$(body)" '{"code":"invalid_argument","message":"failed to expand path '"'~bob/x'"' for user '"'user'"': cannot expand user-specific home dir"}' \
    "Stat ~bob: invalid_argument body"
is "$(rpc Stat '{}'; jbody .entry.path)" "200\"$H\"" "Stat of an empty path: home"
is "$(rpc Stat '{"path":"~"}'; jbody .entry.path)" "200\"$H\"" "Stat ~: home"
is "$(rpc Stat '{}' -H "Authorization: Basic $(printf 'root:' | base64)"; \
    jbody .entry.path)" '200"/root"' "Basic root: paths resolve under /root"
is "$(rpc Stat '{}' -H "Authorization: Basic $(printf 'nosuchuser0:' | \
    base64)")" 401 "unknown Basic user: 401"
is "$(jbody .code)" '"unauthenticated"' "unknown Basic user: unauthenticated"
is "$(rpc Stat '{"path":"/dev/null"}'; jbody .entry.permissions,.entry.type)" \
    '200"Dcrw-rw-rw-"
null' "device: Dc permissions, type omitted (unspecified)"

# --- binary protobuf ------------------------------------------------------
printf 'path: "%s/a.txt"\n' "$D" | protoc --encode=filesystem.StatRequest \
    -I "$PROTO_DIR" filesystem/filesystem.proto >"$TEST_TMP/req.bin"
ok $? "protoc encodes a StatRequest"
code=$(curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/resp.bin" -w '%{http_code}' \
    -X POST "$ENVD_URL/filesystem.Filesystem/Stat" \
    -H 'Content-Type: application/proto' --data-binary @"$TEST_TMP/req.bin")
is "$code" 200 "binary Stat: 200"
like "$(hdr)" $'Content-Type: application/proto\n' "binary Stat: application/proto"
protoc --decode=filesystem.StatResponse -I "$PROTO_DIR" \
    filesystem/filesystem.proto <"$TEST_TMP/resp.bin" >"$TEST_TMP/resp.txt"
ok $? "protoc decodes the StatResponse"
is "$(cat "$TEST_TMP/resp.txt")" "entry {
  name: \"a.txt\"
  type: FILE_TYPE_FILE
  path: \"$D/a.txt\"
  size: 5
  mode: 420
  permissions: \"-rw-r--r--\"
  owner: \"user\"
  group: \"user\"
  modified_time {
    seconds: 1767323045
    nanos: 123456789
  }
}" "binary Stat: decoded response"
printf 'path: "%s/nope"\n' "$D" | protoc --encode=filesystem.StatRequest \
    -I "$PROTO_DIR" filesystem/filesystem.proto >"$TEST_TMP/req.bin"
code=$(curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
    -X POST "$ENVD_URL/filesystem.Filesystem/Stat" \
    -H 'Content-Type: application/proto' --data-binary @"$TEST_TMP/req.bin")
is "$code" 404 "binary Stat missing: 404"
like "$(hdr)" $'Content-Type: application/json\n' "binary error: JSON body"
is "$(jbody .code)" '"not_found"' "binary Stat missing: not_found"
code=$(curl -s -o "$TEST_TMP/resp.bin" -w '%{http_code}' \
    -X POST "$ENVD_URL/filesystem.Filesystem/Remove" \
    -H 'Content-Type: application/proto' --data-binary @"$TEST_TMP/req.bin")
is "$code:$(stat -c %s "$TEST_TMP/resp.bin")" 200:0 \
    "binary Remove: empty response is zero bytes"

# --- routing and negotiation ------------------------------------------------
code=$(curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
    -X POST "$ENVD_URL/filesystem.Filesystem/Stat" \
    -H 'Content-Type: text/plain' -d '{}')
is "$code" 415 "bad content type: 415"
like "$(hdr)" 'Accept-Post: application/json, application/proto' \
    "415 lists the accepted types"
is "$(stat -c %s "$TEST_TMP/body")" 0 "415 has an empty body"
code=$(curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' \
    "$ENVD_URL/filesystem.Filesystem/Stat")
is "$code" 405 "GET: 405"
like "$(hdr)" 'Allow: POST' "405 allows POST"
is "$(rpc Nope '{}')" 404 "unknown method: 404"
is "$(body)" "404 page not found" "unknown method: Go's 404 text"
is "$(rpc Stat '{"path":5}')" 400 "wrong JSON type: 400"
is "$(jbody .code)" '"invalid_argument"' "wrong JSON type: invalid_argument"
is "$(rpc Stat '{"path":"'"$D"'/a.txt","unknownField":1}')" 200 \
    "unknown JSON fields are ignored"

# --- MakeDir ----------------------------------------------------------------
is "$(rpc MakeDir '{"path":"'"$R"'/m/n/o"}')" 200 "MakeDir nested: 200"
is "$(jbody '.entry | [.name, .type, .path, .permissions, .owner, .group]')" \
    '["o","FILE_TYPE_DIRECTORY","'"$D"'/m/n/o","drwxr-xr-x","user","user"]' \
    "MakeDir: entry of the new directory"
is "$(stat -c %U:%G "$D/m" "$D/m/n" "$D/m/n/o" | tr '\n' ' ')" \
    "user:user user:user user:user " "MakeDir: every new directory belongs to user"
is "$(stat -c %U "$H")" user "MakeDir: existing parents left alone"
is "$(rpc MakeDir '{"path":"'"$R"'/m/n/o"}')" 409 "MakeDir existing: 409"
is "$(body)" '{"code":"already_exists","message":"directory already exists: '"$D"'/m/n/o"}' \
    "MakeDir existing: already_exists body"
is "$(rpc MakeDir '{"path":"'"$R"'/a.txt"}')" 400 "MakeDir over a file: 400"
is "$(body)" '{"code":"invalid_argument","message":"path already exists but it is not a directory: '"$D"'/a.txt"}' \
    "MakeDir over a file: invalid_argument body"
is "$(rpc MakeDir '{"path":"'"$R"'/a.txt/sub"}')" 500 "MakeDir below a file: 500"
rm -rf "/root/$R-probe"
is "$(rpc MakeDir '{"path":"'"$R"'-probe"}' \
    -H "Authorization: Basic $(printf 'root:' | base64)"; \
    jbody '.entry | [.path, .owner]')" "200[\"/root/$R-probe\",\"root\"]" \
    "MakeDir as root: under /root, owned by root"
rm -rf "/root/$R-probe"

# --- Move ----------------------------------------------------------------------
mkfile "$D/mv-src.txt" data
is "$(rpc Move '{"source":"'"$R"'/mv-src.txt","destination":"'"$R"'/x/y/dst.txt"}')" \
    200 "Move into new directories: 200"
is "$(jbody '.entry | [.name, .path, .size]')" \
    '["dst.txt","'"$D"'/x/y/dst.txt","4"]' "Move: entry of the destination"
[ ! -e "$D/mv-src.txt" ] && [ "$(cat "$D/x/y/dst.txt")" = data ]
ok $? "Move: the file moved"
is "$(stat -c %U:%G "$D/x" "$D/x/y" | tr '\n' ' ')" "user:user user:user " \
    "Move: created parents belong to user"
is "$(rpc Move '{"source":"'"$R"'/gone","destination":"'"$R"'/z/dst"}')" \
    404 "Move missing source: 404"
is "$(body)" '{"code":"not_found","message":"source file not found: rename '"$D"'/gone '"$D"'/z/dst: no such file or directory"}' \
    "Move missing source: not_found body"
[ -d "$D/z" ]
ok $? "Move missing source: destination parents were created first (quirk)"
mkdir -p "$D/full/f" "$D/empty2"
is "$(rpc Move '{"source":"'"$R"'/empty2","destination":"'"$R"'/full"}')" \
    500 "Move a directory onto a non-empty one: 500"
like "$(body)" '^\{"code":"internal","message":"error renaming: rename .*: directory not empty"\}$' \
    "Move onto a non-empty directory: internal"

# --- ListDir -------------------------------------------------------------------
T=$D/tree
mkdir -p "$T/subdir1/subdir1_1" "$T/subdir1/subdir1_2" \
    "$T/subdir2/subdir2_1" "$T/subdir2/subdir2_2"
echo x >"$T/file1.txt"
paths() { jq -r '.entries[].path' "$TEST_TMP/body" | sed "s|^$1/||" | tr '\n' ' '; }
is "$(rpc ListDir '{"path":"'"$R"'/tree","depth":1}')" 200 "ListDir depth 1: 200"
is "$(paths "$T")" "file1.txt subdir1 subdir2 " "ListDir depth 1: order"
is "$(rpc ListDir '{"path":"'"$R"'/tree"}'; paths "$T")" \
    "200file1.txt subdir1 subdir2 " "ListDir depth 0 means 1"
L2="file1.txt subdir1 subdir1/subdir1_1 subdir1/subdir1_2 subdir2 subdir2/subdir2_1 subdir2/subdir2_2 "
is "$(rpc ListDir '{"path":"'"$R"'/tree","depth":2}'; paths "$T")" "200$L2" \
    "ListDir depth 2: depth-first pre-order"
is "$(rpc ListDir '{"path":"'"$R"'/tree","depth":3}'; paths "$T")" "200$L2" \
    "ListDir depth 3: the same 7"
is "$(jq -r '.entries[].name' "$TEST_TMP/body" | tr '\n' ' ')" \
    "file1.txt subdir1 subdir1_1 subdir1_2 subdir2 subdir2_1 subdir2_2 " \
    "ListDir: names are base names"
is "$(jq -r '.entries[0] | [.type, .size] | @tsv' "$TEST_TMP/body")" \
    "FILE_TYPE_FILE	2" "ListDir: entries are full EntryInfos"
ln -s tree "$D/tree-link"
is "$(rpc ListDir '{"path":"'"$R"'/tree-link","depth":2}'; paths "$D/tree-link")" \
    "200$L2" "ListDir of a symlink to a directory: paths under the link"
ln -s .. "$T/subdir2/back"
is "$(rpc ListDir '{"path":"'"$R"'/tree","depth":5}'; jq -r \
    '.entries[] | select(.name == "back") | [.path, .type, .symlinkTarget] | @tsv' \
    "$TEST_TMP/body")" "200$T/subdir2/back	FILE_TYPE_DIRECTORY	$T" \
    "ListDir: a symlink to a directory is listed, never entered"
is "$(jq '.entries | length' "$TEST_TMP/body")" 8 "ListDir depth 5: 8 entries"
rm "$T/subdir2/back"
ln -s loop1 "$D/loop2"
ln -s loop2 "$D/loop1"
is "$(rpc ListDir '{"path":"'"$R"'/loop1"}')" 400 "ListDir symlink loop: 400"
is "$(body)" '{"code":"failed_precondition","message":"cyclic symlink or chain >255 links at \"'"$D"'/loop1\""}' \
    "ListDir symlink loop: failed_precondition"
is "$(rpc ListDir '{"path":"'"$R"'/a.txt"}')" 400 "ListDir of a file: 400"
is "$(body)" '{"code":"invalid_argument","message":"path is not a directory: '"$D"'/a.txt"}' \
    "ListDir of a file: invalid_argument"
is "$(rpc ListDir '{"path":"'"$R"'/nope"}')" 404 "ListDir missing: 404"
is "$(body)" '{"code":"not_found","message":"path not found: lstat '"$D"'/nope: no such file or directory"}' \
    "ListDir missing: not_found"
is "$(rpc ListDir '{"path":"'"$R"'/dir"}'; body)" '200{}' \
    "ListDir of an empty directory: {}"

# A big directory goes to the thread pool; the loop keeps answering.
mkdir "$D/big"
(cd "$D/big" && seq -f 'f%05g' 1 20000 | xargs touch)
rpc ListDir '{"path":"'"$R"'/big"}' >"$TEST_TMP/big.code" &
lpid=$!
nstat=0
while kill -0 "$lpid" 2>/dev/null; do
	c=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	    "$ENVD_URL/filesystem.Filesystem/Stat" \
	    -H 'Content-Type: application/json' -d '{"path":"/"}')
	if [ "$c" = 200 ] && kill -0 "$lpid" 2>/dev/null; then
		nstat=$((nstat + 1))
	fi
done
wait "$lpid"
is "$(cat "$TEST_TMP/big.code")" 200 "ListDir of 20000 entries: 200"
is "$(jq '.entries | length' "$TEST_TMP/body")" 20000 \
    "ListDir of 20000 entries: all there"
is "$(jq -r '.entries[0].name, .entries[19999].name' "$TEST_TMP/body" | \
    tr '\n' ' ')" "f00001 f20000 " "ListDir of 20000 entries: sorted"
if [ "$nstat" -gt 0 ]; then
	ok 0 "Stat answered $nstat times during the big ListDir"
else
	ok 0 "Stat during the big ListDir # SKIP the listing was too quick"
fi

# --- Remove -------------------------------------------------------------------
is "$(rpc Remove '{"path":"'"$R"'/nope"}'; body)" '200{}' \
    "Remove missing: success"
is "$(rpc Remove '{"path":"'"$R"'/tree-link"}'; body)" '200{}' \
    "Remove symlink to a directory: 200"
[ ! -e "$D/tree-link" ] && [ ! -L "$D/tree-link" ] && [ -f "$T/file1.txt" ]
ok $? "Remove symlink: the link goes, the target stays"
is "$(rpc Remove '{"path":"'"$R"'/tree"}'; body)" '200{}' "Remove tree: 200"
[ ! -e "$T" ]
ok $? "Remove tree: gone"
is "$(rpc Remove '{"path":"'"$R"'/big"}'; body)" '200{}' \
    "Remove 20000 files: 200"
[ ! -e "$D/big" ]
ok $? "Remove 20000 files: gone"
is "$(rpc Remove '{"path":"'"$R"'/a.txt"}'; body)" '200{}' "Remove file: 200"
[ ! -e "$D/a.txt" ] && [ -L "$D/link" ]
ok $? "Remove file: gone, the dangling link stays"
is "$(rpc Remove '{"path":""}')" 400 "Remove of an empty path: 400"
is "$(jbody .code)" '"invalid_argument"' "Remove of an empty path: invalid_argument"
is "$(rpc Remove '{}')" 400 "Remove with no path: 400"
[ -d "$H" ] && [ -d "$D" ]
ok $? "home survives an empty Remove"

# --- polling watchers -----------------------------------------------------------
W=$D/w
mkdir -p "$W"
is "$(rpc CreateWatcher '{"path":"'"$R"'/w"}')" 200 "CreateWatcher: 200"
wid=$(jq -r .watcherId "$TEST_TMP/body")
like "$wid" '^w[a-z0-9]{20}$' "watcher id: w + 20 of [a-z0-9]"
is "$(rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}'; body)" '200{}' \
    "GetWatcherEvents with nothing new: {}"
printf 'x' >"$W/new.txt"
got_create() {
	rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}' >/dev/null
	cat "$TEST_TMP/body" >>"$TEST_TMP/events"
	grep -q '"name":"new.txt","type":"EVENT_TYPE_CREATE"' "$TEST_TMP/events"
}
: >"$TEST_TMP/events"
wait_for got_create
ok $? "GetWatcherEvents: CREATE new.txt"
like "$(cat "$TEST_TMP/events")" '^\{"events":\[\{"name":"new.txt","type":"EVENT_TYPE_CREATE"\}' \
    "GetWatcherEvents: events in order, no entry unless asked"
is "$(rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}'; body)" '200{}' \
    "GetWatcherEvents clears the buffer"
is "$(rpc RemoveWatcher '{"watcherId":"'"$wid"'"}'; body)" '200{}' \
    "RemoveWatcher: 200 {}"
is "$(rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}')" 404 \
    "GetWatcherEvents after remove: 404"
is "$(body)" '{"code":"not_found","message":"watcher with id '"$wid"' not found"}' \
    "GetWatcherEvents unknown id: not_found body"
is "$(rpc RemoveWatcher '{"watcherId":"'"$wid"'"}')" 404 \
    "RemoveWatcher twice: 404"
is "$(rpc CreateWatcher '{"path":"'"$R"'/nope"}')" 404 \
    "CreateWatcher on a missing path: 404"
is "$(body)" '{"code":"not_found","message":"path '"$D"'/nope not found: stat '"$D"'/nope: no such file or directory"}' \
    "CreateWatcher missing: message"
printf 'x' >"$W/file"
is "$(rpc CreateWatcher '{"path":"'"$R"'/w/file"}')" 400 \
    "CreateWatcher on a file: 400"
is "$(body)" '{"code":"invalid_argument","message":"path '"$W"'/file not a directory: %!w(<nil>)"}' \
    "CreateWatcher on a file: message"

# Recursive with entries: a directory created later, and a file in it.
is "$(rpc CreateWatcher '{"path":"'"$R"'/w","recursive":true,"includeEntry":true}')" \
    200 "CreateWatcher recursive with entries: 200"
wid=$(jq -r .watcherId "$TEST_TMP/body")
mkdir "$W/sub"
got_sub() {
	rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}' >/dev/null
	jq -c '.events[]?' "$TEST_TMP/body" >>"$TEST_TMP/events"
	grep -q '"name":"sub"' "$TEST_TMP/events"
}
: >"$TEST_TMP/events"
wait_for got_sub
ok $? "recursive watcher: CREATE sub"
printf 'hello' >"$W/sub/f.txt"
got_write() {
	rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}' >/dev/null
	jq -c '.events[]?' "$TEST_TMP/body" >>"$TEST_TMP/events"
	grep -q '"name":"sub/f.txt","type":"EVENT_TYPE_WRITE"' "$TEST_TMP/events"
}
wait_for got_write
ok $? "recursive watcher: WRITE sub/f.txt"
is "$(jq -r 'select(.name == "sub/f.txt" and .type == "EVENT_TYPE_WRITE") |
    .entry.path' "$TEST_TMP/events" | tail -1)" "$W/sub/f.txt" \
    "includeEntry: absolute entry path"
is "$(jq -r 'select(.name == "sub") | .entry.type' "$TEST_TMP/events" | head -1)" \
    FILE_TYPE_DIRECTORY "includeEntry: the new directory's entry"
rm "$W/sub/f.txt"
got_remove() {
	rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}' >/dev/null
	jq -c '.events[]?' "$TEST_TMP/body" >>"$TEST_TMP/events"
	grep -q '"name":"sub/f.txt","type":"EVENT_TYPE_REMOVE"}' "$TEST_TMP/events"
}
wait_for got_remove
ok $? "REMOVE carries no entry"
is "$(rpc RemoveWatcher '{"watcherId":"'"$wid"'"}')" 200 "RemoveWatcher: 200"

# More events than a polling watcher buffers (65536): it fails like an
# overflowing inotify queue, and keeps failing until removed.
mkdir "$D/flood"
is "$(rpc CreateWatcher '{"path":"'"$R"'/flood"}')" 200 \
    "CreateWatcher for the flood: 200"
wid=$(jq -r .watcherId "$TEST_TMP/body")
(cd "$D/flood" && seq -f 'f%06g' 1 70000 | xargs touch)
overflowed() {
	[ "$(rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}')" = 500 ]
}
wait_for overflowed
ok $? "70000 events without a poll: GetWatcherEvents fails (500)"
is "$(body)" '{"code":"internal","message":"watcher error: fsnotify: queue or buffer overflow"}' \
    "overflow: internal, the inotify overflow text"
is "$(rpc GetWatcherEvents '{"watcherId":"'"$wid"'"}')" 500 \
    "every later GetWatcherEvents fails too"
is "$(rpc RemoveWatcher '{"watcherId":"'"$wid"'"}')" 200 \
    "a failed watcher can be removed"
rm -rf "$D/flood"

# --- WatchDir stream --------------------------------------------------------------
envelope '{"path":"'"$R"'/w"}' >"$TEST_TMP/watch.req"
rm -f "$TEST_TMP/watch.out"
curl -s -N -o "$TEST_TMP/watch.out" -D "$TEST_TMP/watch.hdr" \
    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    -H 'Connect-Protocol-Version: 1' -H 'Connect-Timeout-Ms: 3000' \
    -H 'Keepalive-Ping-Interval: 1' \
    --data-binary @"$TEST_TMP/watch.req" &
cpid=$!
started() { [ "$(stat -c %s "$TEST_TMP/watch.out" 2>/dev/null || echo 0)" -ge 17 ]; }
wait_for started
ok $? "WatchDir: start message arrives"
is "$(head -c 17 "$TEST_TMP/watch.out" | xxd -p)" \
    "000000000c7b227374617274223a7b7d7d" \
    "WatchDir: first bytes are 00 00 00 00 0c {\"start\":{}}"
printf 'abc' >"$W/x.txt"
chmod 600 "$W/x.txt"
wait "$cpid"
is "$?" 0 "WatchDir: the stream ends by itself at the deadline"
like "$(tr -d '\r' <"$TEST_TMP/watch.hdr")" $'^HTTP/1.1 200 OK\n' \
    "WatchDir: 200"
like "$(tr -d '\r' <"$TEST_TMP/watch.hdr")" $'Content-Type: application/connect\\+json\n' \
    "WatchDir: connect+json"
like "$(tr -d '\r' <"$TEST_TMP/watch.hdr")" $'X-Accel-Buffering: no\n' \
    "WatchDir: X-Accel-Buffering: no"
envelopes "$TEST_TMP/watch.out" >"$TEST_TMP/watch.txt"
sed 's/^/#   /' "$TEST_TMP/watch.txt"
is "$(head -1 "$TEST_TMP/watch.txt")" '00 {"start":{}}' "envelope 1: start"
is "$(sed -n 2p "$TEST_TMP/watch.txt")" \
    '00 {"filesystem":{"name":"x.txt","type":"EVENT_TYPE_CREATE"}}' \
    "envelope 2: CREATE x.txt"
is "$(sed -n 3p "$TEST_TMP/watch.txt")" \
    '00 {"filesystem":{"name":"x.txt","type":"EVENT_TYPE_WRITE"}}' \
    "envelope 3: WRITE x.txt"
grep -q '^00 {"filesystem":{"name":"x.txt","type":"EVENT_TYPE_CHMOD"}}$' \
    "$TEST_TMP/watch.txt"
ok $? "a CHMOD x.txt envelope follows"
grep -q '^00 {"keepalive":{}}$' "$TEST_TMP/watch.txt"
ok $? "keepalive envelopes while idle"
is "$(tail -1 "$TEST_TMP/watch.txt")" \
    '02 {"error":{"code":"deadline_exceeded","message":"context deadline exceeded"}}' \
    "last envelope: end-of-stream deadline_exceeded"
is "$(grep -vc '^00 ' "$TEST_TMP/watch.txt")" 1 \
    "exactly one end-of-stream envelope"

# WatchDir with entries on a missing directory and a file: error only.
envelope '{"path":"'"$R"'/nope"}' >"$TEST_TMP/watch.req"
code=$(curl -s -o "$TEST_TMP/watch.out" -w '%{http_code}' \
    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/watch.req")
is "$code" 200 "WatchDir on a missing directory: still 200"
is "$(envelopes "$TEST_TMP/watch.out")" \
    '02 {"error":{"code":"not_found","message":"path '"$D"'/nope not found: stat '"$D"'/nope: no such file or directory"}}' \
    "WatchDir on a missing directory: only the end-of-stream error"
envelope '{"path":"'"$R"'/w/file"}' >"$TEST_TMP/watch.req"
curl -s -o "$TEST_TMP/watch.out" -X POST \
    "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/watch.req"
like "$(envelopes "$TEST_TMP/watch.out")" '^02 \{"error":\{"code":"invalid_argument"' \
    "WatchDir on a file: invalid_argument"

# Recursive WatchDir with entries; the client leaves before the deadline.
envelope '{"path":"'"$R"'/w","recursive":true,"includeEntry":true}' \
    >"$TEST_TMP/watch.req"
rm -f "$TEST_TMP/watch.out"
curl -s -N -o "$TEST_TMP/watch.out" \
    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/watch.req" &
cpid=$!
wait_for started
ok $? "recursive WatchDir: start"
mkdir -p "$W/r1/r2"
seen_r2() { envelopes "$TEST_TMP/watch.out" | grep -q '"name":"r1/r2","type":"EVENT_TYPE_CREATE"'; }
wait_for seen_r2
ok $? "recursive WatchDir: mkdir -p reports CREATE r1/r2"
printf 'z' >"$W/r1/r2/deep.txt"
seen_deep() { envelopes "$TEST_TMP/watch.out" | grep -q '"name":"r1/r2/deep.txt","type":"EVENT_TYPE_WRITE"'; }
wait_for seen_deep
ok $? "recursive WatchDir: WRITE r1/r2/deep.txt"
envelopes "$TEST_TMP/watch.out" | sed -n 's/^00 //p' | \
    jq -r 'select(.filesystem.name == "r1/r2/deep.txt") | .filesystem.entry.path' | \
    head -1 >"$TEST_TMP/deep"
is "$(cat "$TEST_TMP/deep")" "$W/r1/r2/deep.txt" "includeEntry: absolute path"
kill "$cpid"
wait "$cpid" 2>/dev/null
sleep 0.2
is "$(curl -s -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" 204 \
    "daemon healthy after a watch client left"

# Binary WatchDir: the start message is an empty oneof member (0a 00).
printf 'path: "%s"\n' "$W" | protoc --encode=filesystem.WatchDirRequest \
    -I "$PROTO_DIR" filesystem/filesystem.proto >"$TEST_TMP/wreq.bin"
{ printf '\x00\x00\x00\x00'; printf "\\x$(printf '%02x' \
    "$(stat -c %s "$TEST_TMP/wreq.bin")")"; cat "$TEST_TMP/wreq.bin"; } \
    >"$TEST_TMP/watch.req"
curl -s -o "$TEST_TMP/watch.out" -X POST \
    "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+proto' -H 'Connect-Timeout-Ms: 300' \
    --data-binary @"$TEST_TMP/watch.req"
is "$(head -c 7 "$TEST_TMP/watch.out" | xxd -p)" "00000000020a00" \
    "binary WatchDir: start envelope 00 00 00 00 02 0a 00"

# SIGTERM with a polling watcher and a WatchDir stream still alive.
is "$(rpc CreateWatcher '{"path":"'"$R"'/w","recursive":true}')" 200 \
    "a polling watcher left for shutdown"
envelope '{"path":"'"$R"'/w","recursive":true}' >"$TEST_TMP/watch.req"
rm -f "$TEST_TMP/watch.out"
curl -s -N -o "$TEST_TMP/watch.out" \
    -X POST "$ENVD_URL/filesystem.Filesystem/WatchDir" \
    -H 'Content-Type: application/connect+json' \
    --data-binary @"$TEST_TMP/watch.req" &
cpid=$!
wait_for started
ok $? "a WatchDir stream left for shutdown"
stop_envd
wait "$cpid" 2>/dev/null
done_testing
