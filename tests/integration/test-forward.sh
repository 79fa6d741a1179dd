#!/usr/bin/env bash
# Port forwarding of loopback listeners: the daemon runs in a "sandbox"
# namespace joined by a veth pair to a "host" namespace (documentation
# addresses, no route anywhere else) and forwards the sandbox's loopback
# listeners to the addresses of its interface, which it finds itself and
# follows as they change. Also: peers that reset, a service that never
# reads, and a descriptor limit too low for every connection.
. "$(dirname "$0")/../functions.sh"

requires ip netns list
requires python3 --version
requires ss -V
requires prlimit --version
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root for network namespaces"; exit 0; }

peer=$(cd "$(dirname "$0")" && pwd)/forward-peer.py
HOST=fwdh$$
SB=fwds$$
cleanup_fn "ip netns del $HOST 2>/dev/null; ip netns del $SB 2>/dev/null"
cleanup_fn 'for p in ${server_pids[@]+"${server_pids[@]}"}; do kill $p 2>/dev/null; done'
server_pids=()

ip netns add "$HOST" && ip netns add "$SB" &&
ip link add "fwa$$" netns "$HOST" type veth peer name "fwb$$" netns "$SB" &&
ip -n "$HOST" addr add 192.0.2.1/24 dev "fwa$$" &&
ip -n "$SB" addr add 192.0.2.2/24 dev "fwb$$" &&
ip -n "$HOST" -6 addr add 2001:db8::1/64 dev "fwa$$" nodad &&
ip -n "$SB" -6 addr add 2001:db8::2/64 dev "fwb$$" nodad &&
ip -n "$HOST" link set lo up && ip -n "$SB" link set lo up &&
ip -n "$HOST" link set "fwa$$" up && ip -n "$SB" link set "fwb$$" up
ok $? "host and sandbox namespaces with a veth pair"

in_host() { ip netns exec "$HOST" "$@"; }
in_sb() { ip netns exec "$SB" "$@"; }

if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
	big=$((64 << 20))
else
	big=$((1 << 30))
fi

# serve ADDR PORT [MODE]: a server in the sandbox (forward-peer.py MODE,
# default serve), returning once it listens (the clock of the 2 s checks
# starts then); sets $server.
serve() {
	local i
	ip netns exec "$SB" python3 "$peer" "${3:-serve}" "$1" "$2" &
	server=$!
	server_pids+=("$server")
	for i in $(seq 1 100); do
		in_sb ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
}

# wait_for WHAT SECONDS CMD...: poll CMD every 100 ms; prints the seconds
# it took and returns 0, or returns 1 after SECONDS.
wait_for() {
	local t0 now what=$1 lim=$2
	shift 2
	t0=$(date +%s%N)
	while :; do
		if "$@" >/dev/null 2>&1; then
			now=$(date +%s%N)
			echo "# $what after $(( (now - t0) / 1000000 )) ms"
			return 0
		fi
		now=$(date +%s%N)
		[ $(( (now - t0) / 1000000 )) -lt $((lim * 1000)) ] || return 1
		sleep 0.1
	done
}
# reach HOST PORT: a TCP connection from the host namespace succeeds.
reach() { in_host timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
refused() { ! reach "$1" "$2"; }
listeners() { in_sb ss -Hltn "sport = :$1" | awk '{ print $4 }' | sort | tr '\n' ' '; }
fds() { ls "/proc/$ENVD_PID/fd" | wc -l; }

ENVD_NETNS=$SB
start_envd -verbose
ok $? "daemon starts in the sandbox namespace"
# The line is written once the response is out, which may be after curl saw it.
wait_for "request line" 2 grep -q '"path":"/health","status":204' "$ENVD_LOG"
ok $? "with -verbose, a 204 from /health is logged"

# A 127.0.0.1 server becomes reachable from the host within 2 s.
P=$(free_port)
serve 127.0.0.1 "$P"
wait_for "forwarded" 2 reach 192.0.2.2 "$P"
ok $? "127.0.0.1:$P reachable at 192.0.2.2:$P within 2 s"
is "$(in_host python3 "$peer" hash 192.0.2.2 "$P" 5)" \
    "$(python3 "$peer" expect 5)" "half-close: client shuts down writing, reads the answer"
is "$(in_host python3 "$peer" hash 192.0.2.2 "$P" "$big")" \
    "$(python3 "$peer" expect "$big")" "$((big >> 20)) MiB upload arrives intact"
is "$(in_host python3 "$peer" get 192.0.2.2 "$P" "$big")" \
    "$(python3 "$peer" expect "$big")" "$((big >> 20)) MiB download arrives intact"
is "$(in_host python3 "$peer" parallel 192.0.2.2 "$P" 200)" 200 \
    "200 parallel connections all answered"
is "$(in_host python3 "$peer" hash '2001:db8::2' "$P" 3)" \
    "$(python3 "$peer" expect 3)" "IPv4 listener also reachable at [2001:db8::2]"
grep -q "port forward started: port $P (IPv4)" "$ENVD_LOG"
ok $? "debug line for the forward started"

# 1,000 idle forwarded connections, then closed: the API answers
# throughout and the daemon's descriptors return to the baseline.
base=$(fds)
mkfifo "$TEST_TMP/idle"
in_host python3 "$peer" idle 192.0.2.2 "$P" 1000 <"$TEST_TMP/idle" >"$TEST_TMP/idle.out" &
idle=$!
exec 9>"$TEST_TMP/idle"
wait_for "1000 connections open" 30 grep -q 'open 1000' "$TEST_TMP/idle.out"
ok $? "1000 idle connections opened"
is "$(in_sb curl -s -m 2 -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" 204 \
    "/health answers with 1000 forwarded connections open"
held=$(fds)
[ "$held" -ge $((base + 1000)) ]
ok $? "descriptors held: $base -> $held"
exec 9>&-
wait "$idle"
fds_le() { [ "$(fds)" -le "$1" ]; }
wait_for "descriptors back" 10 fds_le "$base"
ok $? "descriptor count back to the baseline ($(fds) <= $base)"
is "$(in_sb curl -s -m 2 -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" 204 \
    "/health answers after they closed"

# The server stops: unreachable within 2 s, and the forward is gone.
kill "$server"; wait "$server" 2>/dev/null
wait_for "unreachable" 2 refused 192.0.2.2 "$P"
ok $? "unreachable within 2 s of the server stopping"
wait_for "listener gone" 2 test -z "$(listeners "$P")"
ok $? "no listener left on port $P"
grep -q "port forward stopped: port $P (IPv4)" "$ENVD_LOG"
ok $? "debug line for the forward stopped"

# ::1 is forwarded to the IPv6 address (and the IPv4 one).
P6=$(free_port)
serve ::1 "$P6"
wait_for "forwarded" 2 reach 2001:db8::2 "$P6"
ok $? "[::1]:$P6 reachable at [2001:db8::2]:$P6 within 2 s"
is "$(in_host python3 "$peer" hash 2001:db8::2 "$P6" 100000)" \
    "$(python3 "$peer" expect 100000)" "IPv6 exchange intact"
grep -q "port forward started: port $P6 (IPv6)" "$ENVD_LOG"
ok $? "debug line names IPv6"
kill "$server"; wait "$server" 2>/dev/null
wait_for "unreachable" 2 refused 2001:db8::2 "$P6"
ok $? "IPv6 forward unreachable within 2 s of stopping"

# A v4-mapped listener (::ffff:127.0.0.1) counts as 127.0.0.1.
PM=$(free_port)
serve ::ffff:127.0.0.1 "$PM"
wait_for "forwarded" 2 reach 192.0.2.2 "$PM"
ok $? "v4-mapped ::ffff:127.0.0.1:$PM reachable at 192.0.2.2"
is "$(in_host python3 "$peer" hash 192.0.2.2 "$PM" 9)" \
    "$(python3 "$peer" expect 9)" "v4-mapped exchange intact"
kill "$server"; wait "$server" 2>/dev/null

# A wildcard server is reachable already and gets no second listener.
PW=$(free_port)
serve 0.0.0.0 "$PW"
sleep 2.5
is "$(listeners "$PW")" "0.0.0.0:$PW " "wildcard server: no forward listener"
kill "$server"; wait "$server" 2>/dev/null

# The daemon's own port is not forwarded (it listens on every address).
l=$(listeners "$ENVD_PORT")
[[ "$l" != *192.0.2.2* && "$l" != *2001:db8::2* ]]
ok $? "API port $ENVD_PORT not forwarded ($l)"

# A port taken on the forward address is skipped and logged once.
PB=$(free_port)
serve 192.0.2.2 "$PB"
b1=$server
serve 127.0.0.1 "$PB"
sleep 2.5
is "$(grep -c "port $PB not forwarded on 192.0.2.2" "$ENVD_LOG")" 1 \
    "port taken on the forward address logged once"
is "$(in_host python3 "$peer" hash 2001:db8::2 "$PB" 7)" \
    "$(python3 "$peer" expect 7)" "still forwarded on the other address"
kill "$server" "$b1"; wait "$server" "$b1" 2>/dev/null

# The rest runs against one more server.
PR=$(free_port)
serve 127.0.0.1 "$PR"
wait_for "forwarded" 2 reach 192.0.2.2 "$PR"
ok $? "127.0.0.1:$PR forwarded"
estab() { in_sb ss -Htn state established "( sport = :$1 or dport = :$1 )" | wc -l; }
no_estab() { [ "$(estab "$1")" = 0 ]; }
vmrss() { awk '/^VmRSS:/ { print $2 }' "/proc/$ENVD_PID/status"; }

# A client that resets in the middle of an upload: the service's side is
# closed too and the daemon's descriptors return to the baseline.
base=$(fds)
in_host python3 "$peer" reset 192.0.2.2 "$PR" $((8 << 20))
wait_for "both sides closed" 3 no_estab "$PR"
ok $? "client reset mid-upload: no connection left on either side ($(estab "$PR"))"
wait_for "descriptors back" 3 fds_le "$base"
ok $? "descriptors back after the client's reset ($(fds) <= $base)"

# A service that resets in the middle of a download: the client sees a
# reset, not an orderly end that would pass for the whole answer.
like "$(in_host python3 "$peer" resetget 192.0.2.2 "$PR")" '^reset [0-9]+$' \
    "service reset mid-download reaches the client as a reset"
wait_for "both sides closed" 3 no_estab "$PR"
ok $? "service reset: no connection left on either side"
wait_for "descriptors back" 3 fds_le "$base"
ok $? "descriptors back after the service's reset ($(fds) <= $base)"

if [ "${ENVD_VALGRIND:-0}" = 1 ]; then
	echo "# descriptor limit and memory bounds not checked under valgrind"
else
	# Descriptor exhaustion: with the limit lowered to 128, the
	# forwarder keeps to its share (the limit less a reserve of 32), so
	# the connections past it are reset at once, the API still answers,
	# and forwarding comes back when the connections close.
	soft=$(awk '/^Max open files/ { print $4 }' "/proc/$ENVD_PID/limits")
	prlimit --pid "$ENVD_PID" --nofile=128:
	ok $? "soft descriptor limit lowered to 128 (was $soft)"
	sleep 1.5	# the budget follows the limit at the next scan
	mkfifo "$TEST_TMP/hold"
	in_host python3 "$peer" hold 192.0.2.2 "$PR" 60 <"$TEST_TMP/hold" >"$TEST_TMP/hold.out" &
	holder=$!
	exec 9>"$TEST_TMP/hold"
	wait_for "60 connections tried" 30 grep -q alive "$TEST_TMP/hold.out"
	ok $? "60 connections tried under a limit of 128"
	read -r _ alive _ refused <"$TEST_TMP/hold.out"
	[ "${alive:-0}" -ge 5 ] && [ "${refused:-0}" -ge 1 ]
	ok $? "$alive forwarded, $refused reset at once"
	is "$(in_sb curl -s -m 2 -o /dev/null -w '%{http_code}' "$ENVD_URL/health")" 204 \
	    "/health answers with the forwarder at its descriptor share"
	[ $(($(fds) - base)) -le 96 ]
	ok $? "forwarder within its share: $(($(fds) - base)) descriptors over the baseline (share 96 of 128)"
	is "$(grep -c 'refusing new connections' "$ENVD_LOG")" 1 "refusing logged once"
	exec 9>&-
	wait "$holder"
	wait_for "descriptors back" 10 fds_le "$base"
	ok $? "descriptors back after the held connections closed ($(fds) <= $base)"
	wait_for "forwarding again" 3 in_host python3 "$peer" probe 192.0.2.2 "$PR"
	ok $? "forwarding works again under the low limit"
	grep -q 'accepting connections again' "$ENVD_LOG"
	ok $? "recovery logged"
	prlimit --pid "$ENVD_PID" --nofile="$soft":
	ok $? "soft descriptor limit restored"

	# A service that accepts and never reads: the client is held back
	# through TCP (the pipe and the socket buffers are all that fills),
	# and the daemon's VmRSS stays within 4 MiB of where it was.
	PS=$(free_port)
	serve 127.0.0.1 "$PS" stall
	stall=$server
	wait_for "forwarded" 2 reach 192.0.2.2 "$PS"
	ok $? "never-reading service forwarded"
	rss0=$(vmrss)
	rmax=$rss0
	in_host python3 "$peer" push 192.0.2.2 "$PS" $((64 << 20)) 5 >"$TEST_TMP/push.out" &
	pusher=$!
	for i in $(seq 1 80); do
		kill -0 "$pusher" 2>/dev/null || break
		r=$(vmrss)
		[ "$r" -le "$rmax" ] || rmax=$r
		[ "$i" = 20 ] && hs=$(in_sb curl -s -m 2 -o /dev/null -w '%{http_code}' "$ENVD_URL/health")
		sleep 0.1
	done
	wait "$pusher"
	sent=$(cat "$TEST_TMP/push.out")
	[ "${sent:-0}" -gt 0 ] && [ "$sent" -lt $((64 << 20)) ]
	ok $? "back-pressure: the client got $sent of 64 MiB out in 5 s"
	[ $((rmax - rss0)) -lt 4096 ]
	ok $? "daemon VmRSS $rss0 -> at most $rmax kB while pushing (bound +4096 kB)"
	is "${hs:-}" 204 "/health answers while a client pushes into the stalled service"
	kill "$stall"; wait "$stall" 2>/dev/null
	wait_for "descriptors back" 5 fds_le "$base"
	ok $? "descriptors back after the stalled service ended ($(fds) <= $base)"
fi

# The forward addresses follow the interface: a new address is forwarded
# on at the next scan, a removed one is dropped.
in_sb sysctl -qw "net.ipv4.conf.fwb$$.promote_secondaries=1" &&
in_sb ip addr add 192.0.2.3/24 dev "fwb$$"
ok $? "address 192.0.2.3 added to the sandbox interface"
wait_for "forwarded on the new address" 2 reach 192.0.2.3 "$PR"
ok $? "forward follows: reachable at 192.0.2.3:$PR within 2 s"
in_sb ip addr del 192.0.2.2/24 dev "fwb$$"
ok $? "address 192.0.2.2 removed"
not_on() { [[ "$(listeners "$1")" != *"$2:"* ]]; }
wait_for "old address dropped" 2 not_on "$PR" 192.0.2.2
ok $? "no forward listener left on 192.0.2.2 ($(listeners "$PR"))"
is "$(in_host python3 "$peer" hash 192.0.2.3 "$PR" 11)" \
    "$(python3 "$peer" expect 11)" "exchange through the new address intact"
grep -q 'forward address 192.0.2.3 added' "$ENVD_LOG" &&
grep -q 'forward address 192.0.2.2 gone' "$ENVD_LOG"
ok $? "address changes logged"
kill "$server"; wait "$server" 2>/dev/null

! grep -q "$(python3 "$peer" expect 5 | cut -c1-16)" "$ENVD_LOG"
ok $? "no data in the log"

stop_envd
done_testing
