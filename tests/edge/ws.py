#!/usr/bin/env python3
"""ws.py - a WebSocket echo server and client (RFC 6455), stdlib only.

ws.py serve PORT ADDR
    Answers an upgrade on any path with 101, sends one text frame
    "host=<Host header it received>", then echoes every text and binary
    frame, answers pings and closes on a close frame. Any other request
    gets 426.

ws.py client URL [--cacert FILE] [-H 'Name: value']...
    Upgrades ws:// or wss:// URL (http:// and https:// are taken as the
    same), sends a text frame, a 200 KiB binary frame (64-bit length) and
    a ping, checks what comes back byte for byte, closes. Prints one line:
    "echoed host=..." on success, "status N" when the upgrade was refused
    (exit 0 either way), or "error: ..." (exit 1).
"""
import base64
import hashlib
import os
import socket
import socketserver
import ssl
import struct
import sys
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 1 << 24


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise EOFError("connection closed mid-frame")
    return b


def read_frame(f):
    """(opcode, payload) of one unfragmented frame; unmasks if masked."""
    h = read_exact(f, 2)
    op, n = h[0] & 0x0F, h[1] & 0x7F
    if not h[0] & 0x80:
        raise ValueError("fragmented frames are not used here")
    if n == 126:
        n = struct.unpack("!H", read_exact(f, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(f, 8))[0]
    if n > MAX_FRAME:
        raise ValueError("frame too large")
    mask = read_exact(f, 4) if h[1] & 0x80 else None
    data = read_exact(f, n)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return op, data


def frame(op, data, masked):
    n = len(data)
    head = bytes([0x80 | op])
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + data
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def read_head(f):
    """Start line and lower-cased headers of an HTTP/1.1 head."""
    line = f.readline(8192).decode("latin-1").rstrip("\r\n")
    headers = {}
    while True:
        h = f.readline(8192).decode("latin-1").rstrip("\r\n")
        if not h:
            return line, headers
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        line, h = read_head(self.rfile)
        if not line:
            return
        if h.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in h:
            self.wfile.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
            return
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                          % accept_key(h["sec-websocket-key"])).encode())
        self.wfile.write(frame(1, ("host=" + h.get("host", "")).encode(), False))
        self.wfile.flush()
        while True:
            try:
                op, data = read_frame(self.rfile)
            except (EOFError, ValueError, OSError):
                return
            if op == 8:
                self.wfile.write(frame(8, data[:2], False))
                return
            self.wfile.write(frame(10 if op == 9 else op, data, False))
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def client(argv):
    url, cacert, extra = argv[0], None, []
    i = 1
    while i < len(argv):
        if argv[i] == "--cacert":
            cacert = argv[i + 1]
        elif argv[i] == "-H":
            extra.append(argv[i + 1])
        else:
            raise SystemExit("unknown argument " + argv[i])
        i += 2
    u = urlsplit(url)
    tls = u.scheme in ("wss", "https")
    port = u.port or (443 if tls else 80)
    sock = socket.create_connection((u.hostname, port), timeout=10)
    if tls:
        ctx = ssl.create_default_context(cafile=cacert)
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    f = sock.makefile("rwb")
    key = base64.b64encode(os.urandom(16)).decode()
    req = ["GET %s HTTP/1.1" % (u.path or "/"), "Host: %s" % u.netloc,
           "Upgrade: websocket", "Connection: Upgrade",
           "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"] + extra
    f.write(("\r\n".join(req) + "\r\n\r\n").encode())
    f.flush()
    line, h = read_head(f)
    status = line.split(" ")[1] if line.count(" ") else "?"
    if status != "101":
        print("status " + status)
        return 0
    if h.get("sec-websocket-accept") != accept_key(key):
        print("error: bad Sec-WebSocket-Accept")
        return 1
    op, hello = read_frame(f)
    if op != 1 or not hello.startswith(b"host="):
        print("error: no greeting")
        return 1
    big = bytes((i * 7 + 3) & 0xFF for i in range(200 * 1024))
    for op, data, want in ((1, "échø".encode(), 1), (2, big, 2), (9, b"pp", 10)):
        f.write(frame(op, data, True))
        f.flush()
        got_op, got = read_frame(f)
        if got_op != want or got != data:
            print("error: frame %d came back as opcode %d, %d bytes" % (op, got_op, len(got)))
            return 1
    f.write(frame(8, struct.pack("!H", 1000), True))
    f.flush()
    op, _ = read_frame(f)
    if op != 8:
        print("error: no close frame")
        return 1
    print("echoed " + hello.decode())
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        Server((sys.argv[3], int(sys.argv[2])), Echo).serve_forever()
    elif len(sys.argv) >= 3 and sys.argv[1] == "client":
        try:
            sys.exit(client(sys.argv[2:]))
        except (OSError, EOFError, ValueError) as e:
            print("error: %s" % e)
            sys.exit(1)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
