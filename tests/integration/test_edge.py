"""The API's edge from kumo.yaml's http: (issue 16; docs/edge.md): CORS,
TLS (HTTP/1.1 and HTTP/2 by ALPN, client certificates) and rate limits,
under kumo up and kumo-host, with real clients on loopback.

- CORS: a browser's preflight is answered by the gateway (204 with what is
  allowed, or 403 naming what kumo.yaml lacks) without a function; other
  answers carry Access-Control-Allow-Origin for an allowed origin only.
- Every new key is checked at start with kumo.yaml:line:column.
"""
import os
import re
import shutil
import signal
import subprocess
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")

APP = "https://app.example.com"

CORS = """http:
  cors:
    origins: [https://app.example.com, "http://localhost:3000"]
    methods: [GET, POST]
    headers: [content-type, x-trace]
    expose_headers: [x-request-id]
    credentials: true
    max_age: 10m
"""


def with_yaml(text):
    d = copy_project("hello")
    with open(os.path.join(d, "kumo.yaml"), "a") as f:
        f.write(text)
    return d


def run_up(project_dir, timeout=60):
    """kumo up expected to refuse the project: (exit status, stderr)."""
    p = subprocess.run([KUMO, "up", project_dir, "--port", str(free_port()), "--admin-port", "-1"],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr + p.stdout


class CorsChecks:
    """The checks both servers pass: self.base is the API's URL."""

    def preflight(self, origin=APP, method="POST", headers=None, path="/hello"):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            h["Access-Control-Request-Headers"] = headers
        return requests.options(self.base + path, headers=h, timeout=30)

    def test_preflight_allowed(self):
        r = self.preflight(headers="Content-Type, X-Trace")
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertEqual(r.headers["access-control-allow-credentials"], "true")
        self.assertEqual(r.headers["access-control-allow-methods"], "GET, POST")
        self.assertEqual(r.headers["access-control-allow-headers"], "Content-Type, X-Trace")
        self.assertEqual(r.headers["access-control-max-age"], "600")
        self.assertIn("Origin", r.headers["vary"])
        self.assertEqual(r.content, b"")

    def test_preflight_without_an_operation(self):
        # the gateway answers it: no route, no OPTIONS operation, no function
        r = self.preflight(path="/nowhere/at/all", method="GET")
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)

    def test_preflight_refused(self):
        for kw, words in ((dict(origin="https://evil.example"), "http.cors.origins"),
                          (dict(method="DELETE"), "http.cors.methods"),
                          (dict(headers="content-type, authorization"), "'authorization'")):
            r = self.preflight(**kw)
            self.assertEqual(r.status_code, 403, (kw, r.text))
            self.assertEqual(r.headers["content-type"], "application/problem+json")
            self.assertIn(words, r.json()["detail"])
            self.assertNotIn("access-control-allow-origin", r.headers)

    def test_actual_request_gets_the_headers(self):
        r = requests.get(self.base + "/hello", headers={"Origin": "http://localhost:3000"}, timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.text, "hello, world\n")
        self.assertEqual(r.headers["access-control-allow-origin"], "http://localhost:3000")
        self.assertEqual(r.headers["access-control-allow-credentials"], "true")
        self.assertEqual(r.headers["access-control-expose-headers"], "x-request-id")
        self.assertIn("Origin", r.headers["vary"])
        # kumo's own answers too (a browser reads the problem)
        r = requests.get(self.base + "/nowhere", headers={"Origin": APP}, timeout=30)
        self.assertEqual(r.status_code, 404)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)

    def test_other_origins_get_none(self):
        r = requests.get(self.base + "/hello", headers={"Origin": "https://evil.example"}, timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertIn("Origin", r.headers["vary"])
        r = requests.get(self.base + "/hello", timeout=30)
        self.assertNotIn("access-control-allow-origin", r.headers)
        # an OPTIONS without Access-Control-Request-Method is no preflight
        r = requests.options(self.base + "/hello", headers={"Origin": APP}, timeout=30)
        self.assertEqual(r.status_code, 204)
        self.assertIn("GET", r.headers["allow"])


class TestCorsUp(CorsChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = with_yaml(CORS)
        cls.gw = Gateway(cls.dir)
        cls.base = cls.gw.base

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))


class HostServer:
    """kumo-host http over a project kumo up has built."""

    def __init__(self, project_dir, env=None):
        gw = Gateway(project_dir)  # builds the unit kumo-host loads
        assert gw.stop() == 0
        self.port = free_port()
        self.log = open(os.path.join(os.path.dirname(project_dir), "host.log"), "w+")
        e = dict(os.environ, PORT=str(self.port), KUMO_DATA=os.path.join(project_dir, ".kumo", "data"))
        e.update(env or {})
        self.proc = subprocess.Popen([HOST, "http", project_dir, "hello"], env=e, stdout=self.log,
                                     stderr=self.log)
        if not wait_for(lambda: "kumo-host: " in self.output() and " serving " in self.output(), 30):
            raise AssertionError("kumo-host did not start:\n" + self.output())

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.log.close()
        return rc


class TestCorsHost(CorsChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = with_yaml(CORS)
        cls.host = HostServer(cls.dir)
        cls.base = "http://127.0.0.1:%d" % cls.host.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.host.stop()
        out = cls.host.output()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, out[-4000:]))


class TestConfigRefused(unittest.TestCase):
    """Each new key is checked at start; the message names kumo.yaml:line:column and the fix."""

    CASES = [
        ("http:\n  cors:\n    origin: [https://a.example]\n", r"kumo\.yaml:9:5: unknown key 'origin' in http\.cors \(did you mean 'origins'\?\)"),
        ("http:\n  cors: {methods: [GET]}\n", r"kumo\.yaml:8:9: http\.cors needs origins"),
        ("http:\n  cors:\n    origins: [\"*\"]\n    credentials: true\n",
         r"kumo\.yaml:10:5: http\.cors\.credentials: true cannot go with origins: \[\"\*\"\]"),
        ("http:\n  cors:\n    origins: [https://a.example/path]\n",
         r"kumo\.yaml:9:15: http\.cors\.origins: 'https://a\.example/path' is not a valid origin"),
        ("http:\n  cors:\n    origins: [https://a.example]\n    methods: [GET, FETCH]\n",
         r"kumo\.yaml:10:20: http\.cors\.methods: 'FETCH' is not a valid HTTP method"),
        ("http:\n  cors:\n    origins: [https://a.example]\n    max_age: forever\n",
         r"kumo\.yaml:10:14: http\.cors\.max_age must be whole seconds"),
    ]

    def test_refused_with_position(self):
        for text, pattern in self.CASES:
            d = with_yaml(text)
            try:
                rc, out = run_up(d)
                self.assertNotEqual(rc, 0, text)
                self.assertRegex(out, pattern, text)
            finally:
                shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
