"""Parity: the same requests get the same answers however examples/todo runs.

One list of requests (CRUD, paging, attachments in binary, notifications,
and every kind of error kumo answers itself: 400 with violations, 404,
405, 415, 406, 413, OPTIONS) is sent to the project served by

  - `kumo up` (kumo's own runtime),
  - `kumo-host http` on the project (the http adapter, in-process), and
    `kumo-http http` (the same over kumo's own HTTP/1.1 server),
  - the aws zip's bootstrap under `kumo emulate lambda` (payload 1.0 and 2.0),
    with kumo-host on local stores (`--host kumo-host`), and as `kumo build`
    packages todo by default, kumo-lambda, on moto's DynamoDB, S3 and SQS,
  - the OCI image's entrypoint under chroot,
  - the azure function app's bootstrap, as the Functions host starts a
    custom handler (FUNCTIONS_CUSTOMHANDLER_PORT, requests forwarded as
    they are).

Each way starts from empty stores. Answers must match in status, in body
(ids, times, etags and request ids are replaced by what the same position
in the first run produced), and in the headers the spec defines
(Content-Type, Location, ETag, Allow). kumo-host's log lines must match
kumo up's too: the same shape and field names, and the same access line
per request, so a log query written locally works deployed.
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, free_port

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")

BINARY = bytes(range(256)) * 3

# (name, method, path, headers, body). {id} is the id the first create gave.
REQUESTS = [
    ("list empty", "GET", "/todos", {}, None),
    ("create", "POST", "/todos", {"content-type": "application/json"}, b'{"title":"Buy milk"}'),
    ("create 2", "POST", "/todos", {"content-type": "application/json"}, b'{"title":"Call mum \xe2\x98\x8e"}'),
    ("get", "GET", "/todos/{id}", {}, None),
    ("page 1", "GET", "/todos?limit=1", {}, None),
    ("update", "PATCH", "/todos/{id}", {"content-type": "application/json"}, b'{"done":true}'),
    ("attach", "PUT", "/todos/{id}/attachment", {"content-type": "application/octet-stream"}, BINARY),
    ("download", "GET", "/todos/{id}/attachment", {}, None),
    ("notifications", "GET", "/notifications?max=10", {}, None),
    ("bad body", "POST", "/todos", {"content-type": "application/json"}, b'{"title":5,"extra":true}'),
    ("bad json", "POST", "/todos", {"content-type": "application/json"}, b'{"title":'),
    ("bad limit", "GET", "/todos?limit=0", {}, None),
    ("wrong media type", "POST", "/todos", {"content-type": "text/plain"}, b"title"),
    ("not acceptable", "GET", "/todos", {"accept": "image/png"}, None),
    ("no such todo", "GET", "/todos/ffffffffffffffffffffffff", {}, None),
    ("no such path", "GET", "/nope", {}, None),
    ("method not allowed", "PUT", "/todos", {"content-type": "application/json"}, b"{}"),
    ("options", "OPTIONS", "/todos/{id}", {}, None),
    ("delete", "DELETE", "/todos/{id}", {}, None),
    ("gone", "GET", "/todos/{id}", {}, None),
]

COMPARED_HEADERS = ("content-type", "location", "etag", "allow")

# Fields only kumo up writes: which worker process served (kumo-host
# serves in its own process).
RUNTIME_ONLY_FIELDS = {"worker_pid"}


def json_lines(text):
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def access_lines(lines):
    """Each request's access line as (level, msg, method, path, operation,
    status) with ids in paths replaced, and the set of its field names."""
    out = []
    for l in lines:
        if l.get("msg") != "request":
            continue
        path = re.sub(r"[0-9a-f]{24}", "{id}", l.get("path", ""))
        out.append(((l.get("level"), l["msg"], l.get("method"), path, l.get("operation"), l.get("status")),
                    frozenset(l) - RUNTIME_ONLY_FIELDS))
    return out


def send(base, method, path, headers, body, timeout=30):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def run_sequence(base):
    """The answers, with the variable parts (ids, times, request ids)
    replaced by placeholders numbered in order of appearance."""
    out = []
    todo_id = None
    names = {}

    def placeholder(kind, value):
        key = (kind, value)
        if key not in names:
            names[key] = "<%s%d>" % (kind, len([k for k in names if k[0] == kind]))
        return names[key]

    def normalize(text):
        text = re.sub(r'"request_id":"[^"]*"', '"request_id":"<rid>"', text)
        text = re.sub(r'"receipt":"[^"]*"', '"receipt":"<receipt>"', text)  # random per receive
        # a queue message's id is its backend's: SQLite counts, SQS gives UUIDs
        text = re.sub(r'"id":"[^"]*","receipt"', '"id":"<message>","receipt"', text)
        text = re.sub(r"\b[0-9a-f]{24}\b", lambda m: placeholder("id", m.group(0)), text)
        text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
        # the file driver's "size-mtime-inode", S3's MD5
        text = re.sub(r'\\?"([0-9a-f]+-[0-9a-f]+-[0-9a-f]+|[0-9a-f]{32})\\?"', "<etag>", text)
        return text

    for name, method, path, headers, body in REQUESTS:
        status, hdrs, data = send(base, method, path.replace("{id}", todo_id or "x"), headers, body)
        if name == "create":
            todo_id = json.loads(data)["id"]
        shown = {h: normalize(hdrs[h]) for h in COMPARED_HEADERS if h in hdrs}
        try:
            text = normalize(data.decode("utf-8"))
        except UnicodeDecodeError:
            text = "base64:" + base64.b64encode(data).decode()
        out.append((name, status, shown, text, "x-request-id" in hdrs))
    return out


class Server:
    """A child process serving HTTP on `port`, stopped with SIGTERM."""

    def __init__(self, argv, port, env=None, cwd=None, log=None):
        self.port = port
        self.base = "http://127.0.0.1:%d" % port
        self.log = open(log or tempfile.mktemp(prefix="kumo-parity-", suffix=".log"), "w+")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(argv, env=e, cwd=cwd, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d:\n%s" % (argv[0], self.proc.returncode, self.output()))
            try:
                send(self.base, "OPTIONS", "/todos", {}, None, timeout=2)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("%s did not start serving:\n%s" % (argv[0], self.output()))

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The reference: kumo up, which also builds the unit.
        cls.dir = copy_project("todo")
        gw = Gateway(cls.dir)
        try:
            cls.reference = run_sequence(gw.base)
        finally:
            gw.stop()
        cls.reference_logs = gw.log_lines()
        shutil.rmtree(os.path.join(cls.dir, ".kumo", "data"), ignore_errors=True)
        os.makedirs(os.path.join(cls.dir, ".kumo", "data"))  # kumo build packages none of it

    def check_same(self, answers, how):
        self.assertEqual(len(answers), len(self.reference))
        for ref, got in zip(self.reference, answers):
            self.assertEqual(ref, got, "%s answered request '%s' differently" % (how, ref[0]))

    def test_reference_is_meaningful(self):
        statuses = {name: status for name, status, *_ in self.reference}
        self.assertEqual(statuses["create"], 201)
        self.assertEqual(statuses["download"], 200)
        self.assertEqual(statuses["bad body"], 400)
        self.assertEqual(statuses["wrong media type"], 415)
        self.assertEqual(statuses["not acceptable"], 406)
        self.assertEqual(statuses["method not allowed"], 405)
        self.assertEqual(statuses["no such path"], 404)
        self.assertEqual(statuses["options"], 204)
        self.assertEqual(statuses["gone"], 404)
        download = [a for a in self.reference if a[0] == "download"][0]
        self.assertEqual(download[3], "base64:" + base64.b64encode(BINARY).decode())
        self.assertTrue(all(a[4] for a in self.reference), "every answer carries X-Request-Id")

    @classmethod
    def build(cls, target, *args):
        r = subprocess.run([KUMO, "build", "--target", target, *args, cls.dir], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise AssertionError("kumo build --target %s failed:\n%s%s" % (target, r.stdout, r.stderr))
        return os.path.join(cls.dir, ".kumo", "build", target)

    def lambda_way(self, payload, host="kumo-host", env=None):
        out = self.build("aws", "--host", host)
        port = free_port()
        srv = Server([KUMO, "emulate", "lambda", "--zip", os.path.join(out, "todos.zip"), "--port", str(port),
                      "--payload", str(payload)], port, env=dict(env or {}, ASAN_OPTIONS="detect_leaks=0"))
        try:
            answers = run_sequence(srv.base)
        finally:
            srv.stop()
        self.assertNotIn("ERROR: AddressSanitizer", srv.output())
        self.check_same(answers, "the aws package under kumo emulate lambda (payload %d)" % payload)
        self.check_emf(srv.output(), answers)

    def check_emf(self, output, answers):
        """Under Lambda, each invocation's metrics are one CloudWatch EMF line
        on stdout (nothing scrapes /metrics there): well formed, with every
        dimension the directive names, one per answered operation."""
        emf = []
        for line in output.splitlines():
            if line.startswith("{") and '"_aws"' in line:
                emf.append(json.loads(line))
        self.assertTrue(emf, "no EMF line on the bootstrap's stdout:\n" + output[-3000:])
        for e in emf:
            d = e["_aws"]["CloudWatchMetrics"][0]
            self.assertEqual(d["Namespace"], "kumo")
            self.assertIsInstance(e["_aws"]["Timestamp"], int)
            for dim in d["Dimensions"][0]:
                self.assertIsInstance(e[dim], str, "dimension %s missing in %s" % (dim, e))
            for m in d["Metrics"]:
                self.assertIsInstance(e[m["Name"]], (int, float), "metric %s missing in %s" % (m["Name"], e))
            self.assertEqual((e["service"], e["function"], e["invocations"]), ("todo", "todos", 1))
        created = [e for e in emf if e["operation"] == "createTodo"]
        self.assertTrue(created and all(e["status"] == 201 and e["errors"] == 0 for e in created), emf)
        self.assertEqual(sum(e["coldstarts"] for e in emf), 1, "one instance, one cold start")
        # every request that reached a handler, and only those
        self.assertLessEqual(len(emf), len(answers))

    def test_lambda_payload_1(self):
        self.lambda_way(1)

    def test_lambda_payload_2(self):
        self.lambda_way(2)

    def test_lambda_lean_on_aws_services(self):
        """kumo-lambda, its stores on moto's DynamoDB, S3 and SQS: the
        same answers as kumo up on SQLite and files."""
        if not shutil.which("moto_server"):
            self.skipTest("SKIPPED: moto_server is not installed")
        port = free_port()
        aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, **aws))
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    send("http://127.0.0.1:%d" % port, "GET", "/moto-api/", {}, None, timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            q = "?region=us-east-1&endpoint=http://127.0.0.1:%d" % port
            self.lambda_way(1, "kumo-lambda", dict(aws, KUMO_STORE_TODOS="dynamodb://todos" + q,
                                                   KUMO_STORE_ATTACHMENTS="s3://attachments" + q,
                                                   KUMO_STORE_NOTIFICATIONS="sqs://notifications" + q))
        finally:
            moto.terminate()
            moto.wait(timeout=10)

    def test_oci_image_under_chroot(self):
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"):
            self.skipTest("SKIPPED: running the image under chroot needs root, unshare and chroot")
        out = self.build("gcp")
        bundle = tempfile.mkdtemp(prefix="kumo-parity-oci-")
        try:
            r = subprocess.run(["umoci", "unpack", "--image", os.path.join(out, "todos") + ":latest",
                                os.path.join(bundle, "b")], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            rootfs = os.path.join(bundle, "b", "rootfs")
            with open(os.path.join(bundle, "b", "config.json")) as f:
                process = json.load(f)["process"]
            port = free_port()
            env = dict(e.split("=", 1) for e in process["env"])
            env["PORT"] = str(port)
            env["ASAN_OPTIONS"] = "detect_leaks=0"
            cmd = [shutil.which("unshare"), "--mount", "--pid", "--fork", "--kill-child",
                   "--mount-proc=" + os.path.join(rootfs, "proc"), shutil.which("chroot"), rootfs] + process["args"]
            srv = Server(cmd, port, env=env, cwd=rootfs)
            try:
                answers = run_sequence(srv.base)
            finally:
                srv.stop()
            self.check_same(answers, "the OCI image's entrypoint under chroot")
        finally:
            shutil.rmtree(bundle, ignore_errors=True)

    def test_azure_custom_handler(self):
        out = self.build("azure")
        dest = tempfile.mkdtemp(prefix="kumo-parity-azure-")
        try:
            r = subprocess.run(["unzip", "-q", "-o", os.path.join(out, "app.zip"), "-d", dest], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            port = free_port()
            # What the Functions host does for a custom handler: start
            # host.json's defaultExecutablePath with the port in
            # FUNCTIONS_CUSTOMHANDLER_PORT, then forward requests as they are.
            with open(os.path.join(dest, "host.json")) as f:
                handler = json.load(f)["customHandler"]
            self.assertTrue(handler.get("enableForwardingHttpRequest"))
            exe = os.path.join(dest, handler["description"]["defaultExecutablePath"])
            env = {"FUNCTIONS_CUSTOMHANDLER_PORT": str(port), "PORT": "", "ASAN_OPTIONS": "detect_leaks=0"}
            srv = Server([exe] + handler["description"].get("arguments", []), port, env=env, cwd=dest)
            try:
                answers = run_sequence(srv.base)
            finally:
                srv.stop()
            self.check_same(answers, "the azure function app's custom handler")
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def test_store_url_from_file(self):
        """KUMO_STORE_<NAME>_FILE: the URL read from a file (a mounted secret)."""
        data = tempfile.mkdtemp(prefix="kumo-parity-file-")
        secret = os.path.join(data, "todos-url")
        with open(secret, "w") as f:
            f.write("sqlite:%s/from-secret.db\n" % data)
        port = free_port()
        srv = Server([HOST, "http", self.dir, "todos"], port,
                     env={"PORT": str(port), "KUMO_DATA": data, "KUMO_STORE_TODOS_FILE": secret})
        try:
            status, _, body = send(srv.base, "POST", "/todos", {"content-type": "application/json"},
                                   b'{"title":"kept where the secret says"}')
            self.assertEqual(status, 201, body)
        finally:
            srv.stop()
        self.assertTrue(os.path.exists(os.path.join(data, "from-secret.db")), os.listdir(data))
        os.unlink(secret)
        srv = None
        with self.assertRaises(AssertionError) as cm:
            Server([HOST, "http", self.dir, "todos"], free_port(),
                   env={"KUMO_DATA": data, "KUMO_STORE_TODOS_FILE": secret})
        self.assertIn("KUMO_STORE_TODOS_FILE", str(cm.exception))
        shutil.rmtree(data, ignore_errors=True)

    def test_http_adapter(self):
        self.http_adapter(HOST, "kumo-host http")

    @unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built")
    def test_http_adapter_lean(self):
        """kumo-http: the same answers and log lines over kumo's own
        HTTP/1.1 server (what the OCI images and the Azure app carry)."""
        self.http_adapter(HTTP_HOST, "kumo-http http")

    def http_adapter(self, binary, how):
        data = tempfile.mkdtemp(prefix="kumo-parity-data-")
        port = free_port()
        srv = Server([binary, "http", self.dir, "todos"], port, env={"PORT": str(port), "KUMO_DATA": data})
        try:
            answers = run_sequence(srv.base)
        finally:
            srv.stop()
            shutil.rmtree(data, ignore_errors=True)
        self.check_same(answers, how)
        self.check_same_logs(json_lines(srv.output()), how)

    def check_same_logs(self, lines, how):
        for l in self.reference_logs + lines:
            self.assertEqual(list(l)[:3], ["time", "level", "msg"], "a log line out of shape: %r" % l)
            self.assertRegex(l["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertIn(l["level"], ("debug", "info", "warn", "error"))
        ref, got = access_lines(self.reference_logs), access_lines(lines)
        got = got[-len(REQUESTS):]  # the server's readiness probes come first
        self.assertEqual(len(ref), len(REQUESTS), "kumo up wrote one access line per request")
        # kumo up writes each loop's lines once per turn of that loop, so
        # lines from two loops need not be in request order: compare the
        # lines as a whole, not their order
        self.assertEqual(sorted(r[0] for r in ref), sorted(g[0] for g in got),
                         "%s logged the requests differently" % how)
        self.assertEqual(sorted(sorted(r[1]) for r in ref), sorted(sorted(g[1]) for g in got),
                         "%s's access lines have other fields" % how)


if __name__ == "__main__":
    unittest.main()
