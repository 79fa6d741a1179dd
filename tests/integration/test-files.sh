#!/usr/bin/env bash
# GET/POST /files and POST /files/compose against the real daemon, as root
# with a default user "user": headers, ranges, conditional requests, gzip
# both ways, multipart and raw uploads, metadata, ownership, atomic
# replacement (aborted uploads, a full disk), symlinks, pre-signed URLs.
. "$(dirname "$0")/../functions.sh"
requires curl --version
requires jq --version
requires openssl version
requires getfattr --version
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }

# req [CURL ARGS...]: status code; headers in $TEST_TMP/hdr, body in body.
req() {
	curl -s -D "$TEST_TMP/hdr" -o "$TEST_TMP/body" -w '%{http_code}' "$@"
}
hdr() { tr -d '\r' <"$TEST_TMP/hdr"; }
body() { cat "$TEST_TMP/body"; }
# header NAME: the value of the last response's header NAME.
header() { hdr | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
    'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }'; }
uri() { jq -rn --arg v "$1" '$v|@uri'; }
# sig PATH OP USER TOKEN [EXP]: a v1 signature, percent-encoded.
sig() {
	local s="$1:$2:$3:$4"
	[ $# -ge 5 ] && s="$s:$5"
	printf 'v1_%s' "$(printf '%s' "$s" | openssl dgst -sha256 -binary |
	    base64 | tr -d '=\n')" | sed 's/+/%2B/g; s#/#%2F#g'
}
# temps DIR: number of upload temporary files left in DIR.
temps() { find "$1" -maxdepth 1 -name '.*.envd-upload.*' | wc -l; }
octet() { echo "Content-Type: application/octet-stream"; }

start_envd
ok $? "daemon starts"
ensure_user user
is "$(http_status -X POST "$ENVD_URL/init" -d '{"defaultUser":"user"}')" 204 \
    "default user is user"
H=/home/user
WR=files-test-$$
W=$H/$WR
rm -rf "$W"
cleanup_fn "rm -rf $W"
D=$TEST_TMP/d
mkdir -p "$D"
chmod 755 "$TEST_TMP"

# --- downloads: headers ------------------------------------------------------
printf 'hello world\n' >"$D/a.txt"
touch -d '2026-01-01 00:00:00 UTC' "$D/a.txt"
is "$(req "$ENVD_URL/files?path=$D/a.txt")" 200 "download: 200"
is "$(body)" "hello world" "download: body"
is "$(header Content-Type)" "text/plain; charset=utf-8" "download: .txt type"
is "$(header Content-Length)" 12 "download: Content-Length"
is "$(header Accept-Ranges)" bytes "download: Accept-Ranges"
is "$(header Last-Modified)" "Thu, 01 Jan 2026 00:00:00 GMT" \
    "download: Last-Modified"
is "$(header Content-Disposition)" "inline; filename=a.txt" \
    "download: Content-Disposition"
like "$(hdr)" $'\nVary: Accept-Encoding' "download: Vary: Accept-Encoding"

echo '{"a":1}' >"$D/x.json"
req "$ENVD_URL/files?path=$D/x.json" >/dev/null
is "$(header Content-Type)" application/json "download: .json type"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR' >"$D/noext"
req "$ENVD_URL/files?path=$D/noext" >/dev/null
is "$(header Content-Type)" image/png "download: sniffed PNG"
head -c 600 /dev/zero >"$D/zeros"
req "$ENVD_URL/files?path=$D/zeros" >/dev/null
is "$(header Content-Type)" application/octet-stream "download: sniffed binary"
: >"$D/empty"
is "$(req "$ENVD_URL/files?path=$D/empty")" 200 "empty file: 200"
is "$(header Content-Length)" 0 "empty file: Content-Length: 0"
is "$(header Content-Type)" "text/plain; charset=utf-8" "empty file: text/plain"
cp "$D/a.txt" "$D/raw path.txt"
req "$ENVD_URL/files?path=$(uri "$D/../d/raw path.txt")" >/dev/null
is "$(header Content-Disposition)" 'inline; filename="raw path.txt"' \
    "Content-Disposition quotes spaces"
printf 'q' >"$D/q\"x"
req "$ENVD_URL/files?path=$(uri "$D/q\"x")" >/dev/null
is "$(header Content-Disposition)" 'inline; filename="q\"x"' \
    "Content-Disposition escapes quotes"
printf 'u' >"$D/ünï ✓.bin"
req "$ENVD_URL/files?path=$(uri "$D/ünï ✓.bin")" >/dev/null
is "$(header Content-Disposition)" \
    "inline; filename*=utf-8''%C3%BCn%C3%AF%20%E2%9C%93.bin" \
    "Content-Disposition encodes non-ASCII"
printf 'rel' >"$H/rel-$$.txt"
cleanup_fn "rm -f $H/rel-$$.txt"
is "$(req "$ENVD_URL/files?path=rel-$$.txt")" 200 "relative path: home of user"
is "$(body)" rel "relative path: body"
is "$(req "$ENVD_URL/files?path=~/rel-$$.txt&username=user")" 200 \
    "~ path with username"
is "$(req "$ENVD_URL/files?path=%7E%2Frel-$$.txt&username=root")" 404 \
    "~ of root"

# --- downloads: errors -------------------------------------------------------
is "$(req "$ENVD_URL/files?path=$D/missing")" 404 "missing: 404"
is "$(body)" "{\"code\":404,\"message\":\"path '$D/missing' does not exist\"}" \
    "missing: body"
is "$(header Content-Type)" "application/json; charset=utf-8" "missing: JSON"
is "$(req "$ENVD_URL/files?path=$D")" 400 "directory: 400"
is "$(body)" "{\"code\":400,\"message\":\"path '$D' is a directory\"}" \
    "directory: body"
is "$(req "$ENVD_URL/files")" 400 "no path: home directory is a directory"
mkfifo "$D/fifo"
is "$(req --max-time 5 "$ENVD_URL/files?path=$D/fifo")" 400 "FIFO: 400"
is "$(body)" "{\"code\":400,\"message\":\"path '$D/fifo' is not a regular file\"}" \
    "FIFO: refused, not read"
is "$(req "$ENVD_URL/files?path=/dev/zero")" 400 "device: 400"
is "$(req "$ENVD_URL/files?path=$D/a.txt&username=bob")" 401 "unknown user"
is "$(body)" '{"code":401,"message":"error looking up user '"'"'bob'"'"': user: unknown user bob"}' \
    "unknown user: body"
is "$(req "$ENVD_URL/files?path=$D/a.txt&username=")" 401 "empty username: 401"
is "$(req "$ENVD_URL/files?path=~bob/x")" 400 "~bob: 400"
like "$(body)" "error expanding and resolving path '~bob/x': " "~bob: message"
is "$(req "$ENVD_URL/files?path=$D/a.txt&signature_expiration=abc")" 400 \
    "bad signature_expiration: 400"
is "$(body)" 'Invalid format for parameter signature_expiration: error binding string parameter: strconv.ParseInt: parsing "abc": invalid syntax' \
    "bad signature_expiration: text"
is "$(header Content-Type)" "text/plain; charset=utf-8" \
    "bad signature_expiration: text/plain"
is "$(req "$ENVD_URL/files?path=$D/a.txt&path=x")" 400 "repeated path: 400"
like "$(body)" "multiple values for single value parameter 'path'" \
    "repeated path: message"
is "$(req -I "$ENVD_URL/files?path=$D/a.txt")" 405 "HEAD /files: 405"
is "$(req "$ENVD_URL/files/?path=$D/a.txt")" 404 "/files/: 404"

# --- Accept-Encoding ---------------------------------------------------------
seq 1 20000 >"$D/seq.txt"
is "$(req -H 'Accept-Encoding: gzip' "$ENVD_URL/files?path=$D/seq.txt")" 200 \
    "gzip download: 200"
is "$(header Content-Encoding)" gzip "gzip download: Content-Encoding"
is "$(header Content-Type)" "text/plain; charset=utf-8" "gzip download: type"
is "$(header Content-Length)" "" "gzip download: no Content-Length"
is "$(header Last-Modified)" "" "gzip download: no Last-Modified"
like "$(hdr)" $'\nVary: Accept-Encoding' "gzip download: Vary"
check "gzip download: gunzip equals the file" \
    cmp -s <(gunzip -c "$TEST_TMP/body") "$D/seq.txt"
req -H 'Accept-Encoding: gzip' "$ENVD_URL/files?path=$D/noext" >/dev/null
is "$(header Content-Type)" application/octet-stream \
    "gzip download: no extension is octet-stream"
req -H 'Accept-Encoding: gzip' "$ENVD_URL/files?path=$D/empty" >/dev/null
check "gzip download of an empty file" \
    cmp -s <(gunzip -c "$TEST_TMP/body") /dev/null
req -H 'Accept-Encoding: identity, gzip' "$ENVD_URL/files?path=$D/seq.txt" >/dev/null
is "$(header Content-Encoding)" "" "identity first: identity"
req -H 'Accept-Encoding: br' "$ENVD_URL/files?path=$D/seq.txt" >/dev/null
is "$(header Content-Encoding)" "" "br only: identity"
is "$(req -H 'Accept-Encoding: br;q=1, identity;q=0' "$ENVD_URL/files?path=$D/seq.txt")" \
    406 "identity refused: 406"
is "$(body)" '{"code":406,"message":"error parsing Accept-Encoding: no acceptable encoding found, supported: [gzip]"}' \
    "identity refused: body"
is "$(req -H 'Accept-Encoding: gzip, identity;q=0' -H 'Range: bytes=0-1' \
    "$ENVD_URL/files?path=$D/seq.txt")" 406 "range with identity refused: 406"
is "$(body)" '{"code":406,"message":"identity encoding not acceptable for Range or conditional request"}' \
    "range with identity refused: body"
is "$(req -H 'Accept-Encoding: gzip' -H 'Range: bytes=0-1' \
    "$ENVD_URL/files?path=$D/seq.txt")" 206 "Range forces identity"

# --- ranges and conditional requests ----------------------------------------
head -c 100 "$D/seq.txt" >"$D/r.txt"
size=100
is "$(req -H 'Range: bytes=0-0' "$ENVD_URL/files?path=$D/r.txt")" 206 "bytes=0-0: 206"
is "$(header Content-Range)" "bytes 0-0/$size" "bytes=0-0: Content-Range"
is "$(header Content-Length)" 1 "bytes=0-0: length 1"
is "$(body)" "$(head -c 1 "$D/r.txt")" "bytes=0-0: body"
is "$(req -H 'Range: bytes=-5' "$ENVD_URL/files?path=$D/r.txt")" 206 "bytes=-5: 206"
is "$(header Content-Range)" "bytes 95-99/$size" "bytes=-5: Content-Range"
check "bytes=-5: body" cmp -s "$TEST_TMP/body" <(tail -c 5 "$D/r.txt")
is "$(req -H 'Range: bytes=10-' "$ENVD_URL/files?path=$D/r.txt")" 206 "bytes=10-: 206"
is "$(header Content-Range)" "bytes 10-99/$size" "bytes=10-: Content-Range"
check "bytes=10-: body" cmp -s "$TEST_TMP/body" <(tail -c +11 "$D/r.txt")
is "$(req -H 'Range: bytes=100-' "$ENVD_URL/files?path=$D/r.txt")" 416 "beyond end: 416"
is "$(header Content-Range)" "bytes */$size" "beyond end: Content-Range"
is "$(body)" "invalid range: failed to overlap" "beyond end: body"
is "$(req -H 'Range: bytes=5-1' "$ENVD_URL/files?path=$D/r.txt")" 416 "reversed: 416"
is "$(body)" "invalid range" "reversed: body"
is "$(req -H 'Range: bytes=0-1,5-6' "$ENVD_URL/files?path=$D/r.txt")" 200 \
    "two ranges: 200 with the whole file"
is "$(header Content-Length)" 100 "two ranges: full length"
is "$(req -H 'Range: bytes=0-0' "$ENVD_URL/files?path=$D/empty")" 200 \
    "range of an empty file: 200"
lm="Thu, 01 Jan 2026 00:00:00 GMT"
is "$(req -H "If-Modified-Since: $lm" "$ENVD_URL/files?path=$D/a.txt")" 304 \
    "If-Modified-Since at mtime: 304"
is "$(body)" "" "304: no body"
is "$(req -H 'If-Modified-Since: Wed, 31 Dec 2025 00:00:00 GMT' \
    "$ENVD_URL/files?path=$D/a.txt")" 200 "If-Modified-Since before: 200"
is "$(req -H 'If-None-Match: *' "$ENVD_URL/files?path=$D/a.txt")" 304 \
    "If-None-Match: * is 304"
is "$(req -H 'If-Range: Wed, 31 Dec 2025 00:00:00 GMT' -H 'Range: bytes=0-0' \
    "$ENVD_URL/files?path=$D/a.txt")" 200 "stale If-Range: whole file"
is "$(req -H "If-Range: $lm" -H 'Range: bytes=0-0' \
    "$ENVD_URL/files?path=$D/a.txt")" 206 "matching If-Range: range"

# --- raw uploads ---------------------------------------------------------------
is "$(req -X POST -H "$(octet)" --data-binary 'abc' \
    "$ENVD_URL/files?path=$WR/new/deep/a.txt")" 200 "raw upload: 200"
is "$(body)" "[{\"name\":\"a.txt\",\"path\":\"$W/new/deep/a.txt\",\"type\":\"file\"}]" \
    "raw upload: body"
is "$(cat "$W/new/deep/a.txt")" abc "raw upload: contents"
is "$(stat -c '%U:%G %a' "$W/new/deep/a.txt")" "user:user 644" \
    "raw upload: owned by user, 0644"
is "$(stat -c '%U:%G %a' "$W/new/deep" "$W/new" "$W" | sort -u)" \
    "user:user 755" "raw upload: created directories owned by user, 0755"
# A connection that opened with an upload has a MiB of buffer: it ends
# with its request. The next request, on a new one, is kept alive.
is "$(header Connection)" close "raw upload: its connection closes after it"
curl -s -o /dev/null -w '%{num_connects}\n' -X POST -H "$(octet)" \
    --data-binary abc "$ENVD_URL/files?path=$WR/new/k.txt" \
    --next -s -o /dev/null -w '%{num_connects}\n' "$ENVD_URL/health" \
    --next -s -o /dev/null -w '%{num_connects}\n' "$ENVD_URL/health" \
    >"$TEST_TMP/conns"
is "$(tr '\n' ' ' <"$TEST_TMP/conns")" "1 1 0 " \
    "upload, then /health twice: a new connection after the upload only"
printf 'old' >"$W/mode.txt"
chmod 0600 "$W/mode.txt"
chown root:root "$W/mode.txt"
is "$(req -X POST -H "$(octet)" --data-binary 'new' \
    "$ENVD_URL/files?path=$W/mode.txt")" 200 "overwrite: 200"
is "$(stat -c '%U:%G %a' "$W/mode.txt")" "user:user 600" \
    "overwrite: mode kept, owner is the uploader"
is "$(cat "$W/mode.txt")" new "overwrite: contents"
is "$(req -X POST -H "$(octet)" --data-binary x \
    "$ENVD_URL/files?path=$W/mode.txt&username=root")" 200 "upload as root"
is "$(stat -c '%U' "$W/mode.txt")" root "upload as root: owner root"
is "$(req -X POST -H "$(octet)" --data-binary '' \
    "$ENVD_URL/files?path=$W/empty.bin")" 200 "empty raw upload"
is "$(stat -c %s "$W/empty.bin")" 0 "empty raw upload: empty file"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files")" 400 "raw without path"
is "$(body)" '{"code":400,"message":"path query parameter is required for raw body upload"}' \
    "raw without path: body"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files?path=$W")" 400 \
    "raw onto a directory"
is "$(body)" "{\"code\":400,\"message\":\"path is a directory: $W\"}" \
    "raw onto a directory: body"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files?path=$W/mode.txt/x")" 500 \
    "parent is a file: 500"
is "$(body)" "{\"code\":500,\"message\":\"error ensuring directories: path is a file: $W/mode.txt\"}" \
    "parent is a file: body"
is "$(req -X POST -H 'Content-Type: text/plain' -d x "$ENVD_URL/files?path=$W/t")" 400 \
    "unsupported content type"
is "$(body)" '{"code":400,"message":"unsupported content type: text/plain, expected multipart/form-data or application/octet-stream"}' \
    "unsupported content type: body"
is "$(req -X POST -H 'Content-Type: multipart/mixed; boundary=x' -d x \
    "$ENVD_URL/files?path=$W/t")" 500 "multipart/mixed: 500"
is "$(body)" '{"code":500,"message":"error parsing multipart form: request Content-Type isn'"'"'t multipart/form-data"}' \
    "multipart/mixed: body"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files?path=$W/u&username=bob")" 401 \
    "upload as unknown user: 401"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files?path=/dev/null")" 200 \
    "upload to /dev/null"
check "/dev/null is still a character device" test -c /dev/null
is "$(temps "$W")" 0 "no temporary files left so far"

# --- multipart uploads ---------------------------------------------------------
for i in 1 2 3 4 5; do echo "part $i" >"$D/p$i"; done
is "$(req -X POST -F "file=@$D/p1;filename=$WR/m/one.txt" -F 'other=ignored' \
    -F "file=@$D/p2;filename=$W/m/two.txt" -F "file=@$D/p3;filename=$WR/m/a b.txt" \
    -F "file=@$D/p4;filename=$WR/m/ünï.txt" -F "file=@$D/p5;filename=$WR/m/sub/five" \
    "$ENVD_URL/files")" 200 "multipart, five files: 200"
is "$(body | jq -r '.[].path' | tr '\n' ' ')" \
    "$W/m/one.txt $W/m/two.txt $W/m/a b.txt $W/m/ünï.txt $W/m/sub/five " \
    "multipart: paths in order, other parts ignored"
is "$(body | jq -r '.[].name' | tr '\n' ' ')" "one.txt two.txt a b.txt ünï.txt five " \
    "multipart: names"
is "$(cat "$W/m/one.txt" "$W/m/two.txt" "$W/m/a b.txt" "$W/m/ünï.txt" "$W/m/sub/five" | tr '\n' ' ')" \
    "part 1 part 2 part 3 part 4 part 5 " "multipart: contents"
is "$(stat -c %U "$W/m/sub/five" "$W/m/sub" | sort -u)" user "multipart: owned by user"
req "$ENVD_URL/files?path=$(uri "$W/m/a b.txt")" >/dev/null
is "$(header Content-Disposition)" 'inline; filename="a b.txt"' \
    "multipart file with a space downloads with a quoted name"
req "$ENVD_URL/files?path=$(uri "$W/m/ünï.txt")" >/dev/null
is "$(header Content-Disposition)" "inline; filename*=utf-8''%C3%BCn%C3%AF.txt" \
    "multipart file with non-ASCII downloads with filename*"
is "$(req -X POST -F "file=@$D/p1;filename=ignored" "$ENVD_URL/files?path=$WR/m/q.txt")" \
    200 "multipart with ?path="
is "$(body)" "[{\"name\":\"q.txt\",\"path\":\"$W/m/q.txt\",\"type\":\"file\"}]" \
    "multipart with ?path=: the query wins"
is "$(req -X POST -F "file=@$D/p1" -F "file=@$D/p2" "$ENVD_URL/files?path=$W/m/dup.txt")" \
    400 "?path= with two parts: 400"
is "$(body)" "{\"code\":400,\"message\":\"you cannot upload multiple files to the same path '$W/m/dup.txt' in one upload request, only the first specified file was uploaded\"}" \
    "?path= with two parts: message"
is "$(cat "$W/m/dup.txt")" "part 1" "?path= with two parts: the first stays"
is "$(req -X POST -F "file=@$D/p1;filename=$W/m/d1" -F "file=@$D/p2;filename=$W/m/d2" \
    -F "file=@$D/p3;filename=$W/m/d3" -F "file=@$D/p4;filename=$W/m/d2" "$ENVD_URL/files")" \
    400 "duplicate after three files: 400"
is "$(body | jq -r .message)" "you cannot upload multiple files to the same path '$W/m/d2' in one upload request, only the first specified file was uploaded, also the following files were uploaded: $W/m/d1, $W/m/d3" \
    "duplicate after three files: lists the others"
is "$(req -X POST -F 'other=x' "$ENVD_URL/files")" 200 "no file parts: 200"
is "$(body)" "[]" "no file parts: []"
printf -- '--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--b--\r\n' >"$D/nofn"
is "$(req -X POST -H 'Content-Type: multipart/form-data; boundary=b' --data-binary @"$D/nofn" \
    "$ENVD_URL/files")" 400 "part without filename: 400"
is "$(body)" '{"code":400,"message":"error getting multipart custom part file name: filename not found in Content-Disposition header"}' \
    "part without filename: message"
printf -- '--b\r\nContent-Disposition: form-data; name="file"; filename="%s/trunc"\r\n\r\nxyz' "$W" >"$D/trunc"
is "$(req -X POST -H 'Content-Type: multipart/form-data; boundary=b' --data-binary @"$D/trunc" \
    "$ENVD_URL/files")" 500 "body ends inside a part: 500"
is "$(body)" '{"code":500,"message":"error writing file: unexpected EOF"}' \
    "body ends inside a part: message"
check "body ends inside a part: no file" test ! -e "$W/trunc"
is "$(temps "$W")" 0 "truncated part left no temporary file"
many=()
for i in $(seq 1 40); do many+=(-F "file=@$D/p1;filename=$WR/many/f$i"); done
is "$(req -X POST "${many[@]}" "$ENVD_URL/files")" 200 "40 files in one request"
is "$(body | jq length)" 40 "40 entries"
is "$(find "$W/many" -type f | wc -l)" 40 "40 files on disk"

# --- metadata ------------------------------------------------------------------
is "$(req -X POST -H "$(octet)" -H 'X-Metadata-Owner: alice  ' -H 'x-metadata-PROJECT: p1' \
    -H 'X-Metadata-owner: second' --data-binary m "$ENVD_URL/files?path=$W/meta.txt")" 200 \
    "metadata upload"
is "$(body)" "[{\"metadata\":{\"owner\":\"alice\",\"project\":\"p1\"},\"name\":\"meta.txt\",\"path\":\"$W/meta.txt\",\"type\":\"file\"}]" \
    "metadata in the answer, first value wins, blanks trimmed"
is "$(getfattr --absolute-names -n user.e2b.owner --only-values "$W/meta.txt")" alice \
    "metadata stored as user.e2b.* xattrs"
setfattr -n user.keep -v k "$W/meta.txt"
is "$(req -X POST -H "$(octet)" --data-binary m2 "$ENVD_URL/files?path=$W/meta.txt")" 200 \
    "overwrite without metadata"
is "$(body)" "[{\"name\":\"meta.txt\",\"path\":\"$W/meta.txt\",\"type\":\"file\"}]" \
    "overwrite without metadata: none in the answer"
is "$(getfattr --absolute-names -d -m 'user\.e2b\.' "$W/meta.txt" 2>/dev/null)" "" \
    "overwrite without metadata clears user.e2b.*"
is "$(getfattr --absolute-names -n user.keep --only-values "$W/meta.txt")" k \
    "plain user.* attributes survive an overwrite"
is "$(req -X POST -F "file=@$D/p1;filename=$W/mm1" -F "file=@$D/p2;filename=$W/mm2" \
    -H 'X-Metadata-K: v' "$ENVD_URL/files")" 200 "multipart with metadata"
is "$(body | jq -c '[.[].metadata]')" '[{"k":"v"},{"k":"v"}]' \
    "the same metadata on every file"
k247=$(printf 'k%.0s' $(seq 1 247))
is "$(req -X POST -H "$(octet)" -H "X-Metadata-$k247: v" -d x "$ENVD_URL/files?path=$W/m1")" \
    400 "247-byte key: 400"
is "$(body)" "{\"code\":400,\"message\":\"invalid metadata: metadata key \\\"$k247\\\" exceeds 246 bytes\"}" \
    "247-byte key: message"
is "$(req -X POST -H "$(octet)" -H $'X-Metadata-k: a\x01b' -d x "$ENVD_URL/files?path=$W/m1")" \
    400 "control byte in a value: 400"
is "$(body | jq -r .message)" 'invalid metadata: metadata value for key "k" contains non-printable-ASCII byte 0x01 at offset 1' \
    "control byte in a value: message"
big=$(head -c 4100 /dev/zero | tr '\0' v)
is "$(req -X POST -H "$(octet)" -H "X-Metadata-k: $big" -d x "$ENVD_URL/files?path=$W/m1")" \
    400 "total over 4096: 400"
is "$(body | jq -r .message)" "invalid metadata: total metadata size 4110 exceeds 4096 bytes" \
    "total over 4096: message"
check "rejected metadata: nothing written" test ! -e "$W/m1"

# --- gzip uploads -------------------------------------------------------------
seq 1 50000 >"$D/big.txt"
is "$(gzip -c "$D/big.txt" | req -X POST -H "$(octet)" -H 'Content-Encoding: gzip' \
    --data-binary @- "$ENVD_URL/files?path=$W/gz.txt")" 200 "gzip upload: 200"
check "gzip upload: decoded contents" cmp -s "$W/gz.txt" "$D/big.txt"
is "$( (gzip -c "$D/p1"; gzip -c "$D/p2") | req -X POST -H "$(octet)" \
    -H 'Content-Encoding: GZIP' --data-binary @- "$ENVD_URL/files?path=$W/gz2.txt")" 200 \
    "two gzip members: 200"
is "$(cat "$W/gz2.txt" | tr '\n' ' ')" "part 1 part 2 " "two gzip members: both decoded"
gzip -c "$D/big.txt" >"$D/big.gz"
is "$(req -X POST -H "$(octet)" -H 'Content-Encoding: gzip' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$D/big.gz" "$ENVD_URL/files?path=$W/gz3.txt")" 200 "chunked gzip upload"
check "chunked gzip upload: contents" cmp -s "$W/gz3.txt" "$D/big.txt"
is "$(gzip -c "$D/p3" | req -X POST -H 'Content-Encoding: gzip' -F "file=@-;filename=$W/gzm" \
    "$ENVD_URL/files")" 400 "Content-Encoding: gzip on a plain multipart body: 400"
head -c 2000 "$D/big.gz" >"$D/cut.gz"
is "$(req -X POST -H "$(octet)" -H 'Content-Encoding: gzip' --data-binary @"$D/cut.gz" \
    "$ENVD_URL/files?path=$W/gz.txt")" 500 "truncated gzip: 500"
is "$(body)" '{"code":500,"message":"error writing file: unexpected EOF"}' \
    "truncated gzip: message"
check "truncated gzip: old file intact" cmp -s "$W/gz.txt" "$D/big.txt"
is "$(req -X POST -H "$(octet)" -H 'Content-Encoding: gzip' -d 'not gzip at all' \
    "$ENVD_URL/files?path=$W/gz.txt")" 400 "not gzip: 400"
is "$(body)" '{"code":400,"message":"error decompressing request body: failed to create gzip reader: gzip: invalid header"}' \
    "not gzip: message"
is "$(req -X POST -H "$(octet)" -H 'Content-Encoding: gzip' --data-binary '' \
    "$ENVD_URL/files?path=$W/gz.txt")" 400 "empty gzip body: 400"
is "$(body | jq -r .message)" "error decompressing request body: failed to create gzip reader: EOF" \
    "empty gzip body: message"
is "$(req -X POST -H "$(octet)" -H 'Content-Encoding: br' -d x \
    "$ENVD_URL/files?path=$W/gz.txt")" 400 "Content-Encoding br: 400"
is "$(body | jq -r .message)" "error decompressing request body: unsupported Content-Encoding: br, supported: [gzip]" \
    "Content-Encoding br: message"
is "$(temps "$W")" 0 "no temporary files after gzip failures"

# --- atomic replacement ---------------------------------------------------------
# killed_upload DIR BODY-FILE CURL-ARGS...: send BODY-FILE as a chunked body
# that never ends, check that DIR holds a temporary file meanwhile, then
# SIGKILL curl.
killed_upload() {
	local dir=$1 body=$2 cpid fpid
	shift 2
	rm -f "$TEST_TMP/feed"
	mkfifo "$TEST_TMP/feed"
	curl -s -o /dev/null -X POST -T - "$@" <"$TEST_TMP/feed" &
	cpid=$!
	{ cat "$body"; sleep 1.5; } >"$TEST_TMP/feed" &
	fpid=$!
	sleep 0.7
	is "$(temps "$dir")" 1 "upload in progress: one temporary file"
	kill -9 "$cpid"
	wait "$cpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
	sleep 0.2
}
printf 'original' >"$W/keep.txt"
head -c 3M /dev/zero >"$D/zeros3m"
killed_upload "$W" "$D/zeros3m" -H "$(octet)" "$ENVD_URL/files?path=$W/keep.txt"
is "$(cat "$W/keep.txt")" original "aborted raw upload: old file intact"
is "$(temps "$W")" 0 "aborted raw upload: no temporary file left"
{ printf -- '--b\r\nContent-Disposition: form-data; name="file"; filename="%s/keep.txt"\r\n\r\n' "$W"
  cat "$D/zeros3m"; } >"$D/mpbody"
killed_upload "$W" "$D/mpbody" -H 'Content-Type: multipart/form-data; boundary=b' \
    "$ENVD_URL/files"
is "$(cat "$W/keep.txt")" original "aborted multipart upload: old file intact"
is "$(temps "$W")" 0 "aborted multipart upload: no temporary file left"
head -c 4M /dev/urandom | gzip -1 | head -c 2M >"$D/gzbody"
killed_upload "$W" "$D/gzbody" -H "$(octet)" -H 'Content-Encoding: gzip' \
    "$ENVD_URL/files?path=$W/keep.txt"
is "$(cat "$W/keep.txt")" original "aborted gzip upload: old file intact"
is "$(temps "$W")" 0 "aborted gzip upload: no temporary file left"

full=$TEST_TMP/full
mkdir -p "$full"
if mount -t tmpfs -o size=1m tmpfs "$full" 2>/dev/null; then
	cleanup_fn "umount $full 2>/dev/null"
	printf 'old contents' >"$full/f.txt"
	head -c 3M /dev/urandom >"$D/3m"
	is "$(req -X POST -H "$(octet)" --data-binary @"$D/3m" "$ENVD_URL/files?path=$full/f.txt")" \
	    507 "full disk: 507"
	is "$(body)" '{"code":507,"message":"attempted to write 3145728 bytes: not enough disk space available"}' \
	    "full disk: message with Content-Length"
	is "$(cat "$full/f.txt")" "old contents" "full disk: old file intact"
	is "$(temps "$full")" 0 "full disk: no temporary file left"
	is "$(req -X POST -H "$(octet)" -T "$D/3m" -H 'Transfer-Encoding: chunked' \
	    "$ENVD_URL/files?path=$full/f.txt")" 507 "full disk, chunked: 507"
	is "$(body)" '{"code":507,"message":"not enough disk space available"}' \
	    "full disk, chunked: message"
	is "$(req -X POST -F "file=@$D/3m;filename=$full/g.txt" "$ENVD_URL/files")" 507 \
	    "full disk, multipart: 507"
	check "full disk, multipart: no file" test ! -e "$full/g.txt"
	is "$(cat "$full/f.txt")" "old contents" "full disk: old file still intact"
	is "$(temps "$full")" 0 "full disk: still no temporary file"
	is "$(req -X POST -H "$(octet)" --data-binary small "$ENVD_URL/files?path=$full/f.txt")" \
	    200 "full disk: a small upload still works"
	umount "$full"
else
	for i in 1 2 3 4 5 6 7 8 9 10 11; do ok 0 "# SKIP cannot mount tmpfs"; done
fi

printf 'target' >"$W/target.txt"
ln -s target.txt "$W/link.txt"
is "$(req -X POST -H "$(octet)" --data-binary 'through link' \
    "$ENVD_URL/files?path=$W/link.txt")" 200 "upload through a symlink"
check "the symlink stays a symlink" test -L "$W/link.txt"
is "$(cat "$W/target.txt")" "through link" "the link target has the new contents"
is "$(body)" "[{\"name\":\"link.txt\",\"path\":\"$W/link.txt\",\"type\":\"file\"}]" \
    "the answer names the requested path"

# --- compose -------------------------------------------------------------------
printf 'A' >"$W/c1"; printf 'BB' >"$W/c2"; printf 'CCC' >"$W/c3"
is "$(req -X POST -H 'Content-Type: application/json' \
    -d "{\"source_paths\":[\"$WR/c1\",\"$W/c2\",\"~/$WR/c3\"],\"destination\":\"$WR/out/all\"}" \
    "$ENVD_URL/files/compose")" 200 "compose: 200"
is "$(body)" "{\"name\":\"all\",\"path\":\"$W/out/all\",\"type\":\"file\"}" "compose: body"
is "$(cat "$W/out/all")" ABBCCC "compose: concatenated"
is "$(stat -c '%U:%G' "$W/out/all" "$W/out" | sort -u)" user:user "compose: owned by user"
check "compose: sources deleted" test ! -e "$W/c1" -a ! -e "$W/c2" -a ! -e "$W/c3"
is "$(find "$W/out" -name '*.e2b-compose.*' | wc -l)" 0 "compose: no temporary file"
is "$(req -X POST -d '{"source_paths":[],"destination":"x"}' "$ENVD_URL/files/compose")" 400 \
    "compose: empty sources"
is "$(body)" '{"code":400,"message":"source_paths must not be empty"}' "compose: empty sources body"
is "$(req -X POST -d '{"source_paths":["a"]}' "$ENVD_URL/files/compose")" 400 \
    "compose: no destination"
is "$(body | jq -r .message)" "destination is required" "compose: no destination message"
is "$(req -X POST -d '{"source_paths":["x"],"destination":"x"}' "$ENVD_URL/files/compose")" 400 \
    "compose: source is the destination"
is "$(body | jq -r .message)" 'source path "x" cannot be the same as destination' \
    "compose: source is the destination message"
is "$(req -X POST -d '{"source_paths":["nope"],"destination":"x"}' "$ENVD_URL/files/compose")" 404 \
    "compose: missing source"
is "$(body | jq -r .message)" "source file not found: nope" "compose: missing source message"
is "$(req -X POST -d '{"source_paths":["/tmp"],"destination":"x"}' "$ENVD_URL/files/compose")" 400 \
    "compose: directory source"
is "$(req -X POST -d '{"source_paths":"a","destination":"x"}' "$ENVD_URL/files/compose")" 400 \
    "compose: wrong type"
like "$(body | jq -r .message)" "^invalid request body: json: cannot unmarshal string" \
    "compose: wrong type message"
is "$(req -X POST -d '' "$ENVD_URL/files/compose")" 400 "compose: empty body"
is "$(body | jq -r .message)" "invalid request body: EOF" "compose: empty body message"
printf 'Z' >"$W/z1"
is "$(req -X POST -d "{\"source_paths\":[\"$W/z1\"],\"destination\":\"$W/z\",\"username\":\"bob\"}" \
    "$ENVD_URL/files/compose")" 401 "compose: unknown user"
check "compose: failure keeps the sources" test -e "$W/z1"

# --- pre-signed URLs -----------------------------------------------------------
TOKEN=tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
is "$(http_status -X POST "$ENVD_URL/init" -d "{\"accessToken\":\"$TOKEN\"}")" 204 "token set"
P=$W/signed.txt
printf 'signed' >"$P"
is "$(req "$ENVD_URL/files?path=$P")" 401 "locked: no signature"
is "$(body)" '{"code":401,"message":"missing signature query parameter"}' "locked: missing message"
is "$(req -H "X-Access-Token: $TOKEN" "$ENVD_URL/files?path=$P")" 200 "locked: header token"
is "$(req -H "X-Access-Token: nope" "$ENVD_URL/files?path=$P")" 401 "locked: wrong header"
is "$(body)" '{"code":401,"message":"access token present in header but does not match"}' \
    "locked: wrong header message"
s=$(sig "$P" read "" "$TOKEN")
is "$(req "$ENVD_URL/files?path=$P&signature=$s")" 200 "signed read, no expiry"
is "$(body)" signed "signed read: body"
exp=$(( $(date +%s) + 600 ))
s=$(sig "$P" read "" "$TOKEN" "$exp")
is "$(req "$ENVD_URL/files?path=$P&signature=$s&signature_expiration=$exp")" 200 \
    "signed read with a future expiry"
is "$(req "$ENVD_URL/files?path=$P&signature=$s")" 401 "expiry dropped from the URL"
is "$(body | jq -r .message)" "invalid signature" "expiry dropped: invalid"
old=$(( $(date +%s) - 10 ))
s=$(sig "$P" read "" "$TOKEN" "$old")
is "$(req "$ENVD_URL/files?path=$P&signature=$s&signature_expiration=$old")" 401 \
    "expired signature"
is "$(body)" '{"code":401,"message":"signature is already expired"}' "expired: message"
s=$(sig "$P" read root "$TOKEN")
is "$(req "$ENVD_URL/files?path=$P&username=user&signature=$s")" 401 "signed for another user"
is "$(body | jq -r .message)" "invalid signature" "another user: invalid"
s=$(sig "$P" read user "$TOKEN")
is "$(req "$ENVD_URL/files?path=$P&username=user&signature=$s")" 200 "signed with username"
is "$(req -X POST -H "$(octet)" -d x "$ENVD_URL/files?path=$P&username=user&signature=$s")" 401 \
    "a read signature does not allow writes"
s=$(sig "$P" write "" "$TOKEN")
is "$(req -X POST -H "$(octet)" --data-binary w "$ENVD_URL/files?path=$P&signature=$s")" 200 \
    "signed write"
is "$(cat "$P")" w "signed write: contents"
is "$(req "$ENVD_URL/files?path=$P&signature=$s")" 401 "a write signature does not allow reads"
s=$(sig "hello.txt" read "" "$TOKEN")
is "$(req "$ENVD_URL/files?path=$P&signature=$s")" 401 "signature of another path"
is "$(req "$ENVD_URL/files?path=$P&signature=")" 401 "empty signature: invalid"
is "$(body | jq -r .message)" "invalid signature" "empty signature: message"
is "$(req -X POST -d '{"source_paths":["a"],"destination":"b"}' "$ENVD_URL/files/compose")" 401 \
    "compose is behind the token gate"

stop_envd
done_testing
