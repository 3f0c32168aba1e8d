"""An upstream that trusts Portcullis's identity token and nothing else, as an upstream team
would write it with an independent JWT library (PyJWT + cryptography), verifying against
Portcullis's published `GET /.well-known/jwks.json` (fetched on every request, so a key
rotation is seen at once).

    identity_upstream.py PORT JWKS_URL ISSUER HEADER AUDIENCES_JSON

AUDIENCES_JSON maps a path prefix to the audience this upstream expects there (null: a token
without `aud`; false: a public path, answered 200 {"verified": false, "public": true} with no
token checked). POST is answered as GET. It answers 200 with what it verified ({"verified":
true, "claims", "kid", "alg", "token"}) or 401 with {"verified": false, "error"}. Used by tests/it/identity_token.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

PORT, JWKS_URL, ISSUER, HEADER, AUDIENCES = sys.argv[1:6]
AUDIENCES = json.loads(AUDIENCES)


def audience_for(path):
    # The longest matching prefix wins (JSON objects have no order).
    for prefix, audience in sorted(AUDIENCES.items(), key=lambda item: -len(item[0])):
        if path.startswith(prefix):
            return audience
    return None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if audience_for(self.path) is False:
            self.answer(200, {"verified": False, "public": True})
            return
        value = self.headers.get(HEADER, "")
        if HEADER.lower() == "authorization":
            token = value[len("Bearer "):] if value.startswith("Bearer ") else ""
        else:
            token = value
        try:
            if not token:
                raise ValueError("no identity token in " + HEADER)
            keys = jwt.PyJWKClient(JWKS_URL, cache_jwk_set=False, cache_keys=False)
            key = keys.get_signing_key_from_jwt(token)
            header = jwt.get_unverified_header(token)
            audience = audience_for(self.path)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256"],
                issuer=ISSUER,
                audience=audience,
                options={"require": ["exp", "iat", "nbf", "iss", "sub", "jti"]},
            )
            self.answer(200, {"verified": True, "claims": claims, "kid": header.get("kid"),
                              "alg": header.get("alg"), "token": token})
        except Exception as error:  # every refusal is a 401 naming why
            self.answer(401, {"verified": False, "error": f"{type(error).__name__}: {error}"})

    do_POST = do_GET

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("upstream: " + (format % args) + "\n")


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
