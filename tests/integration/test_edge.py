"""The API's edge from kumo.yaml's http: (issue 16; docs/edge.md): CORS,
TLS (HTTP/1.1 and HTTP/2 by ALPN, client certificates) and rate limits,
under kumo up and kumo-host, with real clients on loopback.

- CORS: a browser's preflight is answered by the gateway (204 with what is
  allowed, or 403 naming what kumo.yaml lacks) without a function; other
  answers carry Access-Control-Allow-Origin for an allowed origin only.
- Every new key is checked at start with kumo.yaml:line:column.
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")

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


PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def with_yaml(text, project="hello"):
    d = copy_project(project, None if project == "hello" else PROJECTS)
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


class TestHandlersCorsHeaders(unittest.TestCase):
    """With http.cors, kumo.yaml decides the Access-Control-* headers: a
    handler's own are dropped (its other headers kept); without it, they
    pass as before."""

    def test_dropped_with_cors_kept_without(self):
        for cors, want in ((CORS, None), ("", "*")):
            d = with_yaml(cors, "edge")
            gw = Gateway(d)
            try:
                r = requests.get(gw.base + "/hello", headers={"Origin": "https://evil.example"}, timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.headers["x-own"], "1")
                self.assertEqual(r.headers.get("access-control-allow-origin"), want)
                r = requests.get(gw.base + "/hello", headers={"Origin": APP}, timeout=30)
                self.assertEqual(r.headers["access-control-allow-origin"], APP if cors else "*")
                self.assertEqual(r.headers["access-control-allow-credentials"], "true")
            finally:
                self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            host = HostServer(d)  # the same under kumo-host
            try:
                base = "http://127.0.0.1:%d" % host.port
                r = requests.get(base + "/hello", headers={"Origin": "https://evil.example"}, timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.headers["x-own"], "1")
                self.assertEqual(r.headers.get("access-control-allow-origin"), want)
            finally:
                self.assertEqual(host.stop(), 0, host.output()[-3000:])
                shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class HostServer:
    """kumo-host http over a project kumo up has built."""

    def __init__(self, project_dir, env=None, binary=None):
        gw = Gateway(project_dir)  # builds the unit kumo-host loads
        assert gw.stop() == 0
        self.port = free_port()
        self.log = open(os.path.join(os.path.dirname(project_dir), "host.log"), "w+")
        e = dict(os.environ, PORT=str(self.port), KUMO_DATA=os.path.join(project_dir, ".kumo", "data"))
        e.update(env or {})
        self.proc = subprocess.Popen([binary or HOST, "http", project_dir, "hello"], env=e, stdout=self.log,
                                     stderr=self.log)
        if not wait_for(lambda: " serving " in self.output() or self.proc.poll() is not None, 30) or \
                self.proc.poll() is not None:
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
    binary = None  # kumo-host

    @classmethod
    def setUpClass(cls):
        cls.dir = with_yaml(CORS)
        cls.host = HostServer(cls.dir, binary=cls.binary)
        cls.base = "http://127.0.0.1:%d" % cls.host.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.host.stop()
        out = cls.host.output()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, out[-4000:]))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 it signs, a client
    certificate it signs (CN=alice,O=Example) and one another CA signs."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                "-subj", "/CN=kumo test %s" % ca, cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name, subj, ca, ext in (("server", "/CN=localhost", "ca", "server.ext"),
                                ("alice", "/O=Example/CN=alice", "ca", "client.ext"),
                                ("bob", "/O=Example/CN=bob", "ca", "client.ext"),
                                ("mallory", "/CN=mallory", "rogue-ca", "client.ext")):
        openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=d)


def curl(url, *args):
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                        *args, url], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


class TlsChecks:
    """The checks both servers pass over TLS with required client certificates."""

    def url(self, path="/hello"):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def pki(self, name):
        return os.path.join(self.dir, "pki", name)

    def test_http2_over_tls(self):
        rc, out, err = curl(self.url(), "--http2", "--cacert", self.pki("ca.pem"), "--cert", self.pki("alice.pem"),
                            "--key", self.pki("alice.key"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "hello, world\n\n2 200")

    def test_http11_over_tls(self):
        r = requests.get(self.url(), verify=self.pki("ca.pem"), cert=(self.pki("alice.pem"), self.pki("alice.key")),
                         timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.text, "hello, world\n")
        self.assertEqual(r.raw.version, 11)

    def test_client_certificate_required(self):
        rc, out, err = curl(self.url(), "--http2", "--cacert", self.pki("ca.pem"))
        self.assertNotEqual(rc, 0, out)
        # a certificate another CA signed fails verification in the handshake
        rc, out, err = curl(self.url(), "--http1.1", "--cacert", self.pki("ca.pem"), "--cert",
                            self.pki("mallory.pem"), "--key", self.pki("mallory.key"))
        self.assertNotEqual(rc, 0, out)
        self.assertNotIn("hello", out)

    def test_session_resumed_with_client_certificate(self):
        # a client that resumes its TLS session (browsers, curl) is served
        # again: the session keeps the verified certificate
        import socket
        import ssl
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = ssl.create_default_context(cafile=self.pki("ca.pem"))
            ctx.load_cert_chain(self.pki("alice.pem"), self.pki("alice.key"))
            ctx.minimum_version = ctx.maximum_version = version
            session = None
            for attempt in range(2):
                with socket.create_connection(("127.0.0.1", self.port), timeout=20) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
                        tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = tls.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                        self.assertTrue(data.startswith(b"HTTP/1.1 200"), (version, attempt, data[:200]))
                        if attempt == 1:
                            self.assertTrue(tls.session_reused, version)
                        session = tls.session

    def test_plain_http_is_not_served(self):
        with self.assertRaises(requests.exceptions.ConnectionError):
            requests.get("http://127.0.0.1:%d/hello" % self.port, timeout=10)


TLS = """http:
  tls:
    cert: pki/server.pem
    key: pki/server.key
    client_ca: pki/ca.pem
"""


def tls_project():
    d = with_yaml(TLS)
    os.mkdir(os.path.join(d, "pki"))
    make_pki(os.path.join(d, "pki"))
    return d


class TestTlsUp(TlsChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tls_project()
        # the harness waits on the admin port (plain HTTP on loopback)
        cls.gw = Gateway(cls.dir)
        cls.port = cls.gw.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))

    def test_start_lines(self):
        out = self.gw.stdout()
        self.assertIn("API      https://127.0.0.1:%d/" % self.port, out)
        self.assertIn("HTTP/2 and HTTP/1.1 by ALPN", out)
        self.assertIn("probes off (they speak plain HTTP; http.tls)", out)


class TestTlsHost(TlsChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tls_project()
        cls.host = HostServer(cls.dir)
        cls.port = cls.host.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.host.stop()
        out = cls.host.output()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, out[-4000:]))


class TestTlsFilesChecked(unittest.TestCase):
    """Bad certificate files are refused at start with the key's position and OpenSSL's reason."""

    def test_refused_at_start(self):
        d = tls_project()
        try:
            pki = os.path.join(d, "pki")
            cases = [
                (TLS.replace("pki/server.key", "pki/missing.key"),
                 r"kumo\.yaml:10:10: http\.tls\.key: cannot read '.*/pki/missing\.key': No such file"),
                (TLS.replace("pki/server.key", "pki/alice.key"),
                 r"kumo\.yaml:10:10: http\.tls\.key: '.*/pki/alice\.key' is not the private key of the "
                 r"certificate in '.*/pki/server\.pem' \(OpenSSL: .*\)"),
                (TLS.replace("pki/server.pem", "pki/server.ext"),
                 r"kumo\.yaml:9:11: http\.tls\.cert: '.*/pki/server\.ext' holds no PEM certificate"),
                (TLS.replace("pki/ca.pem", "pki/server.ext"),
                 r"kumo\.yaml:11:16: http\.tls\.client_ca: '.*/pki/server\.ext' holds no PEM CA certificate"),
                ("http:\n  tls: {cert: pki/server.pem}\n", r"kumo\.yaml:8:8: http\.tls needs both cert: and key:"),
                ("http:\n  tls: {cert: pki/server.pem, key: pki/server.key, client_cert: optional}\n",
                 r"kumo\.yaml:8:52: http\.tls\.client_cert needs client_ca:"),
                ("http:\n  tls: {cert: pki/server.pem, key: pki/server.key, ca: pki/ca.pem}\n",
                 r"kumo\.yaml:8:52: unknown key 'ca' in http\.tls"),
            ]
            with open(os.path.join(d, "kumo.yaml")) as f:
                base = f.read().replace(TLS, "")
            for text, pattern in cases:
                with open(os.path.join(d, "kumo.yaml"), "w") as f:
                    f.write(base + text)
                rc, out = run_up(d)
                self.assertNotEqual(rc, 0, text)
                self.assertRegex(out, pattern, text)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


def get_from(base, source, path="/hello"):
    """GET with the connection's source address chosen (127.0.0.x): the
    gateway sees another client."""
    host, port = base.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class LimitChecks:
    """A bucket of 3 refilled at 3 an hour: the 4th request in a row is
    refused whatever the machine's speed (the next token is 20 minutes away)."""

    def test_bucket_per_client(self):
        for left in ("2", "1", "0"):
            status, h, body = get_from(self.base, "127.0.0.1")
            self.assertEqual(status, 200, body)
            self.assertEqual(h["ratelimit-limit"], "3")
            self.assertEqual(h["ratelimit-remaining"], left)
            self.assertEqual(h["ratelimit-policy"], "3;w=3600")
            self.assertTrue(0 < int(h["ratelimit-reset"]) <= 3600, h)
        status, h, body = get_from(self.base, "127.0.0.1")
        self.assertEqual(status, 429, body)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertEqual(json.loads(body)["detail"], "operation 'hello' allows 3 requests per 3600 s for each caller "
                         "(kumo.yaml http.rate_limits); retry in %s s" % h["retry-after"])
        self.assertTrue(1100 <= int(h["retry-after"]) <= 1200, h)
        self.assertEqual(h["ratelimit-remaining"], "0")
        # another client has a bucket of its own
        status, h, body = get_from(self.base, "127.0.0.2")
        self.assertEqual(status, 200, body)
        self.assertEqual(h["ratelimit-remaining"], "2")
        # what is not limited carries no headers
        status, h, body = get_from(self.base, "127.0.0.3", "/nowhere")
        self.assertEqual(status, 404)
        self.assertNotIn("ratelimit-limit", h)


LIMITS = """http:
  rate_limits:
    hello: {requests: 3, per: 1h}
"""


class TestLimitsUp(LimitChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = with_yaml(LIMITS)
        cls.gw = Gateway(cls.dir)
        cls.base = cls.gw.base

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))


class TestLimitsHost(LimitChecks, unittest.TestCase):
    binary = None  # kumo-host

    @classmethod
    def setUpClass(cls):
        cls.dir = with_yaml(LIMITS)
        cls.host = HostServer(cls.dir, binary=cls.binary)
        cls.base = "http://127.0.0.1:%d" % cls.host.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.host.stop()
        out = cls.host.output()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, out[-4000:]))


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class TestCorsLean(TestCorsHost):
    """The same under kumo-http (kumo's own HTTP/1.1 server)."""
    binary = HTTP_HOST


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class TestLimitsLean(TestLimitsHost):
    binary = HTTP_HOST


class TestLimitsShared(unittest.TestCase):
    """"*" covers every operation; by: operation is one bucket for all callers."""

    def test_one_bucket_for_everyone(self):
        d = with_yaml('http:\n  rate_limits:\n    "*": {requests: 2, per: 1h, by: operation}\n')
        gw = Gateway(d)
        try:
            self.assertEqual(get_from(gw.base, "127.0.0.1")[0], 200)
            self.assertEqual(get_from(gw.base, "127.0.0.2")[0], 200)
            status, h, _ = get_from(gw.base, "127.0.0.3")
            self.assertEqual(status, 429)
            self.assertEqual(h["ratelimit-limit"], "2")
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class TestTlsSubjectKeys(unittest.TestCase):
    """With client_ca, the verified certificate's subject is the caller:
    alice and bob, from one address, have a bucket each."""

    def test_subject_is_the_key(self):
        d = tls_project()
        with open(os.path.join(d, "kumo.yaml"), "a") as f:
            f.write("  rate_limits:\n    hello: {requests: 1, per: 1h}\n")
        gw = Gateway(d)
        pki = os.path.join(d, "pki")
        try:
            def get(who):
                return requests.get("https://127.0.0.1:%d/hello" % gw.port, verify=os.path.join(pki, "ca.pem"),
                                    cert=(os.path.join(pki, who + ".pem"), os.path.join(pki, who + ".key")),
                                    timeout=30)
            self.assertEqual(get("alice").status_code, 200)
            self.assertEqual(get("alice").status_code, 429)
            r = get("bob")
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.headers["ratelimit-remaining"], "0")
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class TestMutualTlsScheme(unittest.TestCase):
    """The document's mutualTLS scheme (projects/mtls, OpenAPI 3.1) over
    http.tls with client_cert: optional: the certificate the handshake
    verified says who calls; `subjects:` narrows a scheme to alice; no
    certificate is a 401 (and kumo up refuses the scheme without
    client_ca)."""

    def test_subject_is_the_caller(self):
        d = copy_project("mtls", PROJECTS)
        os.mkdir(os.path.join(d, "pki"))
        make_pki(os.path.join(d, "pki"))
        gw = Gateway(d)
        pki = os.path.join(d, "pki")
        try:
            def get(path, who=None):
                cert = (os.path.join(pki, who + ".pem"), os.path.join(pki, who + ".key")) if who else None
                return requests.get("https://127.0.0.1:%d%s" % (gw.port, path), verify=os.path.join(pki, "ca.pem"),
                                    cert=cert, timeout=30)
            r = get("/whoami", "bob")
            self.assertEqual((r.status_code, r.text), (200, "Mtls CN=bob,O=Example"))
            r = get("/partners", "alice")
            self.assertEqual((r.status_code, r.text), (200, "Partners CN=alice,O=Example"))
            r = get("/partners", "bob")
            self.assertEqual(r.status_code, 401, r.text)
            self.assertEqual(r.headers["content-type"], "application/problem+json")
            r = get("/whoami")
            self.assertEqual(r.status_code, 401, r.text)
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_refused_without_client_ca(self):
        d = copy_project("mtls", PROJECTS)
        try:
            path = os.path.join(d, "kumo.yaml")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("    client_ca: pki/ca.pem\n    client_cert: optional\n", ""))
            os.mkdir(os.path.join(d, "pki"))
            make_pki(os.path.join(d, "pki"))
            rc, err = run_up(d)
            self.assertNotEqual(rc, 0)
            self.assertRegex(err, r"openapi\.yaml:\d+:\d+: security scheme 'Mtls' \(mutualTLS\) needs the client's "
                                  r"certificate")
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


@unittest.skipUnless(os.path.exists(HOST), "kumo-host is not built (KUMO_HOST=%s)" % HOST)
class TestEdgeLambda(unittest.TestCase):
    """kumo-host lambda (through kumo emulate lambda, payload 2.0): CORS as
    above, and by: client limits counted per sourceIp."""

    def test_cors_and_limits(self):
        from test_emulate_lambda import Emulator, make_zip
        tmp = tempfile.mkdtemp(prefix="kumo-edge-lambda-")
        project = with_yaml(CORS + "  rate_limits:\n    hello: {requests: 2, per: 1h}\n")
        try:
            r = subprocess.run([KUMO, "build", "--target", "aws", project], capture_output=True, text=True,
                               timeout=240)
            unit = os.path.join(project, ".kumo", "build", "local", "hello.so")
            self.assertTrue(os.path.exists(unit), r.stderr[-2000:])

            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            zp = os.path.join(tmp, "hello.zip")
            make_zip(zp, {
                "bootstrap": (0o755, '#!/bin/sh\ncd "$(dirname "$0")"\nexec "$KUMO_HOST" lambda app hello\n'),
                "app/kumo.yaml": (0o644, read(os.path.join(project, "kumo.yaml"))),
                "app/openapi.yaml": (0o644, read(os.path.join(project, "openapi.yaml"))),
                "app/.kumo/build/local/hello.so": (0o755, read(unit)),
            })
            emu = Emulator(zp, tmp, ("--payload", "2"), {"KUMO_HOST": HOST})
            base = "http://127.0.0.1:%d" % emu.port
            try:
                status, headers, body = emu.request("OPTIONS", "/hello", headers=[
                    ("Origin", APP), ("Access-Control-Request-Method", "POST")])
                h = {k.lower(): v for k, v in headers}
                self.assertEqual(status, 204, body)
                self.assertEqual(h["access-control-allow-origin"], APP)
                self.assertEqual(h["access-control-allow-methods"], "GET, POST")
                for left in ("1", "0"):
                    status, h, body = get_from(base, "127.0.0.1")
                    self.assertEqual(status, 200, body)
                    self.assertEqual(h["ratelimit-remaining"], left)
                status, h, body = get_from(base, "127.0.0.1")
                self.assertEqual(status, 429, body)
                self.assertTrue(1700 <= int(h["retry-after"]) <= 1800, h)
                status, h, body = get_from(base, "127.0.0.2")
                self.assertEqual(status, 200, body)
            finally:
                rc = emu.stop()
            err = emu.stderr_text
            self.assertEqual(rc, 0, err)
            self.assertIn("http.rate_limits count per instance under Lambda", err)
            self.assertNotIn("ERROR: AddressSanitizer", err)
            self.assertNotIn("runtime error:", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


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
        ("http:\n  rate_limits:\n    helo: {requests: 3, per: 1m}\n",
         r"kumo\.yaml:9:5: http\.rate_limits\.helo: the OpenAPI document has no operation 'helo' "
         r"\(did you mean 'hello'\?\)"),
        ("http:\n  rate_limits:\n    hello: {requests: 3, per: soon}\n",
         r"kumo\.yaml:9:31: http\.rate_limits\.hello\.per must be a duration"),
        ("http:\n  rate_limits:\n    hello: {requests: 0, per: 1m}\n",
         r"kumo\.yaml:9:23: http\.rate_limits\.hello\.requests must be a whole number from 1"),
        ("http:\n  rate_limits:\n    hello: {requests: 3, per: 1m, by: ip}\n",
         r"kumo\.yaml:9:39: http\.rate_limits\.hello\.by must be client"),
        ("http:\n  rate_limits:\n    hello: {requests: 3, per: 1m, brust: 5}\n",
         r"kumo\.yaml:9:35: unknown key 'brust' in http\.rate_limits\.hello \(did you mean 'burst'\?\)"),
    ]

    def test_lint_names_an_unknown_operation(self):
        d = with_yaml("http:\n  rate_limits:\n    helo: {requests: 3, per: 1m}\n")
        try:
            p = subprocess.run([KUMO, "lint", d], capture_output=True, text=True, timeout=120)
            self.assertNotEqual(p.returncode, 0)
            self.assertRegex(p.stdout + p.stderr, r"kumo\.yaml:9:5: error: http\.rate_limits\.helo: the OpenAPI "
                                                  r"document has no operation 'helo' \(did you mean 'hello'\?\)")
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

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
