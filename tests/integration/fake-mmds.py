#!/usr/bin/env python3
"""fake-mmds.py ADDR PORT STATE LOG - a Firecracker MMDS V2 stand-in.

PUT /latest/api/token with X-metadata-token-ttl-seconds issues a session
token; GET / with a valid X-metadata-token and Accept: application/json
answers the JSON object in the file STATE (re-read on every request; {}
when it is missing). A missing or unknown token gets 401, as Firecracker
answers. Every request is appended to LOG as "METHOD PATH ttl=.. accept=..
token=ok|bad|none". The file STATE.down makes every request fail with 500.
"""
import http.server
import json
import os
import secrets
import sys

ADDR, PORT, STATE, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TOKENS = set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def note(self, tok):
        with open(LOG, "a") as f:
            f.write("%s %s ttl=%s accept=%s token=%s conn=%s\n" % (
                self.command, self.path,
                self.headers.get("X-metadata-token-ttl-seconds", "-"),
                self.headers.get("Accept", "-"), tok,
                self.headers.get("Connection", "-")))

    def answer(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_PUT(self):
        self.note("none")
        if os.path.exists(STATE + ".down"):
            return self.answer(500, "down", "text/plain")
        if self.path != "/latest/api/token" or \
                "X-metadata-token-ttl-seconds" not in self.headers:
            return self.answer(400, "bad token request", "text/plain")
        tok = secrets.token_urlsafe(32)
        TOKENS.add(tok)
        self.answer(200, tok, "text/plain")

    def do_GET(self):
        tok = self.headers.get("X-metadata-token")
        self.note("ok" if tok in TOKENS else ("bad" if tok else "none"))
        if os.path.exists(STATE + ".down"):
            return self.answer(500, "down", "text/plain")
        if tok not in TOKENS:
            return self.answer(401, json.dumps({"error": "unauthorized"}))
        try:
            with open(STATE) as f:
                body = f.read()
        except FileNotFoundError:
            body = "{}"
        self.answer(200, body)


http.server.ThreadingHTTPServer((ADDR, PORT), Handler).serve_forever()
