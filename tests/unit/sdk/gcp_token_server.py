#!/usr/bin/env python3
"""gcp_token_server.py DIR: a small OAuth token endpoint and metadata server
on loopback for tests/unit/sdk/test_gcp.c, standing in for Google's.

It makes an RSA key and writes two service-account key files into DIR:
key.json (that key, token_uri pointing here) and wrong.json (the same
client_email with another key, which this server must refuse). Then it
serves, until its stdin closes:

  POST /token   a JWT-bearer grant: the assertion's RS256 signature is
                checked with `cryptography` against the key made here, and
                its iss, aud, scope, iat and exp; a good one gets
                {"access_token": TOKEN, "expires_in": 3600}, a bad one 400
                {"error": "invalid_grant", "error_description": why}
  GET  /computeMetadata/v1/instance/service-accounts/default/token
  GET  /computeMetadata/v1/project/project-id
                the metadata server's, only with "Metadata-Flavor: Google"

It prints one line, "PORT TOKEN METADATA_TOKEN", once it listens.
"""
import base64
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

EMAIL = "kumo-test@demo-kumo.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PROJECT = "demo-from-metadata"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def main():
    out = sys.argv[1]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = "ya29.kumo-test-" + secrets.token_hex(8)
    md_token = "ya29.kumo-metadata-" + secrets.token_hex(8)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, ctype="application/json"):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self, why):
            self.answer(400, {"error": "invalid_grant", "error_description": why})

        def do_POST(self):
            if self.path != "/token":
                return self.answer(404, {"error": "not_found"})
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                return self.refuse("grant_type")
            parts = form.get("assertion", [""])[0].split(".")
            if len(parts) != 3:
                return self.refuse("not a JWS")
            try:
                key.public_key().verify(b64url_decode(parts[2]), (parts[0] + "." + parts[1]).encode(),
                                        padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, ValueError):
                return self.refuse("bad signature")
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            now = time.time()
            if header.get("alg") != "RS256":
                return self.refuse("alg")
            if claims.get("iss") != EMAIL or claims.get("scope") != SCOPE:
                return self.refuse("iss or scope")
            if claims.get("aud") != "http://127.0.0.1:%d/token" % self.server.server_port:
                return self.refuse("aud")
            if not (now - 300 <= claims.get("iat", 0) <= now + 300) or claims.get("exp", 0) - claims["iat"] > 3600:
                return self.refuse("iat or exp")
            self.answer(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

        def do_GET(self):
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.answer(403, "Missing Metadata-Flavor:Google header", "text/plain")
            if self.path == "/computeMetadata/v1/instance/service-accounts/default/token":
                return self.answer(200, {"access_token": md_token, "expires_in": 1799, "token_type": "Bearer"})
            if self.path == "/computeMetadata/v1/project/project-id":
                return self.answer(200, PROJECT, "text/plain")
            self.answer(404, "not found", "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_port
    for name, k in (("key.json", key), ("wrong.json", other)):
        with open(os.path.join(out, name), "w") as f:
            json.dump({"type": "service_account", "project_id": "demo-from-key", "private_key_id": "k1",
                       "private_key": pem(k), "client_email": EMAIL,
                       "token_uri": "http://127.0.0.1:%d/token" % port}, f)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(port, token, md_token, flush=True)
    sys.stdin.read()  # until the test closes it (or exits)
    server.shutdown()


if __name__ == "__main__":
    main()
