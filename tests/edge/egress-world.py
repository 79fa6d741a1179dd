#!/usr/bin/env python3
"""egress-world.py CERT: the outside world of the egress tests, on every
address of its namespace: HTTP on 80 and 8080, HTTPS (CERT holds the
certificate and key) on 443, a TCP echo on 9000 and a UDP echo on 7. HTTP
and HTTPS on 80 and 443 also answer on IPv6 when the namespace has it.
HTTP answers "host=HOST local=ADDR"; /big?N streams N bytes."""
import os
import socket
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


BIG_CHUNK = 16 << 20
_zeros = []
_zeros_lock = threading.Lock()


def zeros():
    """A memfd of BIG_CHUNK zero bytes (made on first use)."""
    with _zeros_lock:
        if not _zeros:
            fd = os.memfd_create("egress-world-zeros")
            os.write(fd, b"\0" * BIG_CHUNK)
            _zeros.append(fd)
        return _zeros[0]


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/big?"):
            size = int(self.path[5:])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            # sendfile(2) from a file of zeros held in memory: the world
            # spends next to no CPU of its own, as a server on another
            # host would, so a benchmark measures the path and the client
            fd = zeros()
            while size > 0:
                sent = 0
                while sent < min(size, BIG_CHUNK):
                    sent += os.sendfile(self.connection.fileno(), fd, sent,
                                        min(size, BIG_CHUNK) - sent)
                size -= sent
            return
        body = ("host=%s local=%s\n" % (self.headers.get("Host"),
                self.connection.getsockname()[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TCPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class Server6(Server):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def udp_echo():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 7))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)


def main():
    servers = [Server(("0.0.0.0", 80), Answer),
               Server(("0.0.0.0", 8080), Answer)]
    tls = [Server(("0.0.0.0", 443), Answer)]
    try:
        servers.append(Server6(("::", 80), Answer))
        tls.append(Server6(("::", 443), Answer))
    except OSError:
        pass
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1])
    for t in tls:
        t.socket = ctx.wrap_socket(t.socket, server_side=True)
    servers += tls + [EchoServer(("0.0.0.0", 9000), TCPEcho)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    udp_echo()


main()
