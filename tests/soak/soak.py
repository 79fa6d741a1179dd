#!/usr/bin/env python3
"""soak.py - mixed traffic against a running envd while an attacker works.

Usage: soak.py PID URL SECONDS DIR

Three processes, so that no one of them holds up another's measurement:
  traffic   64 keep-alive connections, each looping over Stat, ListDir, a
            4 KiB upload, its download and a streaming Process.Start
            (/bin/echo, read to the end-of-stream envelope), plus one
            WatchDir stream on DIR held for the whole run.
  attacker  the patterns of the hardening issue: (1) bursts of partial
            requests closed at once, (2) 2,000 partial connections
            trickling a byte every 3 s, (3) from 40 % to 60 % of the run
            the daemon's soft descriptor limit lowered to 512 (prlimit),
            (4) a gzip upload of 256 KiB that inflates to 256 MiB every
            10 s.
  probe     GET /health on a fresh connection every 20 ms.
  ref       the same probe against a bare server that does nothing else,
            the reference for what this machine's load alone costs.
Before them the probe runs alone for 3 s: the reference figure for
/health on this machine at this moment. The daemon's RSS is sampled once a second here. At the end the figures
are printed with PASS/MISS against the bars (zero errors, RSS within
1 MiB of its value after warm-up, /health p99 <= 50 ms) and the exit
status is 1 on any MISS.

SOAK_ATTACK lists the patterns to run (default "1234"), so that the
figures of each can be told apart.

A traffic request whose connection was closed by the daemon before any
byte of an answer (idle connections are shed under pressure, as HTTP
allows) is sent again on a new connection and counted as a reconnect,
not an error. Errors are counted by request kind and how they failed
(refused, reset, closed, timeout, 5xx, other status, bad body), and the
daemon's descriptors and RSS are printed every 5 s beside the load
average, so that a MISS says where to look.
"""

import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import socket
import struct
import sys
import time
import zlib

CONNS = 64
PARTIALS = 2000
ATTACK = os.environ.get("SOAK_ATTACK", "1234")
AUTH = "Basic " + base64.b64encode(b"root:").decode()


class Closed(Exception):
    """The connection closed before any byte of an answer."""


def host_port(url):
    hp = url.split("//", 1)[1].split("/", 1)[0]
    h, p = hp.rsplit(":", 1)
    return h, int(p)


async def read_answer(r):
    """Read one HTTP/1.1 answer; return (status, body)."""
    line = await r.readline()
    if not line:
        raise Closed()
    status = int(line.split()[1])
    length, chunked = None, False
    while True:
        h = await r.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        body = bytearray()
        while True:
            n = int((await r.readline()).split(b";")[0], 16)
            if n == 0:
                await r.readline()
                break
            body += await r.readexactly(n)
            await r.readexactly(2)
        return status, bytes(body)
    if length is None:
        length = 0
    return status, await r.readexactly(length)


def fail_kind(e):
    """How a request failed, from its exception."""
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, asyncio.TimeoutError):
        return "timeout"
    if isinstance(e, (Closed, asyncio.IncompleteReadError)):
        return "closed"
    return type(e).__name__


def count(stats, key):
    """Count an error of kind key, with the run's seconds of its first and
    last occurrence."""
    t = time.monotonic() - stats["t0"]
    n, first, _ = stats["kinds"].get(key, (0, t, t))
    stats["kinds"][key] = (n + 1, first, t)


def request(method, path, body=b"", ctype=None):
    head = "%s %s HTTP/1.1\r\nHost: soak\r\nAuthorization: %s\r\n" % (
        method, path, AUTH)
    if ctype:
        head += "Content-Type: %s\r\n" % ctype
    head += "Content-Length: %d\r\n\r\n" % len(body)
    return head.encode() + body


def envelope(obj):
    p = json.dumps(obj).encode()
    return struct.pack(">BI", 0, len(p)) + p


def end_ok(body):
    """Whether a Connect stream body ends with a clean end-of-stream."""
    off, last = 0, None
    while off + 5 <= len(body):
        flags, n = struct.unpack(">BI", body[off:off + 5])
        last = (flags, body[off + 5:off + 5 + n])
        off += 5 + n
    if last is None or not last[0] & 2:
        return False
    return "error" not in json.loads(last[1] or b"{}")


async def traffic_conn(i, host, port, deadline, d, stats):
    rw = None
    n = 0
    steps = ["stat", "list", "put", "get", "start"]
    while time.monotonic() < deadline:
        step = steps[n % len(steps)]
        name = "%s/f%d" % (d, i)
        if step == "stat":
            req = request("POST", "/filesystem.Filesystem/Stat",
                          json.dumps({"path": d}).encode(), "application/json")
        elif step == "list":
            req = request("POST", "/filesystem.Filesystem/ListDir",
                          json.dumps({"path": d, "depth": 1}).encode(),
                          "application/json")
        elif step == "put":
            req = request("POST", "/files?path=" + name, os.urandom(4096),
                          "application/octet-stream")
        elif step == "get":
            req = request("GET", "/files?path=" + name)
        else:
            req = request("POST", "/process.Process/Start",
                          envelope({"process": {"cmd": "/bin/echo",
                                                "args": ["soak"]}}),
                          "application/connect+json")
        kind = None
        for attempt in range(3):
            try:
                if rw is None:
                    rw = await asyncio.open_connection(host, port)
                rw[1].write(req)
                status, body = await asyncio.wait_for(read_answer(rw[0]), 30)
                kind = None
                break
            except (Closed, OSError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                if rw is not None:
                    rw[1].close()
                rw = None
                kind = fail_kind(e)
                stats["reconnects"] += 1
                if kind == "timeout":
                    break
        if kind is not None:
            stats["errors"] += 1
            count(stats, "%s %s" % (step, kind))
            why = "%s: %s (%d attempts)" % (step, kind, attempt + 1)
            if why not in stats["why"] and len(stats["why"]) < 20:
                stats["why"].append(why)
            n += 1
            continue
        ok = status == 200 and (step != "get" or len(body) == 4096) and \
            (step != "start" or end_ok(body))
        if ok:
            stats["ok"] += 1
        else:
            stats["errors"] += 1
            count(stats, "%s %s" % (step, "5xx" if status >= 500 else
                                    "bad body" if status == 200 else
                                    "status %d" % status))
            why = "%s: %d %r" % (step, status, body[:240])
            stats["why"].append(why) if why not in stats["why"] and \
                len(stats["why"]) < 20 else None
        n += 1
    if rw is not None:
        rw[1].close()


async def watch(host, port, deadline, d, stats):
    # Like a traffic request: a connection closed before any byte of the
    # answer is opened again, twice at most.
    for attempt in range(3):
        try:
            r, w = await asyncio.open_connection(host, port)
            w.write(request("POST", "/filesystem.Filesystem/WatchDir",
                            envelope({"path": d}),
                            "application/connect+json"))
            line = await asyncio.wait_for(r.readline(), 30)
            if not line:
                raise Closed()
            break
        except (Closed, OSError, asyncio.TimeoutError) as e:
            kind = fail_kind(e)
            stats["reconnects"] += 1
    else:
        stats["errors"] += 1
        count(stats, "watch " + kind)
        stats["why"].append("watch: %s (3 attempts)" % kind)
        return
    if b" 200 " not in line:
        stats["errors"] += 1
        count(stats, "watch status")
        stats["why"].append("watch: %r" % line)
        return
    while (await r.readline()) not in (b"\r\n", b""):
        pass
    try:
        while time.monotonic() < deadline:
            n = await asyncio.wait_for(r.readline(), deadline -
                                       time.monotonic() + 1)
            size = int(n.split(b";")[0], 16) if n else 0
            if size == 0:
                stats["errors"] += 1
                count(stats, "watch ended early")
                stats["why"].append("watch: stream ended early")
                return
            await r.readexactly(size + 2)
            stats["watch_chunks"] += 1
    except asyncio.TimeoutError:
        pass
    except (OSError, asyncio.IncompleteReadError) as e:
        stats["errors"] += 1
        count(stats, "watch " + fail_kind(e))
        stats["why"].append("watch: stream failed: %s" % fail_kind(e))
    w.close()


def traffic(url, seconds, d, q):
    host, port = host_port(url)
    stats = {"ok": 0, "errors": 0, "reconnects": 0, "watch_chunks": 0,
             "why": [], "kinds": {}, "t0": time.monotonic()}
    deadline = time.monotonic() + seconds

    async def run():
        await asyncio.gather(watch(host, port, deadline, d, stats),
                             *[traffic_conn(i, host, port, deadline, d, stats)
                               for i in range(CONNS)])
    asyncio.run(run())
    q.put(("traffic", stats))


def probe(url, seconds, q, name="probe"):
    host, port = host_port(url)
    lat, fails, slow, how = [], 0, [], {}
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        t = time.monotonic()
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: soak\r\n"
                      b"Connection: close\r\n\r\n")
            a = s.recv(64)
            s.close()
            if not a.startswith(b"HTTP/1.1 204"):
                fails += 1
                k = "closed" if not a else "answer %r" % a[:12]
                how[k] = how.get(k, 0) + 1
        except OSError as e:
            fails += 1
            k = "timeout" if isinstance(e, socket.timeout) else fail_kind(e)
            how[k] = how.get(k, 0) + 1
        lat.append((time.monotonic() - t) * 1000)
        slow.append((lat[-1], t - start))
        time.sleep(max(0, 0.02 - (time.monotonic() - t)))
    slow = sorted(slow, reverse=True)[:5]
    q.put((name, {"lat": lat, "fails": fails, "slow": slow, "how": how}))


def ref_server(ls):
    """The reference for /health: a server that does nothing else (one
    process, blocking sockets), probed alongside the daemon, so that the
    machine's own scheduling delays show beside the daemon's figure."""
    while True:
        c, _ = ls.accept()
        c.settimeout(5)
        try:
            got = b""
            while b"\r\n\r\n" not in got:
                b = c.recv(4096)
                if not b:
                    break
                got += b
            c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        except OSError:
            pass
        c.close()


def bomb(size):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    z = b"\0" * (1 << 20)
    out = [c.compress(z) for _ in range(size >> 20)]
    out.append(c.flush())
    return b"".join(out)


async def attacker_run(pid, host, port, seconds, d, gz, stats):
    start = time.monotonic()
    deadline = start + seconds
    held = []
    sent = set()
    last_bomb = 0
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    lowered = False
    while time.monotonic() < deadline:
        now = time.monotonic() - start
        # (3) the daemon's soft descriptor limit lowered to 512 for the
        # middle fifth of the run (the soft one only: it can be raised
        # back, and the daemon rereads it)
        if "3" in ATTACK and not lowered and now >= 0.4 * seconds:
            resource.prlimit(pid, resource.RLIMIT_NOFILE,
                             (min(512, soft), hard))
            lowered = True
            stats["limit"] = "%d -> %d at %.0f s" % (soft, min(512, soft),
                                                      now)
        if lowered and now >= 0.6 * seconds and soft > 512:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            stats["limit"] += ", back to %d at %.0f s" % (soft, now)
            soft = 0
        # (1) partial requests closed at once
        for _ in range(100 if "1" in ATTACK else 0):
            try:
                s = socket.create_connection((host, port), timeout=1)
                s.sendall(b"GET /health HTTP/1.1\r\nHo")
                s.close()
                stats["early_closed"] += 1
            except OSError:
                stats["refused"] += 1
        # (2) partial connections, topped up to PARTIALS, trickling
        while "2" in ATTACK and len(held) < PARTIALS:
            try:
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((host, port))
                held.append(s)
            except OSError:
                break
        stats["partials_max"] = max(stats["partials_max"], len(held))
        alive = []
        for s in held:
            try:
                if s not in sent:
                    s.send(b"GET /health HTTP/1.1\r\nX-a: b")
                    sent.add(s)
                elif stats["rounds"] % 30 == 0:
                    s.send(b"b")
                alive.append(s)
            except BlockingIOError:
                alive.append(s)
            except OSError:
                sent.discard(s)
                s.close()
        stats["shed"] += len(held) - len(alive)
        held = alive
        # (4) a gzip bomb every 10 s, in its own task
        if "4" in ATTACK and now - last_bomb >= 10:
            last_bomb = now
            asyncio.ensure_future(bomb_once(host, port, d, gz, stats))
        stats["rounds"] += 1
        await asyncio.sleep(0.1)
    for s in held:
        s.close()


async def bomb_once(host, port, d, gz, stats):
    try:
        r, w = await asyncio.open_connection(host, port)
        head = ("POST /files?path=%s/bomb HTTP/1.1\r\nHost: soak\r\n"
                "Authorization: %s\r\nContent-Encoding: gzip\r\n"
                "Content-Type: application/octet-stream\r\n"
                "Content-Length: %d\r\n\r\n" % (d, AUTH, len(gz)))
        w.write(head.encode() + gz)
        status, _ = await asyncio.wait_for(read_answer(r), 60)
        stats["bombs"].append(status)
        w.close()
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        stats["bombs"].append(repr(e))
    try:
        os.unlink(d + "/bomb")
    except OSError:
        pass


def attacker(pid, url, seconds, d, gz, q):
    host, port = host_port(url)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stats = {"early_closed": 0, "refused": 0, "partials_max": 0, "shed": 0,
             "rounds": 0, "bombs": [], "limit": "unchanged"}
    asyncio.run(attacker_run(pid, host, port, seconds, d, gz, stats))
    q.put(("attacker", stats))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


def main():
    pid, url, seconds, d = int(sys.argv[1]), sys.argv[2], \
        float(sys.argv[3]), sys.argv[4]
    q = mp.Queue()
    # Made before the clock starts (it takes seconds on a loaded machine).
    gz = bomb(256 << 20) if "4" in ATTACK else b""
    # The reference: /health on the idle daemon, for 3 s before the load.
    base = mp.Process(target=probe, args=(url, 3, q))
    base.start()
    ref = q.get(timeout=60)[1]
    base.join()
    ls = socket.create_server(("127.0.0.1", 0), backlog=1024)
    ref_srv = mp.Process(target=ref_server, args=(ls,), daemon=True)
    ref_srv.start()
    ref_url = "http://127.0.0.1:%d/" % ls.getsockname()[1]
    procs = [mp.Process(target=traffic, args=(url, seconds, d, q)),
             mp.Process(target=probe, args=(ref_url, seconds, q, "ref")),
             mp.Process(target=attacker, args=(pid, url, seconds, d, gz, q)),
             mp.Process(target=probe, args=(url, seconds, q))]
    for p in procs:
        p.start()
    t0 = time.monotonic()
    warm = min(10.0, seconds / 6)
    rss = []
    load0 = load()
    while time.monotonic() - t0 < seconds:
        time.sleep(1)
        rss.append((time.monotonic() - t0, rss_kb(pid)))
        if len(rss) % 5 == 0:
            print("  %3.0f s: rss %d kB, %d fds, load %s" % (
                rss[-1][0], rss[-1][1], nfds(pid), load()), flush=True)
    res = dict(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    ref_srv.terminate()
    tr, at, pr = res["traffic"], res["attacker"], res["probe"]
    rf = res["ref"]
    after = [kb for t, kb in rss if t >= warm]
    rss_warm, rss_end = after[0], after[-1]
    drift = rss_end - rss_warm
    p50, p99 = pct(pr["lat"], 0.5), pct(pr["lat"], 0.99)
    bars = [
        ("errors", tr["errors"] == 0,
         "%d (%d requests ok, %d reconnects, %d watch chunks)" % (
             tr["errors"], tr["ok"], tr["reconnects"], tr["watch_chunks"])),
        ("rss", abs(drift) <= 1024,
         "warm-up %d kB, end %d kB, drift %+d kB (max %d kB)" % (
             rss_warm, rss_end, drift, max(after))),
        ("health", p99 <= 50 and pr["fails"] == 0,
         "p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d probes, %d failed%s" % (
             p50, p99, max(pr["lat"]), len(pr["lat"]), pr["fails"],
             "".join(" (%d %s)" % (n, k) for k, n in pr["how"].items()))),
    ]
    print("soak: %d s, %d connections, attack patterns %s, load average "
          "%s at the start, %s at the end" % (seconds, CONNS, ATTACK, load0,
                                               load()))
    print("attacker: %d early-closed, "
          "%d partials held at most, %d shed by the daemon, %d refused, "
          "gzip bombs %s, descriptor limit %s" % (
              at["early_closed"], at["partials_max"], at["shed"],
              at["refused"], at["bombs"], at["limit"]))
    print("before the load: /health p50 %.1f ms, p99 %.1f ms, %d probes" % (
        pct(ref["lat"], 0.5), pct(ref["lat"], 0.99), len(ref["lat"])))
    print("reference: a bare server on this machine during the run: p50 "
          "%.1f ms, p99 %.1f ms, max %.1f ms, %d probes" % (
              pct(rf["lat"], 0.5), pct(rf["lat"], 0.99), max(rf["lat"]),
              len(rf["lat"])))
    print("slowest /health: " + ", ".join(
        "%.0f ms at %.0f s" % x for x in pr["slow"]))
    for k in sorted(tr["kinds"]):
        n, first, last = tr["kinds"][k]
        print("  errors: %5d %s (from %.0f s to %.0f s)" % (n, k, first,
                                                          last))
    for why in tr["why"]:
        print("  error: " + why)
    miss = 0
    for name, ok, text in bars:
        print("%-7s %s  %s" % (name, "PASS" if ok else "MISS", text))
        miss += not ok
    sys.exit(1 if miss else 0)


if __name__ == "__main__":
    main()
