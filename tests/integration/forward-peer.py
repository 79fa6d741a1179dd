#!/usr/bin/env python3
"""forward-peer.py - both ends of the port-forwarding tests.

  serve HOST PORT          answer connections until killed. A connection
                           starting with "H" is read to its end, then
                           answered with "<sha256 hex> <bytes>\\n"; one
                           starting with "G" and an 8-byte big-endian count
                           gets that many bytes of the pattern; one
                           starting with "X" gets 1 MiB of it, then a
                           reset (RST).
  stall HOST PORT          accept connections and never read them.
  hash HOST PORT BYTES     send "H" and BYTES bytes of the pattern, shut
                           down writing, print the answer.
  get HOST PORT BYTES      ask for BYTES bytes; print "<sha256 hex> <bytes>".
  expect BYTES             print the sha256 of BYTES bytes of the pattern.
  parallel HOST PORT N     N concurrent "hash" exchanges of distinct sizes;
                           print how many got the right answer.
  idle HOST PORT N SECS    hold N connections open for up to SECS seconds
                           (until stdin closes), print "open N" first.
  probe HOST PORT          exit 0 if a "hash" exchange works, 1 otherwise.
  hold HOST PORT N         open N connections, each sending "H"; print
                           "alive A refused R" (refused: ended by the
                           forwarder within 1 s) and hold the live ones
                           until stdin closes.
  reset HOST PORT BYTES    send "H" and BYTES bytes, then reset the
                           connection (SO_LINGER 0) instead of ending it.
  resetget HOST PORT       send "X"; print "reset BYTES" when the answer
                           ends in a reset, "eof BYTES" when it just ends.
  push HOST PORT BYTES SECS  send up to BYTES bytes for at most SECS
                           seconds without reading; print the bytes sent.
"""
import asyncio
import hashlib
import socket
import select
import struct
import sys
import time

BLOCK = bytes((i * 7 + 3) & 0xFF for i in range(1 << 20))


def pattern(n):
    while n > 0:
        k = min(n, len(BLOCK))
        yield BLOCK[:k]
        n -= k


async def handle(reader, writer):
    try:
        cmd = await reader.readexactly(1)
        if cmd == b"H":
            h, n = hashlib.sha256(), 0
            while True:
                b = await reader.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
            writer.write(b"%s %d\n" % (h.hexdigest().encode(), n))
        elif cmd == b"X":
            writer.write(BLOCK)
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        elif cmd == b"G":
            (count,) = struct.unpack(">Q", await reader.readexactly(8))
            for b in pattern(count):
                writer.write(b)
                await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6 and host.startswith("::ffff:"):
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, port))
    s.listen(1024)
    server = await asyncio.start_server(handle, sock=s)
    async with server:
        await server.serve_forever()


def stall(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(16)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def connect(host, port, timeout=10):
    return socket.create_connection((host, port), timeout=timeout)


def recv_all(s):
    out = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            return b"".join(out)
        out.append(b)


def hash_exchange(host, port, nbytes, timeout=30):
    with connect(host, port, timeout) as s:
        s.sendall(b"H")
        for b in pattern(nbytes):
            s.sendall(b)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s).decode().strip()


def expect(nbytes):
    h = hashlib.sha256()
    for b in pattern(nbytes):
        h.update(b)
    return "%s %d" % (h.hexdigest(), nbytes)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        asyncio.run(serve(args[0], int(args[1])))
    elif cmd == "hash":
        print(hash_exchange(args[0], int(args[1]), int(args[2]), 120))
    elif cmd == "expect":
        print(expect(int(args[0])))
    elif cmd == "get":
        with connect(args[0], int(args[1]), 120) as s:
            s.sendall(b"G" + struct.pack(">Q", int(args[2])))
            h, n = hashlib.sha256(), 0
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
        print("%s %d" % (h.hexdigest(), n))
    elif cmd == "parallel":
        host, port, n = args[0], int(args[1]), int(args[2])
        socks, good = [], 0
        for i in range(n):
            s = connect(host, port, 30)
            s.sendall(b"H")
            s.sendall(BLOCK[: 1000 + i])
            socks.append(s)
        for s in socks:
            s.shutdown(socket.SHUT_WR)
        for i, s in enumerate(socks):
            if recv_all(s).decode().strip() == expect(1000 + i):
                good += 1
            s.close()
        print(good)
    elif cmd == "idle":
        host, port, n = args[0], int(args[1]), int(args[2])
        socks = [connect(host, port) for _ in range(n)]
        for s in socks:
            s.sendall(b"H")
        print("open %d" % len(socks), flush=True)
        sys.stdin.read()
        for s in socks:
            s.close()
    elif cmd == "stall":
        stall(args[0], int(args[1]))
    elif cmd == "hold":
        host, port, n = args[0], int(args[1]), int(args[2])
        socks, refused = [], 0
        for _ in range(n):
            try:
                s = connect(host, port)
                s.sendall(b"H")
                socks.append(s)
            except OSError:
                refused += 1
        alive, deadline = [], time.monotonic() + 1
        for s in socks:
            r, _, _ = select.select([s], [], [],
                                    max(0, deadline - time.monotonic()))
            if r:
                try:
                    b = s.recv(1)
                except OSError:
                    b = b""
                if not b:
                    s.close()
                    continue
            alive.append(s)
        print("alive %d refused %d" % (len(alive), n - len(alive)),
              flush=True)
        sys.stdin.read()
        for s in alive:
            s.close()
    elif cmd == "reset":
        s = connect(args[0], int(args[1]))
        s.sendall(b"H")
        for b in pattern(int(args[2])):
            s.sendall(b)
        linger0(s)
        s.close()
    elif cmd == "resetget":
        s, n = connect(args[0], int(args[1])), 0
        s.sendall(b"X")
        try:
            while True:
                b = s.recv(1 << 20)
                if not b:
                    print("eof %d" % n)
                    break
                n += len(b)
        except ConnectionResetError:
            print("reset %d" % n)
        s.close()
    elif cmd == "push":
        host, port, n, secs = args[0], int(args[1]), int(args[2]), float(args[3])
        s, sent = connect(host, port), 0
        s.setblocking(False)
        deadline = time.monotonic() + secs
        while sent < n and time.monotonic() < deadline:
            _, w, _ = select.select([], [s], [], 0.1)
            if w:
                try:
                    sent += s.send(BLOCK[: min(len(BLOCK), n - sent)])
                except BlockingIOError:
                    pass
        print(sent, flush=True)
        linger0(s)
        s.close()
    elif cmd == "probe":
        try:
            ok = hash_exchange(args[0], int(args[1]), 1, 2) == expect(1)
        except OSError:
            ok = False
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
