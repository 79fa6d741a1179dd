#!/usr/bin/env python3
"""fake-collector.py ADDR PORT LOG - a log collector stand-in.

Every request is appended to LOG as one line: "METHOD PATH CONTENT-TYPE
CONNECTION BODY" (the body as sent, which must hold no newline) when its
body has arrived. Answers 204; while the file LOG.fail exists, 500; while
LOG.slow exists, only after the number of seconds it holds.
"""
import http.server
import os
import sys
import time

ADDR, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        with open(LOG, "a") as f:
            f.write("%s %s %s %s %s\n" % (
                self.command, self.path,
                self.headers.get("Content-Type", "-"),
                self.headers.get("Connection", "-"), body))
        try:
            with open(LOG + ".slow") as f:
                time.sleep(min(float(f.read().strip() or 0), 5))
        except (OSError, ValueError):
            pass
        self.send_response(500 if os.path.exists(LOG + ".fail") else 204)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True


http.server.ThreadingHTTPServer((ADDR, PORT), Handler).serve_forever()
