#!/usr/bin/env python3
"""echo.py PORT ADDR: an HTTP server answering every request with its
Host and X-Forwarded-Host headers as JSON; /big streams SIZE bytes of zeros."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/big"):
            size = int(self.path.split("=", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"\0" * 65536
            while size > 0:
                n = min(size, len(chunk))
                self.wfile.write(chunk[:n])
                size -= n
            return
        body = json.dumps({
            "host": self.headers.get("Host"),
            "xfh": self.headers.get("X-Forwarded-Host"),
            "xff": self.headers.get("X-Forwarded-For"),
            "path": self.path,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer((sys.argv[2], int(sys.argv[1])), Echo).serve_forever()
