#!/usr/bin/env python3
"""egress-conns.py: TCP probes of the egress tests, run inside a sandbox.

  probe ADDR PORT PAYLOAD
      connect, send PAYLOAD (\\r\\n written as "\\r\\n"), then read until
      EOF, reset or 3 s of silence; print "connect=ok bytes=N" (N bytes
      came back) or "connect=fail".
  cap ADDR PORT N
      against a TCP echo: open N connections and check each echoes; open
      one more and count the bytes it returns (probe's rules); check the N
      still echo; close one of them, then check a new connection echoes.
      Prints "first=K extra=connect=... bytes=M again=J after=L".
"""
import socket
import sys
import time


def probe(addr, port, payload, timeout=3.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    try:
        s.connect((addr, port))
    except OSError:
        s.close()
        return "connect=fail"
    got = 0
    deadline = time.monotonic() + timeout
    try:
        if payload:
            s.sendall(payload)
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
    except OSError:
        pass
    s.close()
    return "connect=ok bytes=%d" % got


def echo(s, word):
    try:
        s.sendall(word)
        data = b""
        while len(data) < len(word):
            part = s.recv(len(word) - len(data))
            if not part:
                return False
            data += part
        return data == word
    except OSError:
        return False


def dial(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    try:
        s.connect((addr, port))
    except OSError:
        pass
    return s


def cap(addr, port, n):
    held = [dial(addr, port) for _ in range(n)]
    first = sum(echo(s, b"first %d\n" % i) for i, s in enumerate(held))
    extra = probe(addr, port, b"extra\n", timeout=2.0)
    again = sum(echo(s, b"again %d\n" % i) for i, s in enumerate(held))
    held.pop().close()
    after = 0
    for _ in range(20):
        time.sleep(0.1)
        s = dial(addr, port)
        ok = echo(s, b"after\n")
        s.close()
        if ok:
            after = 1
            break
    for s in held:
        s.close()
    return "first=%d extra=%s again=%d after=%d" % (first, extra, again,
                                                     after)


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "probe":
        payload = sys.argv[4].replace("\\r\\n", "\r\n").encode()
        print(probe(addr, port, payload))
    elif mode == "cap":
        print(cap(addr, port, int(sys.argv[4])))
    else:
        sys.exit("usage: egress-conns.py probe|cap ADDR PORT ARG")


main()
