#!/usr/bin/env python3
"""Connection patterns for the hardening tests, against 127.0.0.1 only.

  connload.py partial-close PORT N     N connections each send half a
                                       request line and headers, then close
  connload.py hold PORT N SECS [KIND]  open N connections and hold them for
                                       SECS; KIND is partial (half the
                                       headers, the default), body (headers
                                       of an upload whose body never comes),
                                       busy (the same for POST /init, which
                                       opens nothing but the socket) or
                                       idle (one whole request answered,
                                       then idle keep-alive); prints "held N"
                                       once all are open, then "closed-by-
                                       peer M" when it lets go
  connload.py ask PORT METHOD PATH     one request on a fresh connection;
                                       prints the status and milliseconds
  connload.py raw PORT FILE            send FILE's bytes, half-close, print
                                       what comes back (5 s at most)
  connload.py wait-eof PORT SECS       send half a request, print the
                                       seconds until the server closes (or
                                       "open" after SECS)
  connload.py start PORT N SECS        N Process.Start streams of "sleep
                                       SECS" at once, each on its own
                                       connection, read to their ends;
                                       prints "ended N failed M" and the
                                       first failure
Every loop is bounded by its count or its time.
"""
import json
import resource
import select
import socket
import struct
import sys
import time

PARTIAL = b"GET /health HTTP/1.1\r\nHo"
BODY = (b"POST /files?path=/tmp/x HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 1000\r\n\r\nabc")
BUSY = (b"POST /init HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
WHOLE = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def partial_close(port, n):
    for _ in range(n):
        s = connect(port)
        s.sendall(PARTIAL)
        s.close()


def peer_closed(s):
    p = select.poll()
    p.register(s, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return s.recv(65536, socket.MSG_PEEK) == b""
    except OSError:
        return True


def hold(port, n, secs, kind):
    raise_nofile(n)
    socks = []
    for _ in range(n):
        try:
            s = connect(port)
            if kind == "idle":
                s.sendall(WHOLE)
                s.recv(4096)
            else:
                s.sendall({"body": BODY, "busy": BUSY}.get(kind, PARTIAL))
        except OSError:
            break
        socks.append(s)
    print("held %d" % len(socks), flush=True)
    time.sleep(secs)
    gone = [i for i, s in enumerate(socks) if peer_closed(s)]
    print("closed-by-peer %d first %s last %s" % (
        len(gone), gone[0] if gone else -1, gone[-1] if gone else -1),
        flush=True)
    for s in socks:
        s.close()


def ask(port, method, path):
    t0 = time.monotonic()
    try:
        s = connect(port)
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                   "Connection: close\r\n\r\n" % (method, path)).encode())
        data = s.recv(4096)
        s.close()
        status = data.split(b" ")[1].decode() if data else "none"
    except OSError as e:
        status = "error:" + e.__class__.__name__
    print("%s %.1f" % (status, (time.monotonic() - t0) * 1000))


def read_to_end(s, deadline):
    """What s sends until it closes, fails or deadline passes."""
    out = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            d = s.recv(65536)
        except OSError:
            break
        if not d:
            break
        out += d
    return out


def raw(port, path):
    with open(path, "rb") as f:
        req = f.read()
    s = connect(port)
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    sys.stdout.buffer.write(read_to_end(s, time.monotonic() + 5))


def wait_eof(port, secs):
    s = connect(port)
    s.sendall(PARTIAL)
    t0 = time.monotonic()
    p = select.poll()
    p.register(s, select.POLLIN)
    while time.monotonic() - t0 < secs:
        if p.poll(500):
            try:
                if s.recv(4096) == b"":
                    print("%.0f" % (time.monotonic() - t0))
                    return
            except OSError:
                print("%.0f" % (time.monotonic() - t0))
                return
    print("open")


def start(port, n, secs):
    body = json.dumps({"process": {"cmd": "/bin/sleep",
                                   "args": [str(secs)]}}).encode()
    req = (b"POST /process.Process/Start HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/connect+json\r\n"
           b"Connection: close\r\n"
           b"Content-Length: %d\r\n\r\n" % (5 + len(body)) +
           struct.pack(">BI", 0, len(body)) + body)
    socks, answers = [], []
    for _ in range(n):
        s = connect(port)
        s.sendall(req)
        socks.append(s)
    deadline = time.monotonic() + secs + 10
    for s in socks:
        answers.append(read_to_end(s, deadline))
        s.close()
    ended = [a for a in answers if b'"status":"exit status 0"' in a]
    bad = [a for a in answers if a not in ended]
    print("ended %d failed %d%s" % (len(ended), len(bad),
                                    " %r" % bad[0][-200:] if bad else ""))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "partial-close":
        partial_close(port, int(sys.argv[3]))
    elif cmd == "hold":
        hold(port, int(sys.argv[3]), float(sys.argv[4]),
             sys.argv[5] if len(sys.argv) > 5 else "partial")
    elif cmd == "ask":
        ask(port, sys.argv[3], sys.argv[4])
    elif cmd == "raw":
        raw(port, sys.argv[3])
    elif cmd == "wait-eof":
        wait_eof(port, float(sys.argv[3]))
    elif cmd == "start":
        start(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
