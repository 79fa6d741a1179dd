#!/usr/bin/env bash
# run.sh - the daemon's benchmarks, each printed beside a reference measured
# in the same run (these machines drift between sittings, so only ratios
# from one run mean anything).
#   bench/run.sh ENVD_BINARY [SECTION...]
# Sections: footprint rpc files exec vm forward edge egress (default: all
# but edge and egress). Needs nginx-light and wrk (tools/deps.sh --bench);
# vm needs root and a /dev/kvm that boots the template image
# (ENVD_VM_ACCEL=tcg to emulate), and skips itself otherwise; edge needs
# root, haproxy and ENVD_EDGE (default: envd-edge next to the daemon's
# build directory); egress needs the same plus nft and dnsmasq (not nginx
# nor wrk); forward needs root, iproute2 and socat, and skips itself
# otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envd=$(readlink -f "${1:?usage: run.sh ENVD_BINARY [SECTION...]}")
shift
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(footprint rpc files exec vm forward)

tmp=$(mktemp -d /tmp/envd-bench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || :; done
	rm -rf "$tmp"
}
trap cleanup EXIT

cc -O2 -o "$tmp/benchtool" "$here/benchtool.c"
bt=$tmp/benchtool

free_port() {
	local p
	while :; do
		# Below the kernel's ephemeral range (32768 and up), so a
		# client socket (the load's own, or one in TIME_WAIT) cannot
		# be holding the port.
		p=$((20000 + RANDOM % 12000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
# verdict OK-CONDITION TEXT
verdict() { if awk "BEGIN { exit !($1) }"; then echo "  PASS $2"; else echo "  MISS $2"; fi; }

# nginx with one worker, answering 204 on /health; prints its master pid.
nginx_start() {
	local port=$1 addr=${2:-127.0.0.1} conf=$tmp/nginx.conf
	mkdir -p "$tmp/nginx"
	cat >"$conf" <<NGX
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
user root;
events { worker_connections 4096; use epoll; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	keepalive_requests 10000000;
	server {
		listen $addr:$port backlog=4096;
		location = /health { return 204; }
		location = /big { alias $tmp/big; }
		location = /rpc { default_type application/json; return 200 '{"entry":{"name":"user","type":"FILE_TYPE_DIRECTORY","path":"/home/user","size":"4096","mode":493,"permissions":"drwxr-xr-x","owner":"user","group":"user","modifiedTime":"2026-11-22T07:00:00.123456789Z"}}'; }
	}
}
NGX
	nginx -c "$conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
	echo $!
}

rss_kb() {	# PID...: summed VmRSS in kB
	local p t=0
	for p in "$@"; do t=$((t + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done
	echo "$t"
}

# private_libs BINARY DIR: copy BINARY's dynamic loader (as DIR/ld.so) and
# shared libraries (under their sonames) into DIR. The referenced state
# the kernel reports for a page-cache page is set by every process that
# uses the page, so on a machine running anything else most of libc and
# the loader look touched whatever the measured process does (about 1 MB
# within a second here); the copies are mapped by that process alone. A
# static binary has neither: DIR stays empty.
private_libs() {
	mkdir -p "$2"
	{ ldd "$1" 2>/dev/null || :; } | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }
	    $1 ~ /^\// { print "ld.so", $1 }' |
	while read -r name path; do cp -L "$path" "$2/$name"; done
}

# resume_kb PID URL: after a second of idleness, clear PID's referenced
# bits, send what the orchestrator sends on a resume (POST /init with a
# token, environment, user and timestamp, then GET /health) and print the
# kB of pages PID referenced meanwhile.
resume_kb() {
	local pid=$1 url=$2 ts
	sleep 1
	ts=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	echo 1 >"/proc/$pid/clear_refs"
	curl -s -o /dev/null -X POST "$url/init" -H 'X-Access-Token: bench-token' \
	    -H 'Content-Type: application/json' --data-binary \
	    "{\"accessToken\":\"bench-token\",\"envVars\":{\"BENCH\":\"1\"},\"defaultUser\":\"root\",\"defaultWorkdir\":\"/root\",\"timestamp\":\"$ts\"}" ||
	    :	# the minimal server closes after one read: curl may see a reset
	curl -s -o /dev/null "$url/health" || :
	awk '/^Referenced:/ { print $2 }' "/proc/$pid/smaps_rollup"
}

# touched_by PID: "mapping kB" of its referenced pages, largest first.
touched_by() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { n = $6; sub(/.*\//, "", n); if (n == "") n = "[anon]" }
	    /^Referenced:/ { r[n] += $2 }
	    END { for (n in r) if (r[n] > 0) print r[n], n }' "/proc/$1/smaps" |
	    sort -rn | awk '{ printf "%s%s %s kB", (NR > 1 ? ", " : ""), $2, $1 }'
}

# footprint_of LABEL PORT BINARY ARG...: run BINARY ARG... on its private
# copies of its libraries, answering on PORT; write "IDLE_RSS_KB RESUME_KB
# (FIRST SECOND THIRD)" (RESUME_KB: the largest of three resumes, the first
# being the first requests since start-up) to $tmp/fp-LABEL and the
# per-mapping pages of the last resume to $tmp/touched-LABEL.
footprint_of() {
	local label=$1 port=$2 bin=$3 dir=$tmp/libs-$1 pid rss r a b c
	shift 3
	private_libs "$bin" "$dir"
	if [ -x "$dir/ld.so" ]; then
		"$dir/ld.so" --library-path "$dir" "$bin" "$@" 2>/dev/null &
	else
		"$bin" "$@" 2>/dev/null &
	fi
	pid=$!
	pids+=("$pid")
	"$bt" wait "http://127.0.0.1:$port/health" ||
	    { echo "  $label: no answer on port $port" >&2; return 1; }
	sleep 1
	rss=$(rss_kb "$pid")
	a=$(resume_kb "$pid" "http://127.0.0.1:$port")
	b=$(resume_kb "$pid" "http://127.0.0.1:$port")
	c=$(resume_kb "$pid" "http://127.0.0.1:$port")
	touched_by "$pid" >"$tmp/touched-$label"
	kill "$pid"; wait "$pid" 2>/dev/null || :
	r=$(printf '%s\n' "$a" "$b" "$c" | sort -n | tail -1)
	echo "$rss $r ($a $b $c)" >"$tmp/fp-$label"
}

section_footprint() {
	local port out floor floor_min envd_ms nginx_pid worker n_rss f e
	echo "== footprint: start-up (exec -> first 204 on /health, 20 runs), idle memory" \
	    "and pages touched per resume, beside the minimal C server"
	port=$(free_port)
	out=$("$bt" startup -n 20 "http://127.0.0.1:$port/health" -- "$bt" serve "$port")
	floor=$(echo "$out" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
	floor_min=$(echo "$out" | sed -n 's/.*min=\([0-9.]*\).*/\1/p')
	echo "  floor (minimal C server):  $out"
	port=$(free_port)
	# The daemon's log lines (stderr) go to a file, not between the figures.
	out=$("$bt" startup -n 20 "http://127.0.0.1:$port/health" -- "$envd" -isnotfc -port "$port" \
	    2>"$tmp/startup-envd.log") || tail -5 "$tmp/startup-envd.log"
	envd_ms=$(echo "$out" | sed -n 's/.*median=\([0-9.]*\).*/\1/p')
	echo "  envd:                      $out"
	echo "  start-up ratio envd/floor: $(ratio "$envd_ms" "$floor") median," \
	    "$(ratio "$(echo "$out" | sed -n 's/.*min=\([0-9.]*\).*/\1/p')" "$floor_min") min" \
	    "(medians are noisy on a loaded machine)"
	verdict "${envd_ms:-1e9} <= 1.5 * ${floor:-0}" "start-up median ${envd_ms:-(none)} ms, $(ratio "$envd_ms" "$floor")x the floor's ${floor} ms (bar <= 1.5x)"

	# Idle VmRSS and resumes, each process on its own copies of its
	# shared libraries (see private_libs).
	command -v curl >/dev/null || { echo "  curl not installed: memory skipped"; return; }
	port=$(free_port)
	footprint_of floor "$port" "$bt" serve "$port"
	port=$(free_port)
	footprint_of envd "$port" "$envd" -isnotfc -port "$port"
	read -r -a f <"$tmp/fp-floor"
	read -r -a e <"$tmp/fp-envd"
	echo "  idle VmRSS:          envd ${e[0]} kB, floor ${f[0]} kB"
	echo "  touched per resume:  envd ${e[1]} kB ${e[2]} ${e[3]} ${e[4]}, floor ${f[1]} kB ${f[2]} ${f[3]} ${f[4]}" \
	    "(POST /init + GET /health after 1 s idle; largest of 3)"
	echo "  envd's pages touched by mapping: $(cat "$tmp/touched-envd")"
	if command -v nginx >/dev/null; then
		port=$(free_port)
		nginx_pid=$(nginx_start "$port")
		pids+=("$nginx_pid")
		"$bt" wait "http://127.0.0.1:$port/health"
		sleep 1
		worker=$(ps -o pid= --ppid "$nginx_pid" | tr -d ' ' | head -1)
		n_rss=$(rss_kb "$nginx_pid" $worker)
		kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || :
		echo "  (for comparison: nginx master + 1 worker idle VmRSS ${n_rss} kB, shared libraries)"
	fi
	verdict "${e[0]} <= 2048" "idle VmRSS ${e[0]} kB, floor ${f[0]} kB (bar <= 2048 kB)"
	verdict "${e[1]} <= 1024" "touched per resume ${e[1]} kB, floor ${f[1]} kB (bar <= 1024 kB)"
}

# wrk_run LABEL WRK-ARGS...: 10 s at 64 keep-alive connections (2 threads);
# prints "RPS P50_US P99_US NON2XX" and keeps the raw output in $tmp.
wrk_run() {
	local label=$1 out
	shift
	out=$tmp/wrk-$label.txt
	wrk -t2 -c64 -d10s --latency "$@" >"$out" 2>&1
	awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return (v + 0) * 1000
		if (v ~ /s$/) return (v + 0) * 1000000
		return v + 0
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = us($2) }
	$1 == "99%" { p99 = us($2) }
	/Non-2xx or 3xx responses:/ { bad = $NF }
	END { printf "%d %d %d %d\n", rps, p50, p99, bad + 0 }' "$out"
}

# median_of "RPS P50 P99 NON2XX"...: the field-wise median (worst NON2XX).
median_of() {
	printf '%s\n' "$@" | awk '
	{ for (i = 1; i <= 4; i++) v[i, NR] = $i }
	END {
		for (i = 1; i <= 3; i++) {
			for (j = 1; j <= NR; j++) a[j] = v[i, j]
			for (j = 1; j <= NR; j++) for (k = j + 1; k <= NR; k++)
				if (a[k] < a[j]) { t = a[j]; a[j] = a[k]; a[k] = t }
			m[i] = NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)
		}
		bad = 0
		for (j = 1; j <= NR; j++) if (v[4, j] > bad) bad = v[4, j]
		printf "%d %d %d %d\n", m[1], m[2], m[3], bad
	}'
}

# report NAME "RPS P50 P99 NON2XX": one line of the table.
report() {
	local r
	read -r -a r <<<"$2"
	printf '  %-34s %8s req/s  p50 %6s us  p99 %7s us%s\n' "$1" "${r[0]}" \
	    "${r[1]}" "${r[2]}" "$([ "${r[3]}" = 0 ] || echo "  (${r[3]} non-2xx!)")"
}

# per_req TICKS LABEL: microseconds of CPU per request of the wrk run LABEL.
per_req() {
	awk -v t="$1" -v h="$(getconf CLK_TCK)" '/ requests in / { n = $1 }
	    END { printf "%.1f", (n > 0 ? t / h * 1e6 / n : 0) }' "$tmp/wrk-$2.txt"
}

# The rpc section alternates the daemon and nginx RPC_RUNS times (default 5)
# and reports medians, since this machine's load changes within seconds.
# Beside each rate it prints the server's CPU time per request (user +
# system, kernel work in its context included), which other load disturbs
# much less than the rate.
section_rpc() {
	local port nport envd_pid nginx_pid nworker e n eh nh wdir out i runs c0 p99 fp99
	local -a es ns ehs nhs ces cns cehs cnhs
	runs=${RPC_RUNS:-5}
	echo "== rpc: unary Connect JSON (Stat) and /health beside nginx (1 worker);" \
	    "wrk 2 threads, 64 keep-alive connections, 10 s per run, $runs" \
	    "alternating runs, medians"
	command -v wrk >/dev/null || { echo "  wrk not installed: skipped"; return; }
	command -v nginx >/dev/null || { echo "  nginx not installed: skipped"; return; }
	port=$(free_port)
	"$envd" -isnotfc -port "$port" 2>/dev/null &
	envd_pid=$!
	pids+=("$envd_pid")
	"$bt" wait "http://127.0.0.1:$port/health"
	nport=$(free_port)
	nginx_pid=$(nginx_start "$nport")
	pids+=("$nginx_pid")
	"$bt" wait "http://127.0.0.1:$nport/health"
	nworker=$(ps -o pid= --ppid "$nginx_pid" | tr -d ' ' | head -1)

	export RPC_BODY='{"path":"/tmp"}' RPC_CTYPE=application/json \
	    RPC_HDR='Connect-Protocol-Version: 1'
	curl -s -X POST "http://127.0.0.1:$port/filesystem.Filesystem/Stat" \
	    -H "Content-Type: $RPC_CTYPE" -H "$RPC_HDR" -d "$RPC_BODY" \
	    -o "$tmp/stat.json"
	echo "  Stat answer ($(stat -c %s "$tmp/stat.json") bytes): $(cut -c1-120 "$tmp/stat.json")..."
	for i in $(seq 1 "$runs"); do
		c0=$(cpu_ticks "$envd_pid")
		es+=("$(wrk_run envd-stat-$i -s "$here/post.lua" \
		    "http://127.0.0.1:$port/filesystem.Filesystem/Stat")")
		ces+=("$(per_req "$(($(cpu_ticks "$envd_pid") - c0))" envd-stat-$i)")
		c0=$(cpu_ticks "$nginx_pid" $nworker)
		ns+=("$(wrk_run nginx-rpc-$i -s "$here/post.lua" \
		    "http://127.0.0.1:$nport/rpc")")
		cns+=("$(per_req "$(($(cpu_ticks "$nginx_pid" $nworker) - c0))" nginx-rpc-$i)")
		c0=$(cpu_ticks "$envd_pid")
		ehs+=("$(wrk_run envd-health-$i "http://127.0.0.1:$port/health")")
		cehs+=("$(per_req "$(($(cpu_ticks "$envd_pid") - c0))" envd-health-$i)")
		c0=$(cpu_ticks "$nginx_pid" $nworker)
		nhs+=("$(wrk_run nginx-health-$i "http://127.0.0.1:$nport/health")")
		cnhs+=("$(per_req "$(($(cpu_ticks "$nginx_pid" $nworker) - c0))" nginx-health-$i)")
		echo "  run $i: Stat ${es[-1]%% *}, nginx /rpc ${ns[-1]%% *}," \
		    "health ${ehs[-1]%% *}, nginx health ${nhs[-1]%% *} req/s;" \
		    "CPU per request ${ces[-1]}, ${cns[-1]}, ${cehs[-1]}, ${cnhs[-1]} us"
	done
	e=$(median_of "${es[@]}")
	n=$(median_of "${ns[@]}")
	eh=$(median_of "${ehs[@]}")
	nh=$(median_of "${nhs[@]}")
	report "envd POST Stat {\"path\":\"/tmp\"}" "$e"
	report "nginx POST /rpc (fixed JSON)" "$n"
	report "envd GET /health" "$eh"
	report "nginx GET /health" "$nh"
	echo "  Stat/nginx-rpc ratio:       $(ratio "${e%% *}" "${n%% *}")"
	echo "  health/nginx-health ratio:  $(ratio "${eh%% *}" "${nh%% *}")"
	echo "  server CPU per request (median, us): Stat $(median "${ces[@]}")," \
	    "nginx /rpc $(median "${cns[@]}"); /health $(median "${cehs[@]}")," \
	    "nginx /health $(median "${cnhs[@]}")"
	verdict "${e%% *} >= 1.0 * ${n%% *}" "Stat ${e%% *} req/s vs nginx ${n%% *} (bar >= 1.0x)"
	verdict "${eh%% *} >= 1.0 * ${nh%% *}" "/health ${eh%% *} req/s vs nginx ${nh%% *} (bar >= 1.0x)"
	kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || :

	echo "== rpc: WatchDir write -> event latency (200 files, one at a time)," \
	    "beside the floor (a process reading inotify, writing names to a pipe)"
	cc -O2 -o "$tmp/watchlat" "$here/watchlat.c"
	wdir=$(mktemp -d /tmp/envd-bench-watch.XXXXXX)
	if out=$("$tmp/watchlat" -n 200 "$port" "$wdir"); then
		echo "$out" | sed 's/^/  /'
		p99=$(sed -n 's/^watch_us .* p99=\([0-9]*\).*/\1/p' <<<"$out")
		fp99=$(sed -n 's/^floor_us .* p99=\([0-9]*\).*/\1/p' <<<"$out")
		verdict "${p99:-999999} <= 200" \
		    "WatchDir write -> event p99 ${p99} us, floor ${fp99} us (bar <= 200 us)"
	else
		echo "  MISS WatchDir write -> event: watchlat failed"
	fi
	rm -rf "$wdir"
	kill "$envd_pid"; wait "$envd_pid" 2>/dev/null || :
}

# nginx for the files section: sendfile from DIR at /, WebDAV PUT into
# DIR/dav/ with a 1 MiB body buffer; prints its master pid.
nginx_files_start() {
	local port=$1 dir=$2 conf=$tmp/nginx-files.conf
	mkdir -p "$tmp/nginx" "$dir/dav" "$dir/ngx-body"
	cat >"$conf" <<NGX
worker_processes 1;
pid $tmp/nginx/nginx-files.pid;
error_log $tmp/nginx/error-files.log warn;
user root;
events { worker_connections 1024; use epoll; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $dir/ngx-body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	server {
		listen 127.0.0.1:$port backlog=1024;
		root $dir;
		location = /health { return 204; }
		location /dav/ {
			dav_methods PUT;
			create_full_put_path on;
			client_body_buffer_size 1m;
			client_max_body_size 0;
		}
	}
}
NGX
	nginx -c "$conf" -g 'daemon off;' </dev/null >/dev/null 2>&1 &
	echo $!
}

# median of the arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# cpu_ticks PID...: summed user + system time of the PIDs, in clock ticks.
cpu_ticks() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
	echo "$t"
}

# xfer PID... -- BENCHTOOL-ARGS...: one transfer with the summed VmRSS of
# the PIDs sampled every 10 ms (by a small C loop, so the sampling costs
# both servers the same); prints "MBPS MAX_RSS_KB CPU_TICKS" (the CPU time
# the PIDs used for the transfer, kernel work in their context included).
xfer() {
	local -a p=()
	local w out c0 c1
	while [ "$1" != -- ]; do p+=("$1"); shift; done
	shift
	"$bt" rss "${p[@]}" >"$tmp/rss" &
	w=$!
	c0=$(cpu_ticks "${p[@]}")
	out=$("$bt" "$@") || out="MBps=0"
	c1=$(cpu_ticks "${p[@]}")
	kill "$w" 2>/dev/null || :
	wait "$w" 2>/dev/null || :
	echo "$(echo "$out" | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p')" \
	    "$(sed -n 's/max_kb=//p' "$tmp/rss") $((c1 - c0))"
}

# cpu_s TICKS: seconds, two decimals.
cpu_s() { awk -v t="$1" -v h="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / h }'; }

section_files() {
	# 11 pairs: where the machine hands freed memory back to its
	# hypervisor (virtio-balloon free page reporting), a transfer that
	# gets such pages pays a host fault per page as system time, 2-4x the
	# usual CPU, for either server by chance; the median needs the runs.
	local pairs=${FILES_PAIRS:-11} port nport nginx_pid worker dir i e n r c k
	local rss_idle rss_get rss_put ce cn
	local -a de dn dr dce dcn
	local -A ue un ur uce ucn
	echo "== files: 1 GiB GET (page cache, sendfile) and 1 GiB uploads (no fsync;" \
	    "octet-stream and multipart/form-data bodies) beside nginx (1 worker," \
	    "sendfile on; WebDAV PUT of the same bytes, client_body_buffer_size 1m);"
	echo "   $pairs alternating pairs each (envd, nginx, envd, ...), median of the" \
	    "per-pair ratios; envd VmRSS sampled every 10 ms during its transfers"
	command -v nginx >/dev/null || { echo "  nginx not installed: skipped"; return; }
	# Feature bit 5 of a virtio balloon: VIRTIO_BALLOON_F_REPORTING.
	for k in /sys/bus/virtio/drivers/virtio_balloon/virtio*/features; do
		[ "$(cut -c6 "$k" 2>/dev/null)" = 1 ] || continue
		echo "   (this machine reports freed pages to its hypervisor: single" \
		    "upload figures vary by run, for both servers)"
		break
	done
	if ! nginx -V 2>&1 | grep -q -- --with-http_dav_module; then
		echo "  nginx has no dav module: skipped"
		return
	fi
	# tmpfs on both sides, so disk write-back does not decide the result.
	dir=$(mktemp -d "${FILES_DIR:-/dev/shm}/envd-bench-files.XXXXXX")
	files_dir=$dir
	trap 'cleanup; rm -rf "$files_dir"' EXIT
	# 1 GiB of incompressible bytes (the AES-CTR keystream of a fixed key).
	(openssl enc -aes-128-ctr -nosalt -K 00 -iv 00 -bufsize 1048576 \
	    -in /dev/zero 2>/dev/null || :) | head -c 1073741824 >"$dir/src.bin"
	port=$(free_port)
	"$envd" -isnotfc -port "$port" 2>/dev/null &
	envd_pid=$!
	pids+=("$envd_pid")
	"$bt" wait "http://127.0.0.1:$port/health"
	nport=$(free_port)
	nginx_pid=$(nginx_files_start "$nport" "$dir")
	pids+=("$nginx_pid")
	"$bt" wait "http://127.0.0.1:$nport/health"
	# Warm-up reads; a failure shows as a figure of 0 in the pairs below.
	"$bt" get "http://127.0.0.1:$port/files?path=$dir/src.bin" >/dev/null ||
	    echo "  warm-up GET from envd failed"
	"$bt" get "http://127.0.0.1:$nport/src.bin" >/dev/null ||
	    echo "  warm-up GET from nginx failed"
	sleep 0.5
	rss_idle=$(rss_kb "$envd_pid")
	rss_get=$rss_idle
	rss_put=$rss_idle

	worker=$(ps -o pid= --ppid "$nginx_pid" | tr -d ' ' | head -1)
	for i in $(seq 1 "$pairs"); do
		read -r e r c < <(xfer "$envd_pid" -- get \
		    "http://127.0.0.1:$port/files?path=$dir/src.bin")
		[ "${r:-0}" -gt "$rss_get" ] && rss_get=$r
		dce+=("$c")
		read -r n r c < <(xfer "$nginx_pid" $worker -- get \
		    "http://127.0.0.1:$nport/src.bin")
		dcn+=("$c")
		de+=("$e"); dn+=("$n"); dr+=("$(ratio "$e" "$n")")
	done
	# The two kinds of upload alternate too, so that both see the same load.
	for i in $(seq 1 "$pairs"); do
		for k in octet-stream multipart; do
			read -r e r c < <(xfer "$envd_pid" -- put \
			    "http://127.0.0.1:$port/files?path=$dir/up-envd-$k.bin" \
			    "$dir/src.bin" POST "${k/octet-stream/application/octet-stream}")
			[ "${r:-0}" -gt "$rss_put" ] && rss_put=$r
			uce[$k]+=" $c"
			read -r n r c < <(xfer "$nginx_pid" $worker -- put \
			    "http://127.0.0.1:$nport/dav/up-nginx.bin" "$dir/src.bin" PUT \
			    "${k/octet-stream/application/octet-stream}")
			ucn[$k]+=" $c"
			ue[$k]+=" $e"; un[$k]+=" $n"; ur[$k]+=" $(ratio "$e" "$n")"
		done
	done
	for k in octet-stream multipart; do
		cmp -s "$dir/src.bin" "$dir/up-envd-$k.bin" ||
		    echo "  WARNING: file uploaded as $k differs"
	done
	kill "$nginx_pid"; wait "$nginx_pid" 2>/dev/null || :
	kill "$envd_pid"; wait "$envd_pid" 2>/dev/null || :
	rm -rf "$dir"

	echo "  GET    envd MB/s:  ${de[*]}"
	echo "         nginx MB/s: ${dn[*]}"
	echo "         ratios:     ${dr[*]}"
	for k in octet-stream multipart; do
		printf '  upload %-12s envd MB/s: %s\n' "$k" "${ue[$k]# }"
		printf '         %-12s nginx MB/s: %s\n' "" "${un[$k]# }"
		printf '         %-12s ratios: %s\n' "" "${ur[$k]# }"
	done
	e=$(median "${dr[@]}")
	echo "  median GET ratio $e (envd $(median "${de[@]}") MB/s, nginx $(median "${dn[@]}") MB/s);" \
	    "CPU per GiB (median, server processes, kernel work included):" \
	    "envd $(cpu_s "$(median "${dce[@]}")") s, nginx $(cpu_s "$(median "${dcn[@]}")") s"
	verdict "$e >= 0.9" "GET ${e}x nginx (bar >= 0.9x)"
	for k in octet-stream multipart; do
		# shellcheck disable=SC2086 # word lists built above
		{
			r=$(median ${ur[$k]})
			ce=$(cpu_s "$(median ${uce[$k]})")
			cn=$(cpu_s "$(median ${ucn[$k]})")
			echo "  upload $k: median ratio $r (envd $(median ${ue[$k]}) MB/s," \
			    "nginx $(median ${un[$k]}) MB/s); CPU per GiB envd $ce s," \
			    "nginx $cn s ($(ratio "$ce" "$cn")x)"
		}
		verdict "$r >= 1.0" "upload $k ${r}x nginx (bar >= 1.0x)"
		verdict "$ce <= $cn" "upload $k CPU per GiB envd $ce s, nginx $cn s (bar <= nginx's)"
	done
	echo "  envd VmRSS: idle $rss_idle kB, max during GET $rss_get kB" \
	    "(+$((rss_get - rss_idle))), during uploads $rss_put kB (+$((rss_put - rss_idle)))"
	verdict "$rss_get - $rss_idle <= 4096" "RSS during GET +$((rss_get - rss_idle)) kB (bar <= 4096 kB)"
	verdict "$rss_put - $rss_idle <= 4096" "RSS during upload +$((rss_put - rss_idle)) kB (bar <= 4096 kB)"
}

# exec_envelope JSON: one Connect envelope holding JSON.
exec_envelope() {
	local n=${#1}
	printf "\\x00\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))%s" "$1"
}

# The exec section: Process.Start of a short command until its end event,
# against a floor that spawns the same command the cheapest way (both as
# the same user with the same environment), one of each in turn so that
# both see the same load; then the daemon's memory idle, with 100 open
# streams, and with a stalled reader.
section_exec() {
	local port url envd_pid runs c bar out fm fp em ep pr json sent d
	local rss_idle rss_many rss_after rss_slow rss_pid pid stalled reader n i
	local -a argv curls
	runs=${EXEC_RUNS:-200}
	echo "== exec: Process.Start (Connect JSON, one keep-alive connection) until" \
	    "the end event, as 'user', beside posix_spawn + pipes + waitpid as the same" \
	    "user, alternating; $runs runs each"
	id user >/dev/null 2>&1 || useradd -m -s /bin/bash user
	port=$(free_port)
	url=http://127.0.0.1:$port
	# The PATH a systemd service gets, which is also the floor's.
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    "$envd" -isnotfc -port "$port" 2>/dev/null &
	envd_pid=$!
	pids+=("$envd_pid")
	"$bt" wait "$url/health"
	curl -s -X POST "$url/init" -d '{"defaultUser":"user"}'
	for c in bash true; do
		if [ "$c" = bash ]; then
			argv=(/bin/bash -l -c 'echo hi')
			json='{"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"]},"stdin":false}'
			bar=0.3
		else
			argv=(/bin/true)
			json='{"process":{"cmd":"/bin/true"},"stdin":false}'
			bar=0.2
		fi
		out=$("$bt" pair -n "$runs" -u user "$url/" "$json" -- "${argv[@]}")
		fm=$(echo "$out" | sed -n 's/^floor ms median=\([0-9.]*\) p99=.*/\1/p')
		fp=$(echo "$out" | sed -n 's/^floor ms .* p99=\([0-9.]*\) .*/\1/p')
		em=$(echo "$out" | sed -n 's/^envd ms median=\([0-9.]*\) p99=.*/\1/p')
		ep=$(echo "$out" | sed -n 's/^envd ms .* p99=\([0-9.]*\) .*/\1/p')
		pr=$(echo "$out" | sed -n 's/^pair ratio median=\([0-9.]*\)/\1/p')
		printf '  %-24s floor median %7s ms p99 %7s ms | envd median %7s ms p99 %7s ms | ratio %s (per pair %s)\n' \
		    "${argv[*]}" "$fm" "$fp" "$em" "$ep" "$(ratio "$em" "$fm")" "$pr"
		# The difference as printed: both medians have three decimals,
		# and a - b in floating point misses an equal bar a third of
		# the time (0.341 - 0.141 > 0.2).
		d=$(awk -v a="$em" -v b="$fm" 'BEGIN { printf "%+.3f", a - b }')
		verdict "$d <= $bar" \
		    "${argv[*]}: median $em ms, floor $fm ms: $d ms (bar <= +$bar ms)"
	done

	sleep 1
	rss_idle=$(rss_kb "$envd_pid")
	n=${EXEC_STREAMS:-100}
	exec_envelope '{"process":{"cmd":"sleep","args":["30"]},"stdin":false}' >"$tmp/sleep.req"
	curls=()
	for i in $(seq 1 "$n"); do
		curl -s -N -o /dev/null "$url/process.Process/Start" \
		    -H 'Content-Type: application/connect+json' \
		    --data-binary @"$tmp/sleep.req" &
		curls+=($!)
	done
	for i in $(seq 1 300); do
		sent=$(curl -s "$url/process.Process/List" -H 'Content-Type: application/json' -d '{}' |
		    { grep -o '"pid"' || :; } | wc -l)
		[ "$sent" -ge "$n" ] && break
		sleep 0.1
	done
	sleep 0.5
	rss_many=$(rss_kb "$envd_pid")
	for pid in $(curl -s "$url/process.Process/List" -H 'Content-Type: application/json' -d '{}' |
	    { grep -o '"pid":[0-9]*' || :; } | cut -d: -f2); do
		curl -s -o /dev/null "$url/process.Process/SendSignal" -H 'Content-Type: application/json' \
		    -d "{\"process\":{\"pid\":$pid},\"signal\":\"SIGNAL_SIGKILL\"}"
	done
	wait "${curls[@]}" 2>/dev/null || :
	# The daemon gives the heap of those streams back MEMTRIM_DELAY_MS
	# (1 s) after the first of them ends; the stalled reader is measured
	# after that, so that its figure is its own. What the streams left is
	# printed too.
	sleep 1.5
	rss_after=$(rss_kb "$envd_pid")

	# A Start stream that stops reading while the child writes 1 GiB, and a
	# Connect stream reading at full speed.
	exec_envelope '{"process":{"cmd":"sh","args":["-c","read x; exec head -c 1073741824 /dev/zero"]},"stdin":true}' >"$tmp/big.req"
	curl -s -N -o "$tmp/big.out" "$url/process.Process/Start" \
	    -H 'Content-Type: application/connect+json' --data-binary @"$tmp/big.req" &
	stalled=$!
	for i in $(seq 1 100); do
		pid=$({ grep -ao '"pid":[0-9]*' "$tmp/big.out" 2>/dev/null || :; } | cut -d: -f2)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	kill -STOP "$stalled"
	exec_envelope "{\"process\":{\"pid\":$pid}}" >"$tmp/conn.req"
	curl -s -N -o /dev/null "$url/process.Process/Connect" \
	    -H 'Content-Type: application/connect+json' --data-binary @"$tmp/conn.req" &
	reader=$!
	sleep 0.5
	"$bt" rss "$envd_pid" >"$tmp/rss.out" &
	rss_pid=$!
	curl -s -o /dev/null "$url/process.Process/SendInput" -H 'Content-Type: application/json' \
	    -d "{\"process\":{\"pid\":$pid},\"input\":{\"stdin\":\"Z28K\"}}"
	wait "$reader" || :
	kill -TERM "$rss_pid"
	wait "$rss_pid" || :
	rss_slow=$(sed -n 's/.*max_kb=\([0-9]*\).*/\1/p' "$tmp/rss.out")
	kill -CONT "$stalled"
	wait "$stalled" 2>/dev/null || :
	kill "$envd_pid"; wait "$envd_pid" 2>/dev/null || :
	echo "  envd VmRSS: idle $rss_idle kB, with $n streaming processes $rss_many kB" \
	    "(+$((rss_many - rss_idle))), 1.5 s after they ended $rss_after kB" \
	    "(+$((rss_after - rss_idle))), max with a stalled reader of 1 GiB $rss_slow kB" \
	    "(+$((rss_slow - rss_idle)))"
	verdict "$rss_slow - $rss_idle <= 4096" "RSS with a stalled reader +$((rss_slow - rss_idle)) kB (bar <= 4096 kB)"
}

envelopes=$here/../tests/integration/envelopes.py
# vm_sh NAME SHELL-COMMAND: run it as root in the guest at $vm_url
# through envd's Process API; prints its stdout.
vm_sh() {
	local body
	body=$(jq -cn --arg c "$2" '{process: {cmd: "/bin/sh", args: ["-c", $c]}}')
	python3 -S "$envelopes" enc "$body" >"$tmp/vm.req"
	curl -s -m 60 "$vm_url/process.Process/Start" \
	    -H 'Content-Type: application/connect+json' \
	    -H "X-Access-Token: $vm_token" \
	    -H "Authorization: Basic $(printf root: | base64)" \
	    --data-binary @"$tmp/vm.req" |
	    python3 -S "$envelopes" dec | python3 -S "$envelopes" out stdout
}

# The vm section: the template image (packaging/image/build.sh) in a
# microVM (tools/vm.sh). Boot and resume are timed from QEMU's start to the
# first 204 on /health, beside the guest's own systemd-analyze figure and
# the time QEMU takes to load the snapshot. Memory is measured inside the
# guest: VmRSS, and what envd touches (Referenced: after clear_refs) to
# serve /init plus /health after a resume, with systemd-journald over the
# same interval as the yardstick.
section_vm() {
	local vm image run snap out boot_ms resume_ms analyze why
	echo "== vm: template image in a microVM (boot, resume, guest memory)"
	vm=$here/../tools/vm.sh
	image=${ENVD_VM_IMAGE:-$(dirname "$envd")/../tests/vm/image}
	if [ "$(id -u)" -ne 0 ] || ! command -v qemu-system-x86_64 >/dev/null; then
		echo "  SKIP needs root and qemu-system-x86"
		return 0
	fi
	if [ ! -f "$image/rootfs.ext4" ]; then
		"$here/../packaging/image/build.sh" -o "$image" >"$tmp/image.log" 2>&1 ||
		    { tail -5 "$tmp/image.log"; echo "  SKIP image build failed"; return 0; }
	fi
	export ENVD_VM_IMAGE=$image
	if [ "${ENVD_VM_ACCEL:-kvm}" = kvm ]; then
		why=$("$vm" probe -d "$tmp/probe" 2>&1) ||
		    { echo "  SKIP ${why#*: }"; return 0; }
	else
		export ENVD_VM_TIMEOUT=${ENVD_VM_TIMEOUT:-400}
		echo "  (${ENVD_VM_ACCEL} emulation: not KVM figures)"
	fi
	run=$tmp/vm-run
	snap=$tmp/vm-snap
	vm_token=bench-$$-$RANDOM
	out=$("$vm" start -d "$run") || { echo "$out"; return 1; }
	boot_ms=$(sed -n 's/^health after \([0-9]*\) ms$/\1/p' <<<"$out")
	vm_url=$(sed -n 's/^url //p' <<<"$out")
	curl -s -o /dev/null -X POST "$vm_url/init" -H 'Content-Type: application/json' \
	    --data-binary "{\"accessToken\":\"$vm_token\",\"defaultUser\":\"user\"}"
	analyze=$(vm_sh x 'systemd-analyze 2>/dev/null | head -1')
	echo "  boot to first /health:   ${boot_ms} ms"
	echo "    guest's own account:   ${analyze:-n/a}"
	echo "  envd VmRSS in the guest: $(vm_sh x 'awk "/^VmRSS/ {print \$2}" /proc/$(pidof envd)/status') kB, systemd-journald (yardstick) $(vm_sh x 'awk "/^VmRSS/ {print \$2}" /proc/$(pidof systemd-journald)/status') kB"
	out=$("$vm" snapshot -d "$run" "$snap") || { echo "$out"; "$vm" stop -d "$run"; return 1; }
	echo "  ${out%%:*}, state $(du -h "$snap/state" | cut -f1)"
	out=$("$vm" restore -d "$run" "$snap") || { echo "$out"; "$vm" stop -d "$run"; return 1; }
	resume_ms=$(sed -n 's/^health after \([0-9]*\) ms$/\1/p' <<<"$out")
	vm_url=$(sed -n 's/^url //p' <<<"$out")
	echo "  resume to first /health: ${resume_ms} ms (boot/resume $(ratio "$boot_ms" "$resume_ms"))"
	# In one guest command, so nothing else reaches envd in between.
	vm_sh x '
e=$(pidof envd); j=$(pidof systemd-journald)
echo 1 >/proc/$e/clear_refs; echo 1 >/proc/$j/clear_refs
python3 -c "
import json, sys, time, urllib.request as u
b = json.dumps({\"accessToken\": sys.argv[1], \"timestamp\": time.strftime(\"%Y-%m-%dT%H:%M:%SZ\", time.gmtime())}).encode()
u.urlopen(u.Request(\"http://127.0.0.1:49983/init\", b, {\"Content-Type\": \"application/json\", \"X-Access-Token\": sys.argv[1]}))
u.urlopen(\"http://127.0.0.1:49983/health\")
" '"$vm_token"'
echo "  touched for /init + /health after resume: envd $(awk "/^Referenced/ {print \$2}" /proc/$e/smaps_rollup) kB, systemd-journald (yardstick) $(awk "/^Referenced/ {print \$2}" /proc/$j/smaps_rollup) kB"'
	"$vm" stop -d "$run" >/dev/null
}

# The edge section: HAProxy under envd-edge in an edge namespace, nginx as
# the "sandbox service" in a sandbox namespace, the client (wrk, curl) in a
# third, each joined to the edge by a veth pair (documentation addresses, no
# route out). "Direct" is the client reaching nginx through the edge
# namespace's kernel routing; "through the edge" is the same client asking
# HAProxy (plain HTTP, Host PORT-ID.DOMAIN): both cross the same two links,
# so the difference is the proxy alone. A small GET (wrk, one connection,
# p50/p99) and a 1 GiB download (best of three); then HAProxy's RSS growth
# for 1,000 sandboxes added at run time.
section_edge() {
	local edge_bin ns=ebench$$ e s c port d_p50 d_p99 e_p50 e_p99 d_bw e_bw r0 r1 i id
	echo "== edge: HAProxy edge vs direct"
	edge_bin=${ENVD_EDGE:-$(dirname "$(dirname "$envd")")/edge/envd-edge}
	if [ "$(id -u)" != 0 ] || ! command -v haproxy >/dev/null || [ ! -x "$edge_bin" ] ||
	    ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
		echo "  skipped: needs root, haproxy, wrk, nginx and $edge_bin"
		return 0
	fi
	e=${ns}e s=${ns}s c=${ns}c
	trap "netns_down $c $s $e; $(exit_trap)" EXIT
	ip netns add "$e" && ip netns add "$s" && ip netns add "$c"
	ip -n "$e" link set lo up; ip -n "$s" link set lo up; ip -n "$c" link set lo up
	ip link add "${ns}a" type veth peer name "${ns}b"
	ip link set "${ns}a" netns "$e"; ip link set "${ns}b" netns "$s"
	ip -n "$e" addr add 198.51.100.1/30 dev "${ns}a"; ip -n "$s" addr add 198.51.100.2/30 dev "${ns}b"
	ip -n "$e" link set "${ns}a" up; ip -n "$s" link set "${ns}b" up
	ip link add "${ns}c" type veth peer name "${ns}d"
	ip link set "${ns}c" netns "$e"; ip link set "${ns}d" netns "$c"
	ip -n "$e" addr add 203.0.113.1/30 dev "${ns}c"; ip -n "$c" addr add 203.0.113.2/30 dev "${ns}d"
	ip -n "$e" link set "${ns}c" up; ip -n "$c" link set "${ns}d" up
	ip -n "$c" route add 198.51.100.0/30 via 203.0.113.1
	ip -n "$s" route add 203.0.113.0/30 via 198.51.100.1
	ip netns exec "$e" sysctl -qw net.ipv4.ip_forward=1
	truncate -s 1G "$tmp/big"
	port=18080
	ip netns exec "$s" bash -c "$(declare -f nginx_start); tmp=$tmp; nginx_start $port 198.51.100.2" >/dev/null
	mkdir -p "$tmp/edge.d" "$tmp/edge-state"
	cp "$here/../packaging/edge/10-edge.cfg" "$here/../packaging/edge/20-egress.cfg" "$tmp/edge.d/"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=*.e2b.test" \
	    -keyout "$tmp/k.pem" -out "$tmp/c.pem" 2>/dev/null
	cat "$tmp/c.pem" "$tmp/k.pem" >"$tmp/tls.pem"
	ed() {
		ip netns exec "$e" env EDGE_CONFIG_DIR="$tmp/edge.d" EDGE_HTTP_BIND=203.0.113.1:80 \
		    EDGE_HTTPS_BIND=203.0.113.1:443 EDGE_CERT="$tmp/tls.pem" EDGE_LOG=/dev/null \
		    "$edge_bin" --state-dir "$tmp/edge-state" "$@"
	}
	ed restore
	ed add benchsandbox0 --addr 198.51.100.2 >/dev/null
	sleep 0.5
	lat() {	# URL [HOST]: "p50_us p99_us" from wrk, one connection, 3 s
		ip netns exec "$c" wrk -t1 -c1 -d3s --latency ${2:+-H "Host: $2"} "$1" |
		    awk '/^ *50%/ {p50=$2} /^ *99%/ {p99=$2}
			function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
			END { printf "%d %d", us(p50), us(p99) }'
	}
	read -r d_p50 d_p99 <<<"$(lat "http://198.51.100.2:$port/health")"
	read -r e_p50 e_p99 <<<"$(lat "http://203.0.113.1/health" "$port-benchsandbox0.e2b.test")"
	echo "  small GET p50/p99: direct $d_p50/$d_p99 us, through the edge $e_p50/$e_p99 us"
	verdict "$e_p50 - $d_p50 <= 150" "edge p50 overhead +$((e_p50 - d_p50)) us (bar <= +150 us)"
	# dl URL [HOST]: the best download speed of three in B/s; a transfer
	# that ends short of 1 GiB or without a 200 counts as 0 and is shown.
	dl() {
		local k code size speed best=0
		for k in 1 2 3; do
			read -r code size speed < <(ip netns exec "$c" curl -s -o /dev/null --max-time 60 \
			    ${2:+-H "Host: $2"} -w '%{http_code} %{size_download} %{speed_download}' "$1")
			if [ "$code" != 200 ] || [ "$size" != $((1 << 30)) ]; then
				echo "  download $1 ${2:+(Host $2) }ended with status $code after $size bytes" >&2
				continue
			fi
			[ "${speed%.*}" -gt "$best" ] && best=${speed%.*}
		done
		echo "$best"
	}
	d_bw=$(dl "http://198.51.100.2:$port/big")
	e_bw=$(dl "http://203.0.113.1/big" "$port-benchsandbox0.e2b.test")
	echo "  1 GiB download (best of 3): direct $((d_bw >> 20)) MiB/s, through the edge $((e_bw >> 20)) MiB/s"
	verdict "$e_bw >= 0.8 * $d_bw" "edge throughput $(ratio "$e_bw" "$d_bw")x direct (bar >= 0.8x)"
	r0=$(rss_kb "$(cat "$tmp/edge-state/haproxy.pid")")
	for i in $(seq 1 ${EDGE_BENCH_N:-1000}); do
		id=$(printf 'benchsandbox%04d' "$i")
		ed add "$id" --addr 198.51.100.2 --secure \
		    --network '{"allowPublicTraffic":false,"maskRequestHost":"localhost:${PORT}"}' >/dev/null
	done
	r1=$(rss_kb "$(cat "$tmp/edge-state/haproxy.pid")")
	echo "  HAProxy VmRSS: $r0 kB, $r1 kB with ${EDGE_BENCH_N:-1000} more private masked sandboxes (+$((r1 - r0)) kB)"
	ed stop
}

# exit_trap: the command of the current EXIT trap.
exit_trap() {
	local cmd=
	trap() { cmd=$2; }
	eval "$(builtin trap -p EXIT)"
	unset -f trap
	printf '%s' "$cmd"
}

# netns_down NS...: kill what runs in each namespace, delete it and its
# /etc/netns directory.
netns_down() {
	local n
	for n in "$@"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$n" 2>/dev/null
		rm -rf "/etc/netns/$n"
	done
	return 0
}

# Egress: a sandbox namespace downloads from a world namespace, first with
# no egress rules (plain routing through the edge namespace), then through
# the egress path (nftables redirect, HAProxy matching the HTTP Host or the
# TLS SNI against an allowed domain and dialling the name). Same run, same
# server (tests/edge/egress-world.py, which sends the download with
# sendfile(2) so that the world, on the same host here, takes next to no
# CPU from the path under test), same client (curl).
section_egress() {
	local edge_bin ns=xbench$$ e w s n i saved d_bw x_bw d_best x_best r_med
	local -a d_tls x_tls ratios
	echo "== egress: sandbox to world through the egress path vs no rules"
	edge_bin=${ENVD_EDGE:-$(dirname "$(dirname "$envd")")/edge/envd-edge}
	if [ "$(id -u)" != 0 ] || ! command -v haproxy >/dev/null || ! command -v nft >/dev/null ||
	    ! command -v dnsmasq >/dev/null || [ ! -x "$edge_bin" ]; then
		echo "  skipped: needs root, haproxy, nft, dnsmasq and $edge_bin"
		return 0
	fi
	e=${ns}e w=${ns}w s=${ns}s
	saved=$(trap -p EXIT)
	trap "netns_down $s $w $e; $(exit_trap)" EXIT
	for n in "$e" "$w" "$s"; do ip netns add "$n"; ip -n "$n" link set lo up; mkdir -p "/etc/netns/$n"; done
	ip link add "${ns}wa" type veth peer name "${ns}wb"
	ip link set "${ns}wa" netns "$e"; ip link set "${ns}wb" netns "$w"
	ip link add "${ns}sa" type veth peer name "${ns}sb"
	ip link set "${ns}sa" netns "$e"; ip link set "${ns}sb" netns "$s"
	ip -n "$e" addr add 192.0.2.254/24 dev "${ns}wa"; ip -n "$w" addr add 192.0.2.1/24 dev "${ns}wb"
	ip -n "$w" addr add 192.0.2.53/32 dev "${ns}wb"
	ip -n "$e" addr add 169.254.20.1/30 dev "${ns}sa"; ip -n "$s" addr add 169.254.20.2/30 dev "${ns}sb"
	for n in "$e:${ns}wa" "$e:${ns}sa" "$w:${ns}wb" "$s:${ns}sb"; do ip -n "${n%%:*}" link set "${n#*:}" up; done
	ip -n "$w" route add 169.254.20.0/30 via 192.0.2.254
	ip -n "$s" route add default via 169.254.20.1
	ip netns exec "$e" sysctl -qw net.ipv4.ip_forward=1
	echo "nameserver 192.0.2.53" >"/etc/netns/$e/resolv.conf"
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=bench.example.test" \
	    -keyout "$tmp/xk.pem" -out "$tmp/xc.pem" 2>/dev/null
	cat "$tmp/xc.pem" "$tmp/xk.pem" >"$tmp/world.pem"
	ip netns exec "$w" python3 "$here/../tests/edge/egress-world.py" "$tmp/world.pem" &
	ip netns exec "$w" dnsmasq -k -u root --no-resolv --no-hosts --bind-interfaces \
	    --listen-address=192.0.2.53 --host-record=bench.example.test,192.0.2.1 2>/dev/null &
	for i in $(seq 1 200); do
		ip netns exec "$s" bash -c 'exec 3<>/dev/tcp/192.0.2.1/443' 2>/dev/null && break
		sleep 0.05
	done
	mkdir -p "$tmp/egress.d" "$tmp/egress-state"
	cp "$here/../packaging/edge/10-edge.cfg" "$here/../packaging/edge/20-egress.cfg" "$tmp/egress.d/"
	xd() {
		ip netns exec "$e" env EDGE_CONFIG_DIR="$tmp/egress.d" EDGE_HTTP_BIND=127.0.0.1:8080 \
		    EDGE_HTTPS_BIND=127.0.0.1:8443 EDGE_CERT="$tmp/world.pem" EDGE_LOG=/dev/null \
		    ENVD_EDGE_EGRESS_DNS=192.0.2.53 "$edge_bin" --state-dir "$tmp/egress-state" "$@"
	}
	xd restore
	# dl: the download speed of 1 GiB over HTTP from the sandbox, bytes/s
	dl() {
		ip netns exec "$s" curl -s -o /dev/null -w '%{speed_download}' --max-time 120 \
		    --resolve bench.example.test:80:192.0.2.1 "http://bench.example.test/big?1073741824"
	}
	# tls: "p50_us p99_us" of the TLS handshake (TCP connect to handshake
	# done), ${EGRESS_BENCH_N:-300} fresh connections one after another
	tls() {
		local k
		for k in $(seq 1 "${EGRESS_BENCH_N:-300}"); do
			ip netns exec "$s" curl -sk -o /dev/null -w '%{time_connect} %{time_appconnect}\n' \
			    --max-time 5 --resolve bench.example.test:443:192.0.2.1 https://bench.example.test/
		done | awk '$2 > 0 { print int(($2 - $1) * 1e6) }' | sort -n |
		    awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0"; exit }
			i50 = int(NR * 0.5 + 0.5); i99 = int(NR * 0.99 + 0.5)
			if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
			print v[i50], v[i99] }'
	}
	fence() {
		xd add benchegress --addr 169.254.20.2 \
		    --network '{"allowOut":["bench.example.test"],"denyOut":["0.0.0.0/0"]}' >/dev/null
	}
	# Rounds of one download without rules, then one through the egress
	# path, back to back. The machine is shared, and other load only ever
	# slows a download down: the verdict compares the best of each side
	# (the least disturbed figure of each); the median of the rounds'
	# ratios is printed beside it.
	ratios=() d_best=0 x_best=0
	for i in $(seq 1 "${EGRESS_BENCH_ROUNDS:-5}"); do
		d_bw=$(dl)
		fence
		x_bw=$(dl)
		xd remove benchegress >/dev/null
		ratios+=("$(ratio "$x_bw" "$d_bw")")
		awk "BEGIN { exit !($d_bw > $d_best) }" && d_best=$d_bw
		awk "BEGIN { exit !($x_bw > $x_best) }" && x_best=$x_bw
		echo "  1 GiB download, round $i: no rules $((${d_bw%.*} >> 20)) MiB/s," \
		    "through the egress path $((${x_bw%.*} >> 20)) MiB/s (${ratios[-1]}x)"
	done
	r_med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 }
	    END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	echo "  1 GiB download, best of ${#ratios[@]}: no rules $((${d_best%.*} >> 20)) MiB/s," \
	    "through the egress path $((${x_best%.*} >> 20)) MiB/s; median ratio ${r_med}x"
	verdict "$x_best >= 0.8 * $d_best" "egress throughput $(ratio "$x_best" "$d_best")x no rules, best of each side (bar >= 0.8x)"
	read -r -a d_tls <<<"$(tls)"
	fence
	read -r -a x_tls <<<"$(tls)"
	echo "  TLS handshake from the sandbox p50/p99: no rules ${d_tls[0]}/${d_tls[1]} us," \
	    "allowed by SNI through the egress path ${x_tls[0]}/${x_tls[1]} us"
	echo "  added connect latency for allowed TLS: p50 +$((x_tls[0] - d_tls[0])) us, p99 +$((x_tls[1] - d_tls[1])) us"
	xd remove benchegress >/dev/null
	xd stop
	netns_down "$s" "$w" "$e"
	eval "$saved"
}

# The forward section: the daemon in a "sandbox" namespace forwards a
# loopback service to its veth address; beside it, socat forwards the same
# service the upstream way (one listener, one fork per connection, bound
# to the same address). A "host" namespace (documentation addresses, no
# route out) drives both alternately with bench/fwdtool: 1 GiB uploads,
# and short request/answer exchanges on fresh connections. Then the idle
# cost of a forwarded port: the daemon's VmRSS growth when FWD_PORTS
# loopback listeners appear, beside the VmRSS of one idle socat listener.
# FWD_RUNS (5) alternating runs, FWD_CONNS (1) connections per upload,
# FWD_CONC (16) exchanges in flight, FWD_RATE_N (5000) exchanges per run.
# cpu_all PID: user + system time of PID and of its reaped children, in
# clock ticks.
cpu_all() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# cpu_per_conn TICKS "conns=N ...": microseconds of CPU per connection.
cpu_per_conn() {
	awk -v t="$1" -v h="$(getconf CLK_TCK)" -v o="$2" 'BEGIN {
		n = o; sub(/.*conns=/, "", n); n += 0
		printf "%d", (n > 0 ? t / h * 1e6 / n : 0) }'
}

section_forward() {
	local ns=fwb$$ h s sa=198.51.100.2 api=18100 p=18101 q=18102 base=20000
	local runs=${FWD_RUNS:-5} conns=${FWD_CONNS:-1} nports=${FWD_PORTS:-1000}
	local conc=${FWD_CONC:-16}
	local ft envd_pid socat_pid serve_pid hold i n r0 r1 e so per socat_rss saved
	local c0 c1 out
	local -a be bs br re rs rr ce cs
	echo "== forward: a loopback service forwarded by envd vs socat" \
	    "(TCP4-LISTEN:P,bind=ADDR,reuseaddr,fork TCP4:localhost:P), same run"
	if [ "$(id -u)" != 0 ] || ! command -v socat >/dev/null || ! command -v ip >/dev/null; then
		echo "  skipped: needs root, ip and socat"
		return 0
	fi
	h=${ns}h s=${ns}s
	saved=$(trap -p EXIT)
	trap "netns_down $s $h; $(exit_trap)" EXIT
	ip netns add "$h" && ip netns add "$s"
	ip link add "${ns}a" netns "$h" type veth peer name "${ns}b" netns "$s"
	ip -n "$h" addr add 198.51.100.1/30 dev "${ns}a"
	ip -n "$s" addr add "$sa/30" dev "${ns}b"
	for n in "$h:${ns}a" "$s:${ns}b" "$h:lo" "$s:lo"; do ip -n "${n%%:*}" link set "${n#*:}" up; done
	for n in "$h" "$s"; do ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"; done
	ft=$tmp/fwdtool
	cc -O2 -pthread -o "$ft" "$here/fwdtool.c"
	# Background processes start with ip netns exec itself (it execs), so
	# that $! is the process measured.
	in_h() { ip netns exec "$h" "$@"; }
	in_s() { ip netns exec "$s" "$@"; }

	ip netns exec "$s" "$envd" -isnotfc -port "$api" -forward-addr "$sa" 2>"$tmp/fwd-envd.log" &
	envd_pid=$!
	in_s "$bt" wait "http://127.0.0.1:$api/health"

	# Idle cost per forwarded port, on the fresh daemon.
	sleep 1
	r0=$(rss_kb "$envd_pid")
	mkfifo "$tmp/fwd-hold"
	ip netns exec "$s" "$ft" listen 127.0.0.1 "$base" "$nports" <"$tmp/fwd-hold" >"$tmp/fwd-listen.out" &
	exec 8>"$tmp/fwd-hold"
	hold=$!
	for i in $(seq 1 100); do
		n=$(in_s ss -Hltn src "$sa" | awk -v b="$base" -v n="$nports" \
		    '{ sub(/.*:/, "", $4) } $4 >= b && $4 < b + n { c++ } END { print c + 0 }')
		[ "$n" -ge "$nports" ] && break
		sleep 0.1
	done
	sleep 0.5
	r1=$(rss_kb "$envd_pid")
	exec 8>&-
	wait "$hold" 2>/dev/null || :
	ip netns exec "$s" socat "TCP4-LISTEN:$q,bind=$sa,reuseaddr,fork" "TCP4:localhost:$p" &
	socat_pid=$!
	sleep 0.5
	socat_rss=$(rss_kb "$socat_pid")
	per=$(awk -v a="$r0" -v b="$r1" -v n="$nports" 'BEGIN { printf "%.1f", (b - a) / n }')
	echo "  idle cost per port: envd VmRSS $r0 -> $r1 kB with $n of $nports ports" \
	    "forwarded = $per kB/port; socat (upstream: one process per port) $socat_rss kB/port"

	ip netns exec "$s" "$ft" serve 127.0.0.1 "$p" &
	serve_pid=$!
	for i in $(seq 1 50); do
		in_h "$ft" rate -c 1 -n 1 -t 1 "$sa" "$p" >/dev/null 2>&1 &&
		    in_h "$ft" rate -c 1 -n 1 -t 1 "$sa" "$q" >/dev/null 2>&1 && break
		sleep 0.1
	done
	for i in $(seq 1 "$runs"); do
		e=$(in_h "$ft" bulk -c "$conns" -t 120 "$sa" "$p" | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p') || e=0
		so=$(in_h "$ft" bulk -c "$conns" -t 120 "$sa" "$q" | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p') || so=0
		be+=("${e:-0}"); bs+=("${so:-0}"); br+=("$(ratio "${e:-0}" "${so:-0}")")
		c0=$(cpu_all "$envd_pid")
		out=$(in_h "$ft" rate -c "$conc" -n "${FWD_RATE_N:-5000}" -t 10 "$sa" "$p") || :
		c1=$(cpu_all "$envd_pid")
		e=$(sed -n 's/.*cps=\([0-9]*\).*/\1/p' <<<"$out")
		ce+=("$(cpu_per_conn "$((c1 - c0))" "$out")")
		c0=$(cpu_all "$socat_pid")
		out=$(in_h "$ft" rate -c "$conc" -n "${FWD_RATE_N:-5000}" -t 10 "$sa" "$q") || :
		c1=$(cpu_all "$socat_pid")
		so=$(sed -n 's/.*cps=\([0-9]*\).*/\1/p' <<<"$out")
		cs+=("$(cpu_per_conn "$((c1 - c0))" "$out")")
		re+=("${e:-0}"); rs+=("${so:-0}"); rr+=("$(ratio "${e:-0}" "${so:-0}")")
		echo "  run $i: 1 GiB upload ($conns conn) envd ${be[-1]} MB/s, socat ${bs[-1]} MB/s;" \
		    "connections ($conc in flight) envd ${re[-1]}/s, socat ${rs[-1]}/s"
	done
	echo "  upload MB/s:      envd ${be[*]}; socat ${bs[*]}; ratios ${br[*]}"
	echo "  connections/s:    envd ${re[*]}; socat ${rs[*]}; ratios ${rr[*]}"
	echo "  CPU per connection (median, us, forwarder processes, kernel work in" \
	    "their context included): envd $(median "${ce[@]}"), socat and its forks $(median "${cs[@]}")"
	e=$(median "${br[@]}"); so=$(median "${rr[@]}")
	verdict "$e >= 1.5" "throughput ${e}x socat (median of $runs, bar >= 1.5x)"
	verdict "$so >= 5" "connection rate ${so}x socat (median of $runs, bar >= 5x)"
	verdict "$n >= $nports && $per <= 16" "idle cost $per kB per forwarded port (bar <= 16 kB)"
	kill "$serve_pid" "$socat_pid" 2>/dev/null || :
	kill "$envd_pid"; wait "$envd_pid" 2>/dev/null || :
	netns_down "$s" "$h"
	eval "$saved"
}

for s in "${sections[@]}"; do
	"section_$s"
done
