"""A real OpenID provider on loopback for the tests (tests/oidc/provider.mjs,
npm's oidc-provider): started on a free port, it issues JWT access tokens
with the client credentials grant, signed with a key it makes at start, so
that a restart on the same port with another kid is a key rotation.

`available()` says why it cannot run (no node or npm, or the package
cannot be installed); the first use installs the package pinned in
tests/oidc/package-lock.json with `npm ci`.
"""
import base64
import json
import os
import shutil
import subprocess
import time

import requests

from kumo_harness import SOURCE, free_port

DIR = os.path.join(SOURCE, "tests", "oidc")
CLIENT = ("kumo-test", "kumo-test-secret")


def available():
    """None when the provider can run, else why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed (make deps)"
    if not os.path.isdir(os.path.join(DIR, "node_modules", "oidc-provider")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=DIR, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            return "npm ci in tests/oidc failed:\n" + r.stdout + r.stderr
    return None


def claims(token):
    """The payload of a compact JWT, unverified (for the test's own checks)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Provider:
    def __init__(self, port=None, kid="key-1", alg="ES256", audience="https://api.kumo.test",
                 scopes="todos:read todos:write todos:admin", log_dir=None):
        self.port = port or free_port()
        self.issuer = "http://127.0.0.1:%d" % self.port
        self.kid, self.alg, self.audience, self.scopes = kid, alg, audience, scopes
        self.log = open(os.path.join(log_dir or "/tmp", "oidc-%d-%s.log" % (self.port, kid)), "w+")
        self.proc = subprocess.Popen(
            ["node", os.path.join(DIR, "provider.mjs"), "--port", str(self.port), "--kid", kid, "--alg", alg,
             "--audience", audience, "--scopes", scopes],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()  # bounded: the provider prints it or exits
        if not line.startswith("{"):
            self.stop()
            raise AssertionError("the OpenID provider did not start:\n" + self.output())
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(self.issuer + "/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("the OpenID provider does not answer:\n" + self.output())

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def token(self, scope="todos:read", resource=None):
        """An access token; resource: another audience (see provider.mjs)."""
        data = {"grant_type": "client_credentials", "scope": scope}
        if resource:
            data["resource"] = resource
        r = requests.post(self.issuer + "/token", auth=CLIENT, data=data, timeout=10)
        if r.status_code != 200:
            raise AssertionError("no token from the provider: %d %s" % (r.status_code, r.text))
        return r.json()["access_token"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
