"""Outbound calls (issue 15): a function calls the API its project declares
under services: with kumo_http, through the gateway's egress path under
`kumo up` and in process under kumo-host. The service is a real HTTP
server the test starts on loopback (python's http.server in a thread).

- GET and POST JSON to the declared service reach it, with the service's
  Authorization header (a ${env:...} reference, expanded at start and
  never logged);
- an absolute URL whose origin is the service's goes through; any other
  origin, or an undeclared service name, is KUMO_EDENIED with a message
  naming the fix, and nothing reaches the network;
- the deadline (the service's timeout: 1500ms against a server that sleeps
  3 s) gives KUMO_ETIMEDOUT, the size ceiling (max_response: 64Ki against
  200 KB) KUMO_ETOOBIG; retries get past two 503s, none returns the 503;
- the request carries the invocation's trace (traceparent), and the call
  is a CLIENT span (http.request.method, url.full, server.address,
  http.response.status_code) whose id is the parent the server saw;
- in --dev, a response that breaks the service's document is a warn line
  naming the service, the operation and the violation;
- the worker itself has no network: a socket it opens cannot connect;
- requests the pool sent ahead to a worker waiting for a call's answer
  are served after it, in order, each with its own answer;
- kumo-host makes the same calls with the same answers, and so does the
  project's Lambda package, whose kumo-lambda makes them with kumo's own
  HTTP client (no libcurl in the package);
- a service with no URL in the environment is served by a `kumo mock` of
  its document that kumo up starts (and stops), seeded; mock: record puts
  a recording `kumo mock` in front of the real service (the service's
  credentials redacted), and faults: from kumo.yaml reach it.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for
from test_traces import Receiver

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
TOKEN = "tok-5ecret-9f3a"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Upstream:
    """The service: records every request it gets."""

    def __init__(self):
        self.requests = []
        self.fails = {}
        self.lock = threading.Lock()
        up = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, status, body, extra=()):
                b = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(b)))
                    self.send_header("X-Seen-Traceparent", self.headers.get("traceparent", ""))
                    self.send_header("X-Seen-Authorization", self.headers.get("authorization", ""))
                    for k, v in extra:
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(b)
                except OSError:
                    pass  # the client gave up (the deadline, the ceiling)

            def record(self, body=None):
                with up.lock:
                    up.requests.append((self.command, self.path, dict(self.headers), body))

            def do_GET(self):
                self.record()
                p = self.path
                if p.startswith("/pets/"):
                    pid = int(p.split("/")[2].split("?")[0])
                    # pet 0 breaks the document: no name
                    return self.send(200, json.dumps({"id": pid} if pid == 0 else {"id": pid, "name": "rex"}))
                if p.startswith("/sleepy/"):
                    time.sleep(0.2)
                    return self.send(200, json.dumps({"n": int(p.split("/")[2])}))
                if p == "/slow":
                    time.sleep(3)
                    return self.send(200, "{}")
                if p == "/big":
                    return self.send(200, "x" * 200000)
                if p.startswith("/flaky"):
                    with up.lock:
                        n = up.fails.get(p, 0)
                        up.fails[p] = n + 1
                    if n < 2:
                        return self.send(503, '{"n":%d}' % n, [("Retry-After", "0")])
                    return self.send(200, '{"n":%d}' % n)
                self.send(404, "{}")

            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                b = self.rfile.read(n)
                self.record(b)
                if self.path.startswith("/flaky"):
                    return self.send(503, "{}")
                self.send(201, json.dumps({"got": json.loads(b)}))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if r[1] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def call(base, spec, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(base + "/call", data=json.dumps(spec).encode(), method="POST", headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def no_sanitizer_report(out, who):
    """Fails when a sanitizer build of `who` reported something in `out`."""
    if "ERROR: AddressSanitizer" in out or "ERROR: LeakSanitizer" in out or "runtime error:" in out:
        raise AssertionError("sanitizer report in %s's output:\n%s" % (who, out[-6000:]))


class Checks:
    """The answers both runtimes must give (self.base, self.up)."""

    def test_get_declared_service(self):
        a = call(self.base, {"service": "pets", "path": "/pets/7"})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 200)
        self.assertEqual(json.loads(a["body"]), {"id": 7, "name": "rex"})
        self.assertEqual(a["seen_authorization"], "Bearer " + TOKEN)

    def test_post_json(self):
        a = call(self.base, {"service": "pets", "path": "/pets", "json": {"name": "tom", "n": [1, 2]}})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 201)
        self.assertEqual(json.loads(a["body"]), {"got": {"name": "tom", "n": [1, 2]}})
        method, _, headers, body = self.up.seen("/pets")[-1]
        self.assertEqual(method, "POST")
        self.assertEqual(headers.get("Content-Type"), "application/json")

    def test_absolute_url_of_a_declared_origin(self):
        a = call(self.base, {"url": self.up.base + "/pets/3?x=1"})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(json.loads(a["body"])["id"], 3)

    def test_undeclared_origin_refused(self):
        other = free_port()  # same host, another port: another origin
        a = call(self.base, {"url": "http://127.0.0.1:%d/pets/1" % other})
        self.assertEqual(a["rc"], -1008, a)  # KUMO_EDENIED
        self.assertIn("is not the origin of a declared service", a["error"])
        self.assertIn("declare the service in kumo.yaml services:", a["error"])
        self.assertIn("declare the service in kumo.yaml services:", a["denied_text"])
        a = call(self.base, {"url": "https://example.com/"})
        self.assertEqual(a["rc"], -1008, a)

    def test_undeclared_service_refused(self):
        before = len(self.up.requests)
        a = call(self.base, {"service": "payments", "path": "/x"})
        self.assertEqual(a["rc"], -1008, a)
        self.assertIn("service 'payments' is not declared", a["error"])
        self.assertEqual(len(self.up.requests), before)

    def test_deadline(self):
        t = time.time()
        a = call(self.base, {"service": "pets", "path": "/slow"})
        self.assertEqual(a["rc"], -1004, a)  # KUMO_ETIMEDOUT
        self.assertIn("deadline", a["error"])
        self.assertLess(time.time() - t, 2.9)  # the service's 1500ms, not the server's 3 s

    def test_call_timeout_below_the_service(self):
        a = call(self.base, {"service": "pets", "path": "/slow", "timeout_ms": 200})
        self.assertEqual(a["rc"], -1004, a)

    def test_size_ceiling(self):
        a = call(self.base, {"service": "pets", "path": "/big"})
        self.assertEqual(a["rc"], -1002, a)  # KUMO_ETOOBIG
        self.assertIn("max_response", a["error"])

    def test_retries(self):
        key = "/flaky-%s-%d" % (type(self).__name__, time.time_ns())
        a = call(self.base, {"service": "pets", "path": key, "retries": 3})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 200)
        self.assertEqual(json.loads(a["body"]), {"n": 2})
        self.assertEqual(len(self.up.seen(key)), 3)
        key += "-none"
        a = call(self.base, {"service": "pets", "path": key})
        self.assertEqual(a["status"], 503)  # a status, not an error
        self.assertEqual(len(self.up.seen(key)), 1)

    def test_post_is_not_retried(self):
        a = call(self.base, {"service": "pets", "path": "/flaky-post", "method": "POST", "retries": 3})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 503)
        self.assertEqual(len(self.up.seen("/flaky-post")), 1)

    def test_traceparent_reaches_the_service(self):
        a = call(self.base, {"service": "pets", "path": "/pets/11"},
                 {"traceparent": "00-%s-00f067aa0ba902b7-01" % TRACE_ID})
        seen = a["seen_traceparent"].split("-")
        self.assertEqual(seen[1], TRACE_ID, a)
        mine = a["traceparent"].split("-")
        self.assertEqual(mine[1], TRACE_ID)
        self.assertNotEqual(seen[2], mine[2])  # the CLIENT span's own id, a child of the invocation's
        self.client_span = seen[2]
        return seen[2]

    def test_calls_sent_ahead_keep_their_order(self):
        # max 1, concurrency 8: several of these wait in one worker's socket
        # while the one before them waits for the service
        results = {}

        def one(i):
            results[i] = call(self.base, {"service": "pets", "path": "/sleepy/%d" % i})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(sorted(results), list(range(8)))
        for i, a in results.items():
            self.assertEqual(a["rc"], 0, a)
            self.assertEqual(json.loads(a["body"]), {"n": i})

    def test_secret_never_logged(self):
        call(self.base, {"service": "pets", "path": "/pets/1"})
        self.assertNotIn(TOKEN, self.output())


class GatewayOutboundTest(Checks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.rx = Receiver()
        cls.dir = copy_project("outbound", PROJECTS)
        with open(os.path.join(cls.dir, "kumo.yaml"), "a") as f:
            f.write("observability:\n  traces:\n    endpoint: http://127.0.0.1:%d\n" % cls.rx.port)
        cls.gw = Gateway(cls.dir, threads=2, extra_args=("--dev",),
                         env={"KUMO_SERVICE_PETS_URL": cls.up.base, "PETS_TOKEN": TOKEN})
        cls.base = cls.gw.base

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        cls.up.stop()
        cls.rx.stop()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def output(self):
        return self.gw.stderr() + self.gw.stdout()

    def test_client_span(self):
        parent = self.test_traceparent_reaches_the_service()
        spans = wait_for(lambda: [s for s in self.rx.trace(TRACE_ID) if s["spanId"] == parent], timeout=20)
        self.assertTrue(spans, "no CLIENT span %s among %s" % (parent, self.rx.trace(TRACE_ID)))
        s = spans[0]
        self.assertEqual(s["kind"], 3)  # SPAN_KIND_CLIENT
        from test_traces import attrs
        a = attrs(s)
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["url.full"], self.up.base + "/pets/11")
        self.assertEqual(a["server.address"], "127.0.0.1")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["kumo.service"], "pets")

    def test_dev_checks_the_service_response(self):
        a = call(self.base, {"service": "pets", "path": "/pets/0"})
        self.assertEqual(a["status"], 200)
        line = wait_for(lambda: [l for l in self.gw.log_lines()
                                 if l.get("level") == "warn" and "service pets" in l.get("msg", "")
                                 and "getPet" in l["msg"]], timeout=10)
        self.assertTrue(line, self.gw.stderr()[-3000:])
        self.assertIn("name", line[0]["msg"])  # the missing required property

    def test_metrics(self):
        call(self.base, {"service": "pets", "path": "/pets/2"})
        call(self.base, {"service": "nope", "path": "/"})
        with urllib.request.urlopen(self.gw.admin + "/metrics", timeout=10) as r:
            text = r.read().decode()
        self.assertRegex(text, r'kumo_outbound_calls_total\{service="pets",outcome="2xx"\} [1-9]')
        self.assertRegex(text, r'kumo_outbound_calls_total\{service="-",outcome="denied"\} [1-9]')

    def test_worker_has_no_network(self):
        a = call(self.base, {"raw_connect": self.up.port})
        self.assertNotEqual(a["errno"], 0, "a worker connected around the egress path")
        if os.geteuid() == 0:
            self.assertRegex(self.gw.stderr(), r"namespaces \([^)]*\bnet\)")


class HostOutboundTest(Checks, unittest.TestCase):
    """kumo-host http on the project (built by a kumo up first)."""

    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.dir = copy_project("outbound", PROJECTS)
        env = {"KUMO_SERVICE_PETS_URL": cls.up.base, "PETS_TOKEN": TOKEN}
        gw = Gateway(cls.dir, threads=1, env=env)  # builds the unit
        gw.stop()
        port = free_port()
        cls.log = open(os.path.join(os.path.dirname(cls.dir), "host.log"), "w+")
        e = dict(os.environ)
        e.update(env)
        e["PORT"] = str(port)
        cls.metrics_port = free_port()
        e["KUMO_METRICS_PORT"] = str(cls.metrics_port)
        cls.proc = subprocess.Popen([HOST, "http", cls.dir, "caller"], env=e, stdout=cls.log, stderr=cls.log)
        cls.base = "http://127.0.0.1:%d" % port

        def ready():
            try:
                call(cls.base, {"service": "pets", "path": "/pets/1"})
                return True
            except OSError:
                return cls.proc.poll() is not None
        wait_for(ready, timeout=30)
        if cls.proc.poll() is not None:
            with open(cls.log.name) as f:
                raise AssertionError("kumo-host exited:\n" + f.read())

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(20)
        cls.up.stop()
        with open(cls.log.name) as f:
            out = f.read()
        cls.log.close()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        no_sanitizer_report(out, "kumo-host")

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def test_metrics(self):
        # kumo-host makes the calls in process, and counts them on its own
        # /metrics as kumo up's gateway does
        call(self.base, {"service": "pets", "path": "/pets/2"})
        call(self.base, {"service": "nope", "path": "/"})
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=10) as r:
            text = r.read().decode()
        self.assertRegex(text, r'kumo_outbound_calls_total\{service="pets",outcome="2xx"\} [1-9]')
        self.assertRegex(text, r'kumo_outbound_calls_total\{service="-",outcome="denied"\} [1-9]')


LEAN = os.environ.get("KUMO_LAMBDA_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-lambda")


@unittest.skipUnless(os.access(LEAN, os.X_OK), "kumo-lambda is not built (%s)" % LEAN)
class LambdaOutboundTest(Checks, unittest.TestCase):
    """The project built for AWS, whose package is kumo-lambda (no
    libcurl: the calls go through kumo's own HTTP client, sdk/stores/
    httpc.c), under `kumo emulate lambda`: the same answers."""

    @classmethod
    def setUpClass(cls):
        from test_lambda_lean import Emulator
        cls.up = Upstream()
        cls.dir = copy_project("outbound", PROJECTS)
        r = subprocess.run([KUMO, "build", "--target", "aws", cls.dir], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("kumo build failed:\n" + r.stderr)
        cls.build_err = r.stderr
        cls.zip = os.path.join(cls.dir, ".kumo", "build", "aws", "caller.zip")
        env = {"KUMO_SERVICE_PETS_URL": cls.up.base, "PETS_TOKEN": TOKEN}
        cls.emu = Emulator(cls.zip, os.path.dirname(cls.dir), env)
        cls.base = "http://127.0.0.1:%d" % cls.emu.port

    @classmethod
    def tearDownClass(cls):
        name = cls.emu.err.name
        cls.emu.stop()
        with open(name) as f:
            out = f.read()
        cls.up.stop()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        no_sanitizer_report(out, "kumo-lambda")

    def output(self):
        return self.emu.stderr()

    def test_package_has_no_libcurl(self):
        import zipfile
        self.assertNotIn("packaged with kumo-host", self.build_err)
        with zipfile.ZipFile(self.zip) as z:
            names = z.namelist()
        self.assertNotIn("bin/kumo-host", names)
        self.assertFalse([n for n in names if "libcurl" in n], names)


class RefusedTest(unittest.TestCase):
    """What kumo up refuses at start, with the fix in the message."""

    def run_up(self, yaml_extra, env=None, replace=None):
        d = copy_project("outbound", PROJECTS)
        try:
            path = os.path.join(d, "kumo.yaml")
            with open(path) as f:
                text = f.read()
            if replace:
                text = text.replace(*replace)
            with open(path, "w") as f:
                f.write(text + yaml_extra)
            e = dict(os.environ)
            e.pop("PETS_TOKEN", None)
            e.update(env or {})
            p = subprocess.run([KUMO, "up", d, "--port", str(free_port()), "--admin-port", str(free_port())],
                               capture_output=True, text=True, timeout=60, env=e)
            return p.returncode, p.stderr
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_literal_secret(self):
        rc, err = self.run_up("", replace=('"Bearer ${env:PETS_TOKEN}"', '"Bearer abc123"'))
        self.assertNotEqual(rc, 0)
        self.assertIn("put it in the environment: ${env:NAME}", err)
        self.assertIn("kumo.yaml:", err)
        self.assertNotIn("abc123", err)

    def test_missing_variable(self):
        rc, err = self.run_up("")
        self.assertNotEqual(rc, 0)
        self.assertIn("${env:PETS_TOKEN}: the variable PETS_TOKEN is not set", err)

    def test_replay_needs_recordings(self):
        rc, err = self.run_up("", env={"PETS_TOKEN": "x"},
                              replace=("    url: http://127.0.0.1:9/never-used\n", "    mock: {mode: replay}\n"))
        self.assertNotEqual(rc, 0)
        self.assertIn("services.pets.mock.mode replay needs recordings: DIR", err)

    def test_record_needs_a_url(self):
        rc, err = self.run_up("", env={"PETS_TOKEN": "x"},
                              replace=("    url: http://127.0.0.1:9/never-used\n",
                                       "    mock: {mode: record, recordings: rec}\n"))
        self.assertNotEqual(rc, 0)
        self.assertIn("services.pets.mock.mode record proxies to the service", err)

    def test_unknown_key(self):
        rc, err = self.run_up("", env={"PETS_TOKEN": "x"}, replace=("    timeout: 1500ms", "    timout: 1500ms"))
        self.assertNotEqual(rc, 0)
        self.assertIn("unknown key 'timout' in services.pets (did you mean 'timeout'?)", err)


class MockedServiceTest(unittest.TestCase):
    """A service with no URL in the environment: kumo up starts `kumo mock`
    of its document and the function's calls reach it unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("outbound", PROJECTS)
        path = os.path.join(cls.dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("    url: http://127.0.0.1:9/never-used\n", "    mock: {seed: 3}\n"))
        cls.gw = Gateway(cls.dir, threads=1, env={"PETS_TOKEN": TOKEN})

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_calls_reach_the_mock(self):
        self.assertRegex(self.gw.stdout(), r"service pets -> http://127\.0\.0\.1:\d+ \(from kumo mock of .*pets\.yaml, "
                                           r"static, seed 3\)")
        a = call(self.gw.base, {"service": "pets", "path": "/pets/5"})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 200)
        pet = json.loads(a["body"])
        self.assertIsInstance(pet["id"], int)  # generated from the document's schema
        self.assertIsInstance(pet["name"], str)
        again = call(self.gw.base, {"service": "pets", "path": "/pets/5"})
        self.assertEqual(json.loads(again["body"]), pet)  # seeded: the same answer
        a = call(self.gw.base, {"service": "pets", "path": "/nowhere"})
        self.assertEqual(a["status"], 404)  # the mock routes as kumo up does

    def test_mock_stops_with_kumo_up(self):
        m = re.search(r"kumo mock \(static\) of .* serves it at .* \(pid (\d+)\)", self.gw.stderr())
        self.assertTrue(m, self.gw.stderr()[-2000:])
        os.kill(int(m.group(1)), 0)  # running now; tearDownClass's clean stop ends it


class MockModesTest(unittest.TestCase):
    """services.NAME.mock's modes under kumo up: faults from kumo.yaml, and
    record (a kumo mock --record in front of the real service)."""

    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.dir = copy_project("outbound", PROJECTS)
        path = os.path.join(cls.dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("    url: http://127.0.0.1:9/never-used\n",
                                 "    mock: {mode: record, recordings: recordings/pets, faults: {rules: "
                                 "[{operation: createPet, probability: 1.0, status: 503}]}}\n"))
        cls.gw = Gateway(cls.dir, threads=1, env={"PETS_TOKEN": TOKEN, "KUMO_SERVICE_PETS_URL": cls.up.base})

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        cls.up.stop()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_record_through_the_mock(self):
        self.assertIn("through kumo mock --record", self.gw.stdout())
        a = call(self.gw.base, {"service": "pets", "path": "/pets/4"},
                 {"traceparent": "00-%s-00f067aa0ba902b7-01" % TRACE_ID})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(json.loads(a["body"]), {"id": 4, "name": "rex"})  # the real service's answer
        self.assertEqual(a["seen_authorization"], "Bearer " + TOKEN)  # passed on upstream
        rec = os.path.join(self.dir, "recordings", "pets")
        files = wait_for(lambda: [os.path.join(d, f) for d, _, fs in os.walk(rec) for f in fs
                                  if f.endswith(".json")], timeout=10)
        self.assertTrue(files, "no recording under %s" % rec)
        recs = []
        for name in files:
            with open(name) as f:
                recs.append(json.load(f))
        got = [r for r in recs if r["request"]["path"] == "/pets/4"]
        self.assertTrue(got, recs)
        # the service's headers never reach a recording (this test's server
        # echoes the token in a response header of its own, which is kept)
        self.assertEqual(got[0]["request"]["headers"]["authorization"], "<redacted>")
        # the trace context reached the mock: the call carries the
        # invocation's trace, under the CLIENT span of the call
        self.assertEqual(got[0]["request"]["headers"]["traceparent"].split("-")[1], TRACE_ID, got[0])
        self.assertNotIn(TOKEN, json.dumps(got[0]["request"]))

    def test_faults_from_kumo_yaml(self):
        a = call(self.gw.base, {"service": "pets", "path": "/pets", "json": {"name": "x"}})
        self.assertEqual(a["rc"], 0, a)
        self.assertEqual(a["status"], 503)
        self.assertIn("fault", a["body"])


if __name__ == "__main__":
    unittest.main()
