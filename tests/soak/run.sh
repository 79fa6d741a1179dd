#!/bin/bash
# run.sh - make soak: start envd under a descriptor limit of SOAK_NOFILE
# (default 1024, soft and hard) at the nice value SOAK_NICE (default -20,
# as its systemd unit runs it; the children it starts run at 0), run
# tests/soak/soak.py against it for SOAK_SECONDS (default 60) in a new
# directory under SOAK_DIR (default /tmp), stop it. Usage: run.sh ENVD_BINARY
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../functions.sh"
dir=$(mktemp -d "${SOAK_DIR:-/tmp}/envd-soak.XXXXXX")
cleanup_fn rm -rf "$dir"
# A wrapper that execs the daemon, so that its pid is the daemon's.
ENVD_BIN=$TEST_TMP/envd-limited
printf '#!/bin/sh\nexec nice -n %s prlimit --nofile=%s:%s %s "$@"\n' \
	"${SOAK_NICE:--20}" "${SOAK_NOFILE:-1024}" "${SOAK_NOFILE:-1024}" \
	"$1" >"$ENVD_BIN"
chmod +x "$ENVD_BIN"
start_envd || exit 1
grep '^Max open files' "/proc/$ENVD_PID/limits"
echo "nice $(ps -o ni= -p "$ENVD_PID" | tr -d ' ')"
python3 "$here/soak.py" "$ENVD_PID" "$ENVD_URL" "${SOAK_SECONDS:-60}" "$dir"
rc=$?
stop_envd || rc=1
echo "envd log: $(grep -c . "$ENVD_LOG") lines, $(grep -c 'accept:' "$ENVD_LOG") on accept"
echo "most frequent envd log lines (digits as N):"
sed 's/[0-9][0-9]*/N/g' "$ENVD_LOG" | sort | uniq -c | sort -rn | head -5
exit $rc
