# functions.sh - shared helpers for the integration tests (sourced).
#
# Every test prints TAP. start_envd runs the real daemon on a free port with
# its stderr in $ENVD_LOG; the EXIT trap stops it and removes temp files.
# ENVD_VALGRIND=1 runs the daemon under valgrind and fails the test on any
# error or leak it reports. With ENVD_NETNS set, start_envd runs the daemon
# (and its health checks) in that network namespace.

set -u

: "${ENVD_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/envd/envd}"
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/envd-test.XXXXXX")
ENVD_PID=
ENVD_PORT=
ENVD_LOG=$TEST_TMP/envd.log
ENVD_URL=
tap_n=0
tap_failed=0
cleanup_fns=()

cleanup_fn() { cleanup_fns+=("$*"); }

_cleanup() {
	local f
	for f in "${cleanup_fns[@]+"${cleanup_fns[@]}"}"; do eval "$f" || :; done
	[ -n "$ENVD_PID" ] && kill -9 "$ENVD_PID" 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap _cleanup EXIT

# ok COND_STATUS NAME: record a test point from an exit status.
ok() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

# check NAME CMD...: a test point that passes when CMD succeeds.
check() {
	local name=$1
	shift
	"$@"
	ok $? "$name"
}

# is GOT WANT NAME
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
	fi
}

# like GOT REGEX NAME
like() {
	if [[ "$1" =~ $2 ]]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:  %s\n#   want match: %s\n' "$1" "$2"
	fi
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# requires CMD...: skip the whole test (a TAP skip plan) when CMD fails.
requires() {
	if ! "$@" >/dev/null 2>&1; then
		echo "1..0 # SKIP requires $*"
		exit 0
	fi
}

free_port() {
	local p
	while :; do
		# Below the kernel's ephemeral range (32768 and up), so a
		# client socket cannot be holding the port.
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# in_envd_ns CMD...: run CMD in the daemon's namespace ($ENVD_NETNS), if any.
in_envd_ns() {
	if [ -n "${ENVD_NETNS:-}" ]; then
		ip netns exec "$ENVD_NETNS" "$@"
	else
		"$@"
	fi
}

# start_envd [FLAGS...]: start the daemon and wait for /health.
start_envd() {
	local attempt
	# Another test may take the same free port first: try again then.
	for attempt in 1 2 3; do
		_start_envd_once "$@" && return 0
		grep -q 'Address already in use' "$ENVD_LOG" || return 1
		echo "# port $ENVD_PORT was taken; trying another"
	done
	return 1
}

_start_envd_once() {
	local i
	local -a ns=()
	# ip netns exec execs the daemon, so $! stays the daemon's pid.
	[ -z "${ENVD_NETNS:-}" ] || ns=(ip netns exec "$ENVD_NETNS")
	ENVD_PORT=$(free_port)
	ENVD_URL=http://127.0.0.1:$ENVD_PORT
	if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
		"${ns[@]+"${ns[@]}"}" valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
		    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
		    --log-file="$TEST_TMP/valgrind.log" \
		    "$ENVD_BIN" -isnotfc -port "$ENVD_PORT" "$@" 2>"$ENVD_LOG" &
	else
		"${ns[@]+"${ns[@]}"}" "$ENVD_BIN" -isnotfc -port "$ENVD_PORT" \
		    "$@" 2>"$ENVD_LOG" &
	fi
	ENVD_PID=$!
	for i in $(seq 1 400); do
		if [ "$(in_envd_ns curl -s -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" = 204 ]; then
			return 0
		fi
		if ! kill -0 "$ENVD_PID" 2>/dev/null; then
			echo "# envd exited during startup:"
			sed 's/^/#   /' "$ENVD_LOG"
			return 1
		fi
		sleep 0.025
	done
	echo "# envd did not become healthy"
	return 1
}

# stop_envd: SIGTERM, wait (bounded), and record the exit status as a test.
stop_envd() {
	local i st
	[ -n "$ENVD_PID" ] || return 0
	kill -TERM "$ENVD_PID"
	for i in $(seq 1 200); do
		kill -0 "$ENVD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$ENVD_PID" 2>/dev/null; then
		ok 1 "envd exits after SIGTERM"
		kill -9 "$ENVD_PID"
		ENVD_PID=
		return 1
	fi
	wait "$ENVD_PID"
	st=$?
	ENVD_PID=
	is "$st" 0 "envd exits 0 after SIGTERM"
	if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
		# Notes on system calls and ioctls valgrind does not know
		# (pidfd_open before valgrind 3.20, openpty's TIOCGPTPEER) are not
		# findings: the daemon copes with ENOSYS.
		sed -i -e '/WARNING: unhandled .* syscall: /,+4d' \
		    -e '/Warning: noted but unhandled ioctl /,+2d' \
		    "$TEST_TMP/valgrind.log"
		if [ -s "$TEST_TMP/valgrind.log" ]; then
			sed 's/^/#   /' "$TEST_TMP/valgrind.log" | head -60
		fi
		[ ! -s "$TEST_TMP/valgrind.log" ]
		ok $? "valgrind reports no error or leak"
	fi
}

# wait_line FILE REGEX [SECONDS]: wait until a line of FILE matches REGEX
# (grep -E), SECONDS (default 10) at most; returns 1 if none came.
wait_line() {
	local i
	for i in $(seq 1 $((${3:-10} * 10))); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# envd_sanitized: whether $ENVD_BIN is an ASan build. ASan keeps freed
# memory in quarantine and runs several times slower, so a bound on the
# daemon's RSS says nothing there.
envd_sanitized() { grep -qa __asan_init "$ENVD_BIN"; }

# ok_rss STATUS DESC: ok for a bound on the daemon's memory; a skip in a
# sanitizer build.
ok_rss() {
	if envd_sanitized; then
		ok 0 "$2 # SKIP sanitizer build"
	else
		ok "$1" "$2"
	fi
}

# http ARGS...: curl printing the status code only.
http_status() {
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

# ensure_user NAME: create a test user with a home and bash as shell.
ensure_user() {
	id "$1" >/dev/null 2>&1 || useradd -m -s /bin/bash "$1"
}
