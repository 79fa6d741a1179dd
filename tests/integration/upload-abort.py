#!/usr/bin/env python3
"""Upload shapes for test-harden-upload.sh, against 127.0.0.1 only.

  upload-abort.py abort PORT DIR SHAPE   send the headers of an upload to
                                         DIR/SHAPE and part of its body
                                         (more than SO_RCVLOWAT's 256 KiB),
                                         then close; SHAPE is raw,
                                         multipart, gzip, chunked or bomb
                                         (a gzip body of zeros, which the
                                         daemon inflates in slices)
  upload-abort.py half PORT PATH [gzip]  a whole raw upload of 600000 bytes
                                         (gzip: 64 MiB of zeros gzip'd),
                                         then a half-close; prints the status
  upload-abort.py swap PORT DIR USER     upload 600000 bytes to DIR/sub/f as
                                         USER; once its temporary file is
                                         there, move DIR/sub to DIR/moved and
                                         put a symlink DIR/sub -> DIR/out in
                                         its place, then send the rest;
                                         prints the status, and writes the
                                         body to DIR/body
"""
import gzip
import os
import socket
import sys
import time

N = 600000


def head(path, ctype, extra):
    return (f"POST /files?path={path}&username=root HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: {ctype}\r\n{extra}\r\n").encode()


def status(s, timeout=10):
    s.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        b = s.recv(4096)
        if not b:
            break
        data += b
    return (data.split(b"\r\n")[0].decode("latin-1").split(" ")[1]
            if data else "none")


def swap(s, d, user):
    body = os.urandom(N)
    with open(os.path.join(d, "body"), "wb") as f:
        f.write(body)
    sub = os.path.join(d, "sub")
    s.sendall(head(os.path.join(sub, "f"), "application/octet-stream",
                   f"Content-Length: {N}\r\n").replace(
                       b"username=root", b"username=" + user.encode()) +
              body[:N // 2])
    for _ in range(200):
        if any(".envd-upload." in n for n in os.listdir(sub)):
            break
        time.sleep(0.01)
    else:
        raise SystemExit("no temporary file appeared")
    os.rename(sub, os.path.join(d, "moved"))
    os.symlink(os.path.join(d, "out"), sub)
    s.sendall(body[N // 2:])
    print(status(s))


def shape(kind, path):
    body = os.urandom(N)
    if kind == "raw":
        return head(path, "application/octet-stream",
                    "Content-Length: 10000000\r\n") + body
    if kind == "multipart":
        return head(path, "multipart/form-data; boundary=XX",
                    "Content-Length: 10000000\r\n") + \
            b'--XX\r\nContent-Disposition: form-data; name="file"; ' \
            b'filename="f"\r\n\r\n' + body
    if kind == "gzip":
        z = gzip.compress(body * 4, 1)
        return head(path, "application/octet-stream",
                    "Content-Encoding: gzip\r\nContent-Length: 10000000\r\n"
                    ) + z[:len(z) // 2]
    if kind == "bomb":
        z = gzip.compress(bytes(256 * 1024 * 1024), 6)
        return head(path, "application/octet-stream",
                    "Content-Encoding: gzip\r\nContent-Length: 10000000\r\n"
                    ) + z[:len(z) // 2]
    if kind == "chunked":
        return head(path, "application/octet-stream",
                    "Transfer-Encoding: chunked\r\n") + \
            b"%x\r\n" % N + body + b"\r\n"
    raise SystemExit("unknown shape " + kind)


cmd, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
if cmd == "abort":
    s.sendall(shape(sys.argv[4], os.path.join(sys.argv[3], sys.argv[4])))
    time.sleep(0.2)
    s.close()
elif cmd == "swap":
    swap(s, sys.argv[3], sys.argv[4])
elif cmd == "half":
    if len(sys.argv) > 4 and sys.argv[4] == "gzip":
        z = gzip.compress(bytes(64 * 1024 * 1024), 6)
        s.sendall(head(sys.argv[3], "application/octet-stream",
                       f"Content-Encoding: gzip\r\n"
                       f"Content-Length: {len(z)}\r\n") + z)
    else:
        s.sendall(head(sys.argv[3], "application/octet-stream",
                       f"Content-Length: {N}\r\n") + os.urandom(N))
    s.shutdown(socket.SHUT_WR)
    print(status(s, 5))
