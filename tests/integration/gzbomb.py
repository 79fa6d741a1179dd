#!/usr/bin/env python3
"""gzip uploads for test-harden-gzip.sh, against 127.0.0.1 only.

  gzbomb.py bomb PORT PID PATH MEMBERS
      POST /files?path=PATH a gzip body of MEMBERS members of 64 MiB of
      zeros each (about 64 KiB compressed per member), while another
      connection asks for /health every 5 ms. Prints
      "<status> <health max ms> <health answers> <daemon max VmRSS KiB>"
      and the answer body on a second line.
  gzbomb.py file PORT PATH SRC [multipart|chunked]
      upload the file SRC gzip'd (octet-stream with a Content-Length, as
      multipart, or chunked); prints the status.
"""
import gzip
import http.client
import socket
import sys
import threading
import time
import zlib

MEMBER = 64 * 1024 * 1024


def member():
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(bytes(MEMBER)) + c.flush()


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def answer(s):
    s.settimeout(120)
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0].split(b" ")[1].decode() if head else "none"
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
            while len(body) < n:
                b = s.recv(65536)
                if not b:
                    break
                body += b
    return status, body.decode("latin-1").strip()


def bomb(port, pid, path, members):
    m = member()
    body_len = len(m) * members
    stop = threading.Event()
    lat = []
    mem = [rss(pid)]

    def prober():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            t = time.monotonic()
            c.request("GET", "/health")
            c.getresponse().read()
            lat.append(time.monotonic() - t)
            mem.append(rss(pid))
            time.sleep(0.005)
        c.close()

    # A daemon thread: a failed bomb (no answer) must not leave the
    # prober running and the script waiting for it.
    th = threading.Thread(target=prober, daemon=True)
    th.start()
    time.sleep(0.05)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"POST /files?path={path}&username=root HTTP/1.1\r\n"
               f"Host: x\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Encoding: gzip\r\nContent-Length: {body_len}\r\n"
               f"\r\n").encode())
    try:
        for _ in range(members):
            s.sendall(m)
    except OSError:
        pass  # answered early and closed
    status, text = answer(s)
    s.close()
    stop.set()
    th.join()
    lat.sort()
    print(status, int(max(lat) * 1000), len(lat), max(mem),
          int(lat[len(lat) * 99 // 100] * 1000))
    print(text)


def upload(port, path, src, how):
    with open(src, "rb") as f:
        data = f.read()
    z = gzip.compress(data, 6)
    s = socket.create_connection(("127.0.0.1", port))
    if how == "multipart":
        body = gzip.compress(
            b'--XX\r\nContent-Disposition: form-data; name="file"; '
            b'filename="f"\r\nContent-Type: application/octet-stream'
            b'\r\n\r\n' + data + b"\r\n--XX--\r\n", 6)
        s.sendall((f"POST /files?path={path}&username=root HTTP/1.1\r\n"
                   f"Host: x\r\nContent-Type: multipart/form-data; "
                   f"boundary=XX\r\nContent-Encoding: gzip\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    elif how == "chunked":
        s.sendall((f"POST /files?path={path}&username=root HTTP/1.1\r\n"
                   f"Host: x\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Encoding: gzip\r\n"
                   f"Transfer-Encoding: chunked\r\n\r\n").encode())
        for i in range(0, len(z), 100000):
            part = z[i:i + 100000]
            s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    else:
        s.sendall((f"POST /files?path={path}&username=root HTTP/1.1\r\n"
                   f"Host: x\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Encoding: gzip\r\nContent-Length: {len(z)}\r\n"
                   f"\r\n").encode() + z)
    print(answer(s)[0])
    s.close()


cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "bomb":
    bomb(port, int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
elif cmd == "file":
    upload(port, sys.argv[3], sys.argv[4],
           sys.argv[5] if len(sys.argv) > 5 else "raw")
else:
    raise SystemExit("unknown command " + cmd)
