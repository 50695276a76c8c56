"""kumo trusting a real OpenID provider (issue 16).

The test starts npm's oidc-provider (tests/oidc/provider.mjs) on a free
loopback port; its access tokens are JWTs signed with a key it made at
start, issued to a client with the client credentials grant. projects/oidc
declares an openIdConnect scheme whose openIdConnectUrl is the provider's
discovery document; kumo finds the keys from it.

- a token the provider issued is accepted; the handler sees its subject
  and scope;
- a missing token is a 401 with a Bearer challenge; a token without a
  scope the operation lists is a 403 insufficient_scope;
- expired, wrong-audience, tampered, `alg: none` and HS256 tokens signed
  with the provider's public key are refused with invalid_token;
- the provider restarts with a new key (a rotation): its new tokens are
  refused until kumo fetches the keys again (at most every 10 s, on the
  unknown kid), then accepted; the old key's tokens then are refused.

Every wait is bounded. Without node and npm the test is skipped, loudly.
"""
import base64
import json
import os
import re
import shutil
import time
import unittest

import requests

import oidc_provider
from kumo_harness import Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
WHY_NOT = oidc_provider.available()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, payload, signature=b"x"):
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)])


@unittest.skipIf(WHY_NOT, "SKIPPED LOUDLY: " + (WHY_NOT or ""))
class OidcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project("oidc", PROJECTS)
        cls.provider = oidc_provider.Provider(kid="key-1", log_dir=os.path.dirname(cls.project_dir))
        issuer = cls.provider.issuer
        for name in ("openapi.yaml", "kumo.yaml"):
            path = os.path.join(cls.project_dir, name)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("http://127.0.0.1:1", issuer))
        cls.gw = Gateway(cls.project_dir)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.gw.stop()
            err = cls.gw.stderr()
            if rc != 0:
                raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
            if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
                raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        finally:
            cls.provider.stop()
            shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def call(self, token, method="GET", path="/todos"):
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        return requests.request(method, self.gw.base + path, headers=headers, timeout=10)

    def assert_refused(self, r, error="invalid_token"):
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.headers["content-type"], "application/problem+json")
        self.assertRegex(r.headers.get("www-authenticate", ""), r'^Bearer .*error="%s"' % error)

    def test_1_tokens_from_the_provider(self):
        token = self.provider.token("todos:read")
        r = self.call(token)
        self.assertEqual(r.status_code, 200, r.text + self.gw.stderr()[-2000:])
        self.assertEqual(r.json(), {"subject": "kumo-test", "scope": "todos:read"})

        # no token: a Bearer challenge
        r = self.call(None)
        self.assertEqual(r.status_code, 401, r.text)
        self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer "), r.headers)

        # a valid token without todos:admin: 403, the missing scope named
        r = self.call(token, "POST", "/admin")
        self.assertEqual(r.status_code, 403, r.text)
        self.assertIn('error="insufficient_scope"', r.headers.get("www-authenticate", ""))
        self.assertEqual(self.call(self.provider.token("todos:read todos:admin"), "POST", "/admin").status_code, 200)

    def test_2_bad_tokens_are_refused(self):
        token = self.provider.token("todos:read")
        header, payload, sig = token.split(".")
        claims = oidc_provider.claims(token)
        hdr = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))

        # tampered payload (a wider scope), and tampered signature
        wider = dict(claims, scope="todos:read todos:admin")
        self.assert_refused(self.call(".".join([header, b64(json.dumps(wider).encode()), sig]), "POST", "/admin"))
        self.assert_refused(self.call(".".join([header, payload, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])))
        # alg none, with and without a signature
        self.assert_refused(self.call(forge({"alg": "none", "kid": hdr["kid"]}, claims, b"")))
        self.assert_refused(self.call(forge({"alg": "none"}, claims, b"")))
        # HS256 keyed with the provider's public key (algorithm confusion)
        import hashlib
        import hmac
        jwks = requests.get(self.provider.issuer + "/jwks", timeout=5).text.encode()
        signing = (b64(json.dumps({"alg": "HS256", "kid": hdr["kid"]}).encode()) + "." +
                   b64(json.dumps(claims).encode()))
        mac = hmac.new(jwks, signing.encode(), hashlib.sha256).digest()
        self.assert_refused(self.call(signing + "." + b64(mac)))
        # another API's audience, from the same issuer and key
        other = self.provider.token("todos:read", resource="https://other.kumo.test")
        self.assertEqual(oidc_provider.claims(other)["aud"], "https://other.kumo.test")
        r = self.call(other)
        self.assert_refused(r)
        self.assertIn("audience", r.headers["www-authenticate"])
        # expired: valid for one second, past kumo's leeway of 1 s two seconds later
        short = self.provider.token("todos:read", resource=self.provider.audience + "/short-lived")
        self.assertEqual(oidc_provider.claims(short)["exp"] - oidc_provider.claims(short)["iat"], 1)
        time.sleep(max(0.0, oidc_provider.claims(short)["exp"] + 2.2 - time.time()))
        r = self.call(short)
        self.assert_refused(r)
        self.assertIn("expired", r.headers["www-authenticate"])

    def test_3_key_rotation(self):
        old = self.provider.token("todos:read")
        self.assertEqual(self.call(old).status_code, 200)
        # the provider restarts on the same port with a new key
        port = self.provider.port
        self.provider.stop()
        type(self).provider = oidc_provider.Provider(port=port, kid="key-2",
                                                     log_dir=os.path.dirname(self.project_dir))
        new = self.provider.token("todos:read")
        self.assertEqual(json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "==="))["kid"], "key-2")
        # refused at first (kumo has not seen key-2), accepted once it fetched the keys again
        first = self.call(new)
        self.assertIn(first.status_code, (200, 401), first.text)
        ok = wait_for(lambda: self.call(new).status_code == 200, timeout=40, step=0.5)
        self.assertTrue(ok, self.call(new).text + self.gw.stderr()[-3000:])
        # key-1 is gone from the provider's set: its tokens are refused now
        self.assert_refused(self.call(old))


if __name__ == "__main__":
    unittest.main()
