#!/usr/bin/env python3
"""The remote services of benches/compare.sh in one small server (standard library only), each
answering as the system it stands for documents:

    python3 benches/lib/peers.py PORT JWKS_FILE ISSUER AUDIENCE

- GET  /jwks.json         the JWKS file (the issuer's keys, for Portcullis and Apache mod_oauth2)
- POST /introspect        RFC 7662 token introspection: `{"active": true, ...}` for the bearer
                          token `opaque-bench-token` sent with HTTP Basic client authentication,
                          `{"active": false}` for any other
- GET  /sessions/whoami   an Ory Kratos session (200 JSON) when the `ory_kratos_session` cookie
                          is sent, else 401 as Kratos answers
- POST /authorize         an `[[authorizers]]` kind `http` endpoint: 200 (allow) for any JSON body
- GET  /calls             how many times each of the above was called, as JSON

The bench relies on Portcullis's caches: each endpoint should be called once per credential.
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PORT, JWKS_FILE, ISSUER, AUDIENCE = sys.argv[1:5]
OPAQUE_TOKEN = "opaque-bench-token"
CLIENT = ("portcullis", "bench-secret")
CALLS = {"jwks": 0, "introspect": 0, "whoami": 0, "authorize": 0}
LOCK = threading.Lock()

with open(JWKS_FILE, "rb") as f:
    JWKS = f.read()

SESSION = {
    "id": "5f3c7c61-0000-4000-8000-000000000001",
    "active": True,
    "expires_at": "2099-01-01T00:00:00.000000Z",
    "authenticated_at": "2026-11-29T00:00:00.000000Z",
    "identity": {
        "id": "9f425a8d-7f2d-4a2c-8b1e-000000000001",
        "schema_id": "default",
        "state": "active",
        "traits": {"email": "carol@example.com", "username": "carol"},
        "metadata_public": {"groups": ["admins", "dev"]},
    },
}


def count(name):
    with LOCK:
        CALLS[name] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def do_GET(self):
        if self.path == "/jwks.json":
            count("jwks")
            self.answer(200, JWKS)
        elif self.path == "/sessions/whoami":
            count("whoami")
            if "ory_kratos_session=" in self.headers.get("Cookie", ""):
                self.answer(200, SESSION)
            else:
                self.answer(401, {"error": {"code": 401, "status": "Unauthorized"}})
        elif self.path == "/calls":
            with LOCK:
                self.answer(200, dict(CALLS))
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = self.body()
        if self.path == "/introspect":
            count("introspect")
            expected = "Basic " + base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.answer(401, {"error": "invalid_client"})
                return
            token = parse_qs(body.decode()).get("token", [""])[0]
            if token != OPAQUE_TOKEN:
                self.answer(200, {"active": False})
                return
            now = int(time.time())
            self.answer(200, {
                "active": True, "iss": ISSUER, "aud": AUDIENCE, "sub": "bob",
                "client_id": "bench-client", "scope": "openid email", "token_type": "Bearer",
                "email": "bob@example.com", "groups": ["admins", "dev"],
                "iat": now, "exp": now + 86400,
            })
        elif self.path == "/authorize":
            count("authorize")
            try:
                json.loads(body)
            except ValueError:
                self.answer(400, {"error": "not JSON"})
                return
            self.answer(200, b"", "text/plain")
        else:
            self.answer(404, {"error": "not found"})


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
