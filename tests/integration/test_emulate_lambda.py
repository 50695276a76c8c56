"""`kumo emulate lambda --zip FILE`: a function package run behind a local
API Gateway and Lambda Runtime API.

The package here is made by the test: a `bootstrap` written in Python that
implements the Runtime API client itself (GET /next, POST response, error,
init/error), records every event it is given in a JSON-lines file, and
answers according to the path (echo, binary, cookies, error, crash,
sleep, malformed). So the emulator is checked from both sides: the HTTP
answers a client gets, and the events and environment the bootstrap saw.

When kumo-host is built, a second package runs the real thing: a
hand-made zip whose bootstrap execs `$KUMO_HOST lambda app hello` on
examples/hello, built by `kumo build --target aws`.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import zipfile

from kumo_harness import KUMO, SOURCE, copy_project, free_port

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")

BOOTSTRAP = r'''#!/usr/bin/env python3
import base64, json, os, sys, time, urllib.request
base = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]
log = os.environ["TEST_EVENT_LOG"]
mode_file = os.environ["TEST_MODE_FILE"]

def post(path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=json.dumps(obj).encode(), method="POST", headers=h)
    with urllib.request.urlopen(req) as r:
        return r.status

mode = open(mode_file).read().strip() if os.path.exists(mode_file) else ""
if mode == "init-error":
    post("/init/error", {"errorMessage": "cannot load the unit", "errorType": "Test.InitError"})
    time.sleep(30)   # Lambda (and the emulator) stop it
if mode == "init-crash":
    sys.exit(4)
env = {k: os.environ.get(k) for k in ("LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME",
       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "TEST_PARENT_VAR")}
env["cwd"] = os.getcwd()
env["pid"] = os.getpid()
while True:
    with urllib.request.urlopen(base + "/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        runtime_headers = {k: r.headers[k] for k in ("Lambda-Runtime-Deadline-Ms",
                           "Lambda-Runtime-Invoked-Function-Arn", "Lambda-Runtime-Trace-Id")}
        event = json.loads(r.read())
    with open(log, "a") as f:
        f.write(json.dumps({"id": rid, "runtime": runtime_headers, "event": event, "env": env}) + "\n")
    v2 = event.get("version") == "2.0"
    path = event["rawPath"] if v2 else event["path"]
    if path == "/crash":
        os._exit(3)
    if path == "/sleep":
        time.sleep(30)
    if path == "/error":
        post("/invocation/%s/error" % rid, {"errorMessage": "it broke", "errorType": "Test.Boom"},
             {"Lambda-Runtime-Function-Error-Type": "Test.Boom"})
        continue
    if path == "/binary":
        resp = {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    elif path == "/cookies" and v2:
        resp = {"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1; Path=/", "b=2"], "body": "ok"}
    elif path == "/cookies":
        resp = {"statusCode": 201, "headers": {"x-a": "1"},
                "multiValueHeaders": {"set-cookie": ["a=1; Path=/", "b=2"], "x-multi": ["p", "q"]}, "body": "ok"}
    elif path == "/inject":
        resp = {"statusCode": 200, "headers": {"x-evil": "a\r\nSet-Cookie: pwned=1", "x-fine": "ok",
                "bad name": "x", "content-length": "999"}, "body": "safe"}
    elif path == "/raw":
        resp = {"hello": "world"}
    elif path == "/malformed":
        resp = "a bare string" if v2 else {"nostatus": True}
    else:
        resp = {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"path": path, "id": rid})}
    post("/invocation/%s/response" % rid, resp)
'''


def make_zip(path, files):
    """files: {name: (mode, bytes)}"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (mode, data) in files.items():
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


class Emulator:
    def __init__(self, zip_path, workdir, args=(), env=None):
        self.port = free_port()
        self.out = open(os.path.join(workdir, "emulate.out"), "w+")
        self.err = open(os.path.join(workdir, "emulate.err"), "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([KUMO, "emulate", "lambda", "--zip", zip_path, "--port", str(self.port), *args],
                                     stdout=self.out, stderr=self.err, env=e)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kumo emulate exited with %d:\n%s" % (self.proc.returncode, self.stderr()))
            if "kumo emulate: serving" in self.stdout():
                return
            time.sleep(0.05)
        raise AssertionError("kumo emulate did not say it was serving:\n" + self.stderr())

    def stdout(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def request(self, method, path, body=None, headers=()):
        """headers: a list of (name, value), names may repeat."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.getheaders(), data

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kumo emulate did not stop within 20 s of SIGTERM")
        finally:
            self.stderr_text = self.stderr()
            self.out.close()
            self.err.close()


def header_values(headers, name):
    return [v for k, v in headers if k.lower() == name]


class EmulatorCases:
    """The cases both payload versions share (a mixin, so that it does not
    run on its own)."""
    payload = "1"
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        cls.log = os.path.join(cls.tmp, "events.jsonl")
        cls.mode = os.path.join(cls.tmp, "mode")
        cls.zip = os.path.join(cls.tmp, "orders.zip")
        make_zip(cls.zip, {"bootstrap": (0o755, BOOTSTRAP), "data/readme.txt": (0o644, "not executable")})
        cls.emu = Emulator(cls.zip, cls.tmp, ("--payload", cls.payload, "--memory", "256", *cls.extra),
                           {"TEST_EVENT_LOG": cls.log, "TEST_MODE_FILE": cls.mode, "TEST_PARENT_VAR": "inherited",
                            "AWS_REGION": "eu-west-3"})

    @classmethod
    def tearDownClass(cls):
        rc = cls.emu.stop()
        err = cls.emu.stderr_text
        events = cls.events_of(cls)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo emulate exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        # the package's temporary directory is gone
        for ev in events:
            if os.path.exists(ev["env"]["LAMBDA_TASK_ROOT"]):
                raise AssertionError("the extracted package was left at " + ev["env"]["LAMBDA_TASK_ROOT"])

    def events_of(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def last_event(self):
        evs = self.events_of()
        self.assertTrue(evs, "the bootstrap saw no event")
        return evs[-1]

    def set_mode(self, mode):
        with open(self.mode, "w") as f:
            f.write(mode)

    def assertProblem(self, status, headers, body, code, words):
        self.assertEqual(status, code, body)
        self.assertEqual(header_values(headers, "content-type"), ["application/problem+json"])
        doc = json.loads(body)
        self.assertEqual(doc["status"], code)
        self.assertIn(words, doc["detail"])
        return doc

    # ---- shared by both payload versions ----

    def test_environment_and_runtime_headers(self):
        before = time.time() * 1000
        status, _, body = self.emu.request("GET", "/echo")
        self.assertEqual(status, 200, body)
        rec = self.last_event()
        self.assertEqual(json.loads(body)["id"], rec["id"])
        env = rec["env"]
        self.assertEqual(env["cwd"], env["LAMBDA_TASK_ROOT"])
        self.assertTrue(os.path.basename(env["LAMBDA_TASK_ROOT"]).startswith("kumo-lambda-"))
        self.assertEqual(env["_HANDLER"], "bootstrap")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], "orders")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256")
        self.assertEqual(env["AWS_REGION"], "eu-west-3")
        self.assertEqual(env["TEST_PARENT_VAR"], "inherited")
        deadline = int(rec["runtime"]["Lambda-Runtime-Deadline-Ms"])
        self.assertGreater(deadline, before + 25000)   # the default timeout is 30 s
        self.assertLess(deadline, before + 35000)
        self.assertEqual(rec["runtime"]["Lambda-Runtime-Invoked-Function-Arn"],
                         "arn:aws:lambda:eu-west-3:123456789012:function:orders")
        self.assertTrue(rec["runtime"]["Lambda-Runtime-Trace-Id"].startswith("Root=1-"))
        # the first bootstrap, which answered the class's first request
        first = self.events_of()[0]["env"]["pid"]
        self.assertIn("kumo emulate: serving http://127.0.0.1:%d (bootstrap pid %d)\n" % (self.emu.port, first),
                      self.emu.stdout())

    def test_binary_response(self):
        status, headers, body = self.emu.request("GET", "/binary")
        self.assertEqual(status, 200)
        self.assertEqual(body, bytes(range(256)))
        self.assertEqual(header_values(headers, "content-type"), ["application/octet-stream"])

    def test_binary_request_body(self):
        data = bytes(range(256)) * 2
        status, _, _ = self.emu.request("PUT", "/echo/blob", data, [("Content-Type", "application/octet-stream")])
        self.assertEqual(status, 200)
        ev = self.last_event()["event"]
        self.assertIs(ev["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(ev["body"]), data)

    def test_text_body_stays_text(self):
        status, _, _ = self.emu.request("POST", "/echo", '{"title":"caf\u00e9"}'.encode(),
                                        [("Content-Type", "application/json")])
        self.assertEqual(status, 200)
        ev = self.last_event()["event"]
        self.assertIs(ev["isBase64Encoded"], False)
        self.assertEqual(ev["body"], '{"title":"caf\u00e9"}')

    def test_function_error_is_502(self):
        status, headers, body = self.emu.request("GET", "/error")
        self.assertProblem(status, headers, body, 502, "Test.Boom: it broke")
        status, _, _ = self.emu.request("GET", "/echo")   # the bootstrap carried on
        self.assertEqual(status, 200)

    def test_malformed_response_is_502(self):
        status, headers, body = self.emu.request("GET", "/malformed")
        if self.payload == "1":
            self.assertProblem(status, headers, body, 502, "statusCode")
        else:   # HTTP APIs take any JSON without statusCode as a 200 body
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body), "a bare string")

    def test_crash_gives_502_and_the_next_request_works(self):
        status, headers, body = self.emu.request("GET", "/crash")
        self.assertProblem(status, headers, body, 502, "exited with status 3")
        status, _, body = self.emu.request("GET", "/echo/after-crash")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["path"], "/echo/after-crash")

    def test_init_error_gives_502_then_recovers(self):
        self.set_mode("init-error")
        try:
            self.emu.request("GET", "/crash")   # the running bootstrap goes; the next one fails to start
            status, headers, body = self.emu.request("GET", "/echo")
            self.assertProblem(status, headers, body, 502, "Test.InitError: cannot load the unit")
        finally:
            self.set_mode("")
        status, _, body = self.emu.request("GET", "/echo")
        self.assertEqual(status, 200, body)

    def test_init_crash_gives_502_then_recovers(self):
        self.set_mode("init-crash")
        try:
            self.emu.request("GET", "/crash")
            status, headers, body = self.emu.request("GET", "/echo")
            self.assertProblem(status, headers, body, 502, "exited with status 4")
        finally:
            self.set_mode("")
        status, _, body = self.emu.request("GET", "/echo")
        self.assertEqual(status, 200, body)

    def test_keep_alive_and_queueing(self):
        c = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=30)
        for i in range(3):
            c.request("GET", "/echo/%d" % i)
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.read())["path"], "/echo/%d" % i)
        c.close()
        # several clients at once are served one at a time, all answered
        conns = [http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=30) for _ in range(4)]
        for i, c in enumerate(conns):
            c.request("GET", "/echo/q%d" % i)
        for i, c in enumerate(conns):
            r = c.getresponse()
            self.assertEqual((r.status, json.loads(r.read())["path"]), (200, "/echo/q%d" % i))
            c.close()

    def test_response_headers_cannot_split(self):
        status, headers, body = self.emu.request("GET", "/inject")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"safe")
        names = [k.lower() for k, _ in headers]
        self.assertIn("x-fine", names)
        self.assertNotIn("x-evil", names)
        self.assertNotIn("set-cookie", names)
        self.assertNotIn("bad name", names)
        self.assertEqual(header_values(headers, "content-length"), ["4"])

    def test_head_has_no_body(self):
        status, headers, body = self.emu.request("HEAD", "/echo")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertNotEqual(header_values(headers, "content-length"), ["0"])

    def test_malformed_request_is_400(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.emu.port), timeout=10) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nBad Header\r\n\r\n")
            data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        self.assertIn(b"application/problem+json", data)


class PayloadV1Test(EmulatorCases, unittest.TestCase):
    payload = "1"

    def test_event_v1(self):
        status, _, body = self.emu.request(
            "POST", "/echo/a%20b?x=1&x=2&y=a+b&e=%C3%A9", b"hello",
            [("X-Multi", "1"), ("X-Multi", "2"), ("Content-Type", "text/plain"), ("Cookie", "a=1; b=2")])
        self.assertEqual(status, 200, body)
        ev = self.last_event()["event"]
        self.assertNotIn("version", ev)
        self.assertEqual(ev["httpMethod"], "POST")
        self.assertEqual(ev["path"], "/echo/a%20b")
        self.assertEqual(ev["resource"], "/{proxy+}")
        self.assertEqual(ev["pathParameters"], {"proxy": "echo/a%20b"})
        self.assertEqual(ev["multiValueQueryStringParameters"], {"x": ["1", "2"], "y": ["a b"], "e": ["\u00e9"]})
        self.assertEqual(ev["queryStringParameters"], {"x": "2", "y": "a b", "e": "\u00e9"})
        self.assertEqual(ev["multiValueHeaders"]["X-Multi"], ["1", "2"])
        self.assertEqual(ev["headers"]["X-Multi"], "2")
        self.assertEqual(ev["headers"]["Cookie"], "a=1; b=2")
        self.assertEqual(ev["body"], "hello")
        self.assertIs(ev["isBase64Encoded"], False)
        ctx = ev["requestContext"]
        self.assertEqual(ctx["stage"], "local")
        self.assertEqual(ctx["path"], "/local/echo/a%20b")
        self.assertEqual(ctx["httpMethod"], "POST")
        self.assertEqual(ctx["identity"]["sourceIp"], "127.0.0.1")
        self.assertEqual(ctx["requestId"], self.last_event()["id"])

    def test_no_query_no_body(self):
        status, _, _ = self.emu.request("GET", "/")
        self.assertEqual(status, 200)
        ev = self.last_event()["event"]
        self.assertIsNone(ev["queryStringParameters"])
        self.assertIsNone(ev["multiValueQueryStringParameters"])
        self.assertIsNone(ev["body"])
        self.assertEqual(ev["resource"], "/")
        self.assertIsNone(ev["pathParameters"])

    def test_multi_value_response_headers(self):
        status, headers, body = self.emu.request("GET", "/cookies")
        self.assertEqual(status, 201)
        self.assertEqual(body, b"ok")
        self.assertEqual(header_values(headers, "set-cookie"), ["a=1; Path=/", "b=2"])
        self.assertEqual(header_values(headers, "x-multi"), ["p", "q"])
        self.assertEqual(header_values(headers, "x-a"), ["1"])


class PayloadV2Test(EmulatorCases, unittest.TestCase):
    payload = "2"

    def test_event_v2(self):
        status, _, body = self.emu.request(
            "GET", "/echo/a%20b?x=1&x=2&y=a+b",
            headers=[("X-Dup", "1"), ("X-Dup", "2"), ("Cookie", "a=1; b=2"), ("Cookie", "c=3")])
        self.assertEqual(status, 200, body)
        ev = self.last_event()["event"]
        self.assertEqual(ev["version"], "2.0")
        self.assertEqual(ev["routeKey"], "$default")
        self.assertEqual(ev["rawPath"], "/echo/a%20b")
        self.assertEqual(ev["rawQueryString"], "x=1&x=2&y=a+b")
        self.assertEqual(ev["queryStringParameters"], {"x": "1,2", "y": "a b"})
        self.assertEqual(ev["cookies"], ["a=1", "b=2", "c=3"])
        self.assertNotIn("cookie", ev["headers"])
        self.assertEqual(ev["headers"]["x-dup"], "1,2")
        self.assertNotIn("body", ev)
        self.assertIs(ev["isBase64Encoded"], False)
        ctx = ev["requestContext"]
        self.assertEqual(ctx["http"]["method"], "GET")
        self.assertEqual(ctx["http"]["sourceIp"], "127.0.0.1")
        self.assertEqual(ctx["stage"], "$default")
        self.assertEqual(ctx["requestId"], self.last_event()["id"])
        self.assertIsInstance(ctx["timeEpoch"], int)

    def test_cookies_response(self):
        status, headers, body = self.emu.request("GET", "/cookies")
        self.assertEqual(status, 201)
        self.assertEqual(body, b"ok")
        self.assertEqual(header_values(headers, "set-cookie"), ["a=1; Path=/", "b=2"])

    def test_json_without_status_code(self):
        status, headers, body = self.emu.request("GET", "/raw")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"hello": "world"})
        self.assertEqual(header_values(headers, "content-type"), ["application/json"])


class TimeoutTest(unittest.TestCase):
    def test_timeout_kills_and_gives_504(self):
        tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        try:
            zp = os.path.join(tmp, "slow.zip")
            make_zip(zp, {"bootstrap": (0o755, BOOTSTRAP)})
            log = os.path.join(tmp, "events.jsonl")
            emu = Emulator(zp, tmp, ("--timeout", "1"),
                           {"TEST_EVENT_LOG": log, "TEST_MODE_FILE": os.path.join(tmp, "mode")})
            try:
                t0 = time.time()
                status, headers, body = emu.request("GET", "/sleep")
                self.assertEqual(status, 504, body)
                self.assertIn("timeout of 1 s", json.loads(body)["detail"])
                self.assertLess(time.time() - t0, 10)
                status, _, body = emu.request("GET", "/echo")
                self.assertEqual(status, 200, body)
                with open(log) as f:
                    pids = {json.loads(line)["env"]["pid"] for line in f}
                self.assertEqual(len(pids), 2)   # a fresh bootstrap served the second
            finally:
                self.assertEqual(emu.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class RefusedPackageTest(unittest.TestCase):
    def run_kumo(self, *args):
        return subprocess.run([KUMO, "emulate", "lambda", *args], capture_output=True, text=True, timeout=30)

    def test_no_bootstrap(self):
        tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        try:
            zp = os.path.join(tmp, "nob.zip")
            make_zip(zp, {"main.py": (0o644, "print(1)")})
            r = self.run_kumo("--zip", zp, "--port", str(free_port()))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("no executable 'bootstrap'", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_hostile_zip(self):
        tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        try:
            zp = os.path.join(tmp, "evil.zip")
            make_zip(zp, {"bootstrap": (0o755, "#!/bin/sh\n"), "../escape": (0o644, "x")})
            r = self.run_kumo("--zip", zp, "--port", str(free_port()))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("'..'", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_usage(self):
        r = self.run_kumo("--port", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--zip FILE is required", r.stderr)
        r = self.run_kumo("--zip", "x.zip", "--payload", "3")
        self.assertEqual(r.returncode, 2)


ENV_BOOTSTRAP = r'''#!/usr/bin/env python3
import json, os, urllib.request
base = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]
while True:
    with urllib.request.urlopen(base + "/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        r.read()
    body = json.dumps(dict(os.environ))
    req = urllib.request.Request(base + "/invocation/%s/response" % rid, method="POST",
                                 data=json.dumps({"statusCode": 200, "body": body}).encode())
    urllib.request.urlopen(req).read()
'''


class PackageEnvTest(unittest.TestCase):
    """The package's kumo.yaml env: reaches the function: the unit it
    carries gets its own variables over the project's, the environment's
    over both (--env), secrets expanded from the caller's environment."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        src = os.path.join(SOURCE, "tests", "integration", "projects", "envvars")
        def read(name):
            with open(os.path.join(src, name), "rb") as f:
                return f.read()
        self.zip = os.path.join(self.tmp, "alpha.zip")
        make_zip(self.zip, {
            "bootstrap": (0o755, ENV_BOOTSTRAP),
            "app/kumo.yaml": (0o644, read("kumo.yaml")),
            "app/openapi.yaml": (0o644, read("openapi.yaml")),
            "app/secret.txt": (0o644, read("secret.txt")),
            "app/.kumo/build/local/alpha.so": (0o755, b"not loaded by this bootstrap"),
        })

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_env_reaches_the_function(self):
        emu = Emulator(self.zip, self.tmp, ("--env", "dev"), {"ENVTEST_TOKEN": "tok-9f1"})
        try:
            status, _, body = emu.request("GET", "/alpha")
            self.assertEqual(status, 200, body + emu.stderr().encode())
            env = json.loads(body)
        finally:
            self.assertEqual(emu.stop(), 0, emu.stderr_text)
        self.assertEqual(env["GREETING"], "dev-hello")  # environments.dev.env
        self.assertEqual(env["SHARED"], "alpha")  # functions.alpha.env over env:
        self.assertEqual(env["ONLY_ALPHA"], "yes")
        self.assertEqual(env["API_TOKEN"], "tok-9f1")  # ${env:ENVTEST_TOKEN}
        self.assertEqual(env["MULTI"], "line one\nline two")  # ${file:secret.txt}
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], "alpha")

    def test_unknown_environment_refused(self):
        r = subprocess.run([KUMO, "emulate", "lambda", "--zip", self.zip, "--port", "0", "--env", "nosuch"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no environment 'nosuch'", r.stderr)


@unittest.skipUnless(os.path.exists(HOST), "kumo-host is not built (KUMO_HOST=%s)" % HOST)
class RealHostTest(unittest.TestCase):
    """kumo-host lambda on examples/hello, in a zip made by hand."""

    def test_hello_through_kumo_host(self):
        tmp = tempfile.mkdtemp(prefix="kumo-emulate-test-")
        try:
            project = copy_project("hello")
            r = subprocess.run([KUMO, "build", "--target", "aws", project], capture_output=True, text=True,
                               timeout=240)
            unit = os.path.join(project, ".kumo", "build", "local", "hello.so")
            if not os.path.exists(unit):
                self.skipTest("kumo build did not build the unit:\n" + r.stderr[-2000:])
            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            files = {
                "bootstrap": (0o755, '#!/bin/sh\ncd "$(dirname "$0")"\nexec "$KUMO_HOST" lambda app hello\n'),
                "app/kumo.yaml": (0o644, read(os.path.join(project, "kumo.yaml"))),
                "app/openapi.yaml": (0o644, read(os.path.join(project, "openapi.yaml"))),
                "app/.kumo/build/local/hello.so": (0o755, read(unit)),
            }
            zp = os.path.join(tmp, "hello.zip")
            make_zip(zp, files)
            for payload in ("1", "2"):
                emu = Emulator(zp, tmp, ("--payload", payload), {"KUMO_HOST": HOST})
                try:
                    status, headers, body = emu.request("GET", "/hello")
                    self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr())
                    self.assertEqual(body, b"hello, world\n")
                    self.assertEqual(header_values(headers, "content-type"), ["text/plain"])
                    status, headers, body = emu.request("GET", "/nope")
                    self.assertEqual(status, 404, body)
                    self.assertEqual(header_values(headers, "content-type"), ["application/problem+json"])
                finally:
                    rc = emu.stop()
                err = emu.stderr_text
                self.assertEqual(rc, 0, err)
                self.assertNotIn("ERROR: AddressSanitizer", err)
                self.assertNotIn("runtime error:", err)
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
