"""The document's security, enforced by `kumo up` and kumo-host (issue 16).

tests/integration/projects/secured declares an apiKey scheme (keys from an
environment variable and a file), an http basic scheme (users in a
credentials file the test writes with `openssl passwd -6`, sha512crypt),
and http bearer and oauth2 schemes verified as HS256 JWTs the test signs
(expired, another key, another audience refused; a missing scope 403).
Over real HTTP on loopback: OR between requirements, `{}` anonymous,
`security: []`, 401 with WWW-Authenticate and problem+json before the
contract check and before the 501 of an operation without a handler, who
called reaching the handler (kumo_request_auth_*), the key never in the
logs. Then what kumo refuses to serve unchecked: `kumo up` and `kumo lint`
name file:line:column of a scheme kumo does not check (http digest) and
of a used scheme kumo.yaml does not configure. Last, kumo-host
http answers the same requests the same way.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from kumo_harness import KUMO, SOURCE, Gateway, copy_project, free_port

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
KEY = "k-3f9a6c1e0b7d44e2"  # what SECURED_KEY holds
CI_KEY = "ci-81d0c5b2aa"    # what ci.key holds
HS = "hs256-secret-for-the-secured-test-0123"  # what SECURED_HS holds
ENV = {"SECURED_KEY": KEY, "SECURED_HS": HS}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, secret=HS):
    """An HS256 JWT of claims (exp: in 300 s unless given)."""
    claims = dict({"iss": "https://id.example/", "aud": "secured", "exp": int(time.time()) + 300}, **claims)
    signing = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return {"Authorization": "Bearer " + signing + "." + b64url(sig)}


def send(base, method, path, headers=None, body=None, timeout=10):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


def prepare(dest):
    """The credentials the project's kumo.yaml refers to."""
    h = subprocess.run(["openssl", "passwd", "-6", "-salt", "s4ltS4lt", "wonderland"], capture_output=True,
                       text=True, check=True).stdout.strip()
    with open(os.path.join(dest, "users.htpasswd"), "w") as f:
        f.write("# user:hash\nalice:%s\n" % h)
    with open(os.path.join(dest, "ci.key"), "w") as f:
        f.write(CI_KEY + "\n")


def stop_cleanly(gw, project_dir):
    """Stops kumo up; fails on a non-zero exit or a sanitizer report."""
    rc = gw.stop()
    err = gw.stderr()
    if rc != 0:
        raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
    if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
    shutil.rmtree(os.path.dirname(project_dir), ignore_errors=True)


# (name, method, path, headers, body, status, who): who is (scheme, subject)
# for a 200 the handler answered.
REQUESTS = [
    ("no credentials", "GET", "/whoami", {}, None, 401, None),
    ("env key", "GET", "/whoami", {"X-API-Key": KEY}, None, 200, ("ApiKey", "key-1")),
    ("file key", "GET", "/whoami", {"X-API-Key": CI_KEY}, None, 200, ("ApiKey", "ci")),
    ("wrong key", "GET", "/whoami", {"X-API-Key": KEY + "x"}, None, 401, None),
    ("basic", "GET", "/whoami", basic("alice", "wonderland"), None, 200, ("Basic", "alice")),
    ("basic wrong password", "GET", "/whoami", basic("alice", "wonderlant"), None, 401, None),
    ("basic unknown user", "GET", "/whoami", basic("eve", "wonderland"), None, 401, None),
    ("opted out", "GET", "/public", {}, None, 200, (None, None)),
    ("anonymous allowed", "GET", "/maybe", {}, None, 200, (None, None)),
    ("anonymous, key says who", "GET", "/maybe", {"X-API-Key": CI_KEY}, None, 200, ("ApiKey", "ci")),
    ("document default, basic is not enough", "POST", "/items", dict(basic("alice", "wonderland"),
     **{"content-type": "application/json"}), b'{"name":"a"}', 401, None),
    ("credentials before the contract", "POST", "/items", {"content-type": "application/json"}, b'{"nope":1}',
     401, None),
    ("contract after the credentials", "POST", "/items", {"content-type": "application/json", "X-API-Key": KEY},
     b'{"nope":1}', 400, None),
    ("document default, key", "POST", "/items", {"content-type": "application/json", "X-API-Key": KEY},
     b'{"name":"a"}', 200, ("ApiKey", "key-1")),
    ("bearer", "GET", "/token", token({"sub": "svc-1"}), None, 200, ("Jwt", "svc-1")),
    ("bearer expired", "GET", "/token", token({"sub": "svc-1", "exp": int(time.time()) - 600}), None, 401, None),
    ("bearer, another secret", "GET", "/token", token({"sub": "x"}, "not-the-secret-but-32-bytes-long!!"), None,
     401, None),
    ("bearer wrong audience", "GET", "/token", token({"aud": "other"}), None, 401, None),
    ("oauth2 scope", "GET", "/admin", token({"sub": "ops", "scope": "read admin"}), None, 200, ("OAuth", "ops")),
    ("oauth2 scope missing", "GET", "/admin", token({"sub": "ops", "scope": "read"}), None, 403, None),
    ("credentials before the 501", "GET", "/later", {}, None, 401, None),
    ("501 after the credentials", "GET", "/later", {"X-API-Key": KEY}, None, 501, None),
]


class SecurityTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("secured", PROJECTS)
        prepare(cls.dir)
        cls.gw = Gateway(cls.dir, env=ENV)

    @classmethod
    def tearDownClass(cls):
        stop_cleanly(cls.gw, cls.dir)

    def check_answers(self, base, how):
        for name, method, path, headers, body, status, who in REQUESTS:
            with self.subTest(how=how, request=name):
                got, h, data = send(base, method, path, headers, body)
                self.assertEqual(got, status, "%s: %s" % (name, data[:400]))
                if status in (401, 403, 400, 501):
                    self.assertEqual(h.get("content-type"), "application/problem+json")
                    doc = json.loads(data)
                    self.assertEqual(doc["status"], status)
                if status == 401:
                    self.assertEqual(json.loads(data)["title"], "Unauthorized")
                    self.assertTrue(h.get("www-authenticate"), "a 401 carries a challenge")
                if status == 403:
                    self.assertIn('error="insufficient_scope", scope="admin"', h.get("www-authenticate", ""))
                if who is not None:
                    self.assertEqual(json.loads(data), {"scheme": who[0], "subject": who[1],
                                                        "claims": who[0] in ("Jwt", "OAuth")})
                self.assertNotIn(KEY.encode(), data)

    def test_requests(self):
        self.check_answers(self.gw.base, "kumo up")

    def test_challenges(self):
        status, h, _ = send(self.gw.base, "GET", "/whoami")
        self.assertEqual(status, 401)
        challenge = h["www-authenticate"]
        self.assertIn('ApiKey realm="secured", in="header", name="x-api-key"', challenge)
        self.assertIn('Basic realm="secured", charset="UTF-8"', challenge)
        status, h, _ = send(self.gw.base, "POST", "/items", {"content-type": "application/json"}, b"{}")
        self.assertEqual(status, 401)
        self.assertNotIn("Basic", h["www-authenticate"], "only the operation's own alternatives are offered")

    def test_key_never_logged(self):
        send(self.gw.base, "GET", "/whoami", {"X-API-Key": KEY})
        send(self.gw.base, "GET", "/whoami", {"X-API-Key": "wrong-" + KEY})
        send(self.gw.base, "GET", "/whoami", basic("alice", "wonderland"))
        time.sleep(0.2)  # the access lines are written once per turn of the loop; not needed to pass
        err = self.gw.stderr() + self.gw.stdout()
        self.assertNotIn(KEY, err)
        self.assertNotIn(CI_KEY, err)
        self.assertNotIn("wonderland", err)

    def test_probes_skip_secured_operations(self):
        """The monitors' probes hold no credential: an operation whose
        security needs one is not probed (it would only ever get 401 and
        fire a critical alert); an open one is."""
        def alerts():
            with urllib.request.urlopen(self.gw.admin + "/alerts", timeout=5) as r:
                return {m["operation"]: m for m in json.load(r)["monitors"]}

        def probed_at():
            return alerts().get("public", {}).get("probe", {}).get("at")

        first = None
        deadline = time.time() + 30
        while time.time() < deadline and not first:
            first = probed_at()
            time.sleep(0.1)
        self.assertTrue(first, alerts())
        # one more round: had whoami been probed, it would have been by now
        while time.time() < deadline and probed_at() == first:
            time.sleep(0.1)
        self.assertNotEqual(probed_at(), first, "a second probe round")
        mons = alerts()
        self.assertTrue(mons["public"]["probe"]["ok"], mons["public"])
        self.assertNotIn("probe", mons["whoami"])

    def test_package_carries_the_credentials_file(self):
        import zipfile
        r = run_kumo("build", "--target", "aws", self.dir, env=ENV, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with zipfile.ZipFile(os.path.join(self.dir, ".kumo", "build", "aws", "who.zip")) as z:
            names = z.namelist()
        self.assertIn("app/users.htpasswd", names)
        self.assertNotIn("app/ci.key", names, "a key's ${file:} reference is a secret, mounted where it runs")
        # Basic users: kumo-host loads libcrypt to check them, so it travels
        # (ldd does not list it); Debian's asks for a newer glibc than
        # provided.al2023's, so glibc and its loader travel too
        self.assertIn("lib/libcrypt.so.1", names)
        self.assertIn("lib/libc.so.6", names)
        self.assertIn("lib/ld-linux-x86-64.so.2", names)

    def test_kumo_host_answers_alike(self):
        port = free_port()
        log = open(os.path.join(os.path.dirname(self.dir), "host.log"), "w+")
        env = dict(os.environ, PORT=str(port), ASAN_OPTIONS="detect_leaks=0", **ENV)
        proc = subprocess.Popen([HOST, "http", self.dir, "who"], env=env, stdout=log, stderr=log,
                                start_new_session=True)
        base = "http://127.0.0.1:%d" % port
        try:
            deadline = time.time() + 60
            while True:
                if proc.poll() is not None:
                    log.flush()
                    with open(log.name) as f:
                        raise AssertionError("kumo-host exited with %d:\n%s" % (proc.returncode, f.read()))
                try:
                    send(base, "GET", "/public", timeout=2)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            for name, method, path, headers, body, status, who in REQUESTS:
                if path == "/later":
                    continue  # kumo-host serves one unit: an unbound operation is 501 either way
                with self.subTest(request=name):
                    got, h, data = send(base, method, path, headers, body)
                    ref, rh, rdata = send(self.gw.base, method, path, headers, body)
                    self.assertEqual(got, ref, name)
                    self.assertEqual(h.get("www-authenticate"), rh.get("www-authenticate"), name)
                    if got == 200:
                        self.assertEqual(json.loads(data), json.loads(rdata), name)
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()


def run_kumo(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([KUMO, *args], capture_output=True, text=True, timeout=timeout, env=e)


class CredentialsReloadTest(unittest.TestCase):
    """The credentials file is one of a generation's inputs: a reload with
    nothing changed makes no generation, and one after the file changed
    serves the new user."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("secured", PROJECTS)
        prepare(cls.dir)
        cls.gw = Gateway(cls.dir, threads=1, env=ENV, extra_args=("--reload-interval", "0"))

    @classmethod
    def tearDownClass(cls):
        stop_cleanly(cls.gw, cls.dir)

    def reload(self):
        with urllib.request.urlopen(urllib.request.Request(self.gw.admin + "/reload", method="POST"),
                                    timeout=120) as r:
            return json.loads(r.read())

    def test_htpasswd_change_reloads(self):
        self.assertEqual(send(self.gw.base, "GET", "/whoami", basic("bob", "builder"))[0], 401)
        self.assertEqual(self.reload().get("status"), "unchanged")
        h = subprocess.run(["openssl", "passwd", "-6", "-salt", "b0bS4lt", "builder"], capture_output=True,
                           text=True, check=True).stdout.strip()
        with open(os.path.join(self.dir, "users.htpasswd"), "a") as f:
            f.write("bob:%s\n" % h)
        answer = self.reload()
        self.assertEqual(answer.get("status"), "reloaded", answer)
        status, _, body = send(self.gw.base, "GET", "/whoami", basic("bob", "builder"))
        self.assertEqual(status, 200, body)


# sha512crypt at two million rounds: about a second a check, whatever the
# password (no password matches this hash; checking one costs the same).
SLOW_HASH = "$6$rounds=2000000$s4ltS4lt$" + "A" * 86


class SlowPasswordTest(unittest.TestCase):
    """A password only a slow hash can check waits off the event loop: with
    one loop, while a slow user's check runs (about a second), other
    requests on that loop are answered; the slow one then gets its 401; a
    client that leaves while its check runs costs nothing but the hash."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("secured", PROJECTS)
        prepare(cls.dir)
        with open(os.path.join(cls.dir, "users.htpasswd"), "a") as f:
            f.write("slow:%s\n" % SLOW_HASH)
        cls.gw = Gateway(cls.dir, threads=1, env=ENV)

    @classmethod
    def tearDownClass(cls):
        stop_cleanly(cls.gw, cls.dir)

    def test_loop_serves_while_a_password_is_hashed(self):
        import threading
        done = threading.Event()
        got = {}

        def slow():
            got["status"], got["headers"], got["body"] = send(self.gw.base, "GET", "/whoami",
                                                              basic("slow", "any password"), timeout=60)
            done.set()

        th = threading.Thread(target=slow)
        th.start()
        # Fast requests, one after another, while the slow check runs: a
        # loop that hashed on its own thread would answer none of them
        # until the hash ended (then at most one could race the slow
        # answer). Bounded: the slow check ends by itself.
        fast = 0
        while not done.is_set() and fast < 1000:
            status, _, _ = send(self.gw.base, "GET", "/whoami", {"X-API-Key": KEY}, timeout=60)
            self.assertEqual(status, 200)
            if not done.is_set():
                fast += 1
        th.join(60)
        self.assertEqual(got.get("status"), 401, got.get("body"))
        self.assertTrue(got["headers"].get("www-authenticate", "").startswith("ApiKey"), got["headers"])
        self.assertGreaterEqual(fast, 5, "requests answered on the loop while the password was hashed")
        # the same credentials again: remembered as refused, no second wait
        status, _, _ = send(self.gw.base, "GET", "/whoami", basic("slow", "any password"))
        self.assertEqual(status, 401)
        # and the parked path passes a good password through to the handler
        status, _, body = send(self.gw.base, "GET", "/whoami", basic("alice", "wonderland"))
        self.assertEqual((status, json.loads(body)["subject"]), (200, "alice"))

    def test_client_leaving_while_parked(self):
        import socket
        cred = base64.b64encode(b"slow:leaving").decode()
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.gw.port))
            s.sendall(("GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n" % cred).encode())
            s.close()
        # the gateway goes on; the hashes end by themselves (tearDown:
        # no sanitizer report, a clean stop)
        status, _, _ = send(self.gw.base, "GET", "/public")
        self.assertEqual(status, 200)
        status, _, _ = send(self.gw.base, "GET", "/whoami", basic("slow", "leaving"), timeout=60)
        self.assertEqual(status, 401)


class RefusalTest(unittest.TestCase):
    """What kumo cannot enforce stops `kumo up` and fails `kumo lint`, with
    file:line:column: never served unchecked."""

    def setUp(self):
        self.dir = copy_project("secured", PROJECTS)
        prepare(self.dir)

    def tearDown(self):
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)

    def edit(self, name, old, new):
        path = os.path.join(self.dir, name)
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))

    def up(self):
        port = free_port()
        return run_kumo("up", self.dir, "--port", str(port), "--admin-port", str(free_port()),
                        env=ENV, timeout=120)

    def test_digest_refused(self):
        # the Basic scheme becomes a digest one, which kumo does not check
        self.edit("openapi.yaml", "      type: http\n      scheme: basic", "      type: http\n      scheme: digest")
        self.edit("kumo.yaml", "  Basic: {file: users.htpasswd, realm: secured}\n", "")
        r = self.up()
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"openapi\.yaml:\d+:\d+: security scheme 'Basic' \(http digest\) cannot be "
                                   r"enforced by kumo")
        r = run_kumo("lint", self.dir, env=ENV)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"openapi\.yaml:\d+:\d+: .*security scheme 'Basic' \(http digest\)")

    def test_unconfigured_refused(self):
        self.edit("kumo.yaml", "  Basic: {file: users.htpasswd, realm: secured}\n", "")
        r = self.up()
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"openapi\.yaml:\d+:\d+: security scheme 'Basic' \(http basic\) is required")
        self.assertIn("add `security: {Basic: {file: users.htpasswd}}` to kumo.yaml", r.stderr)
        r = run_kumo("lint", self.dir, env=ENV)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("security scheme 'Basic'", r.stdout)

    def test_lint_reports_every_refusal(self):
        self.edit("openapi.yaml", "      type: http\n      scheme: basic", "      type: http\n      scheme: hoba")
        self.edit("kumo.yaml", "  Basic: {file: users.htpasswd, realm: secured}\n",
                  "  Basic: {file: users.htpasswd}\n  Other: {keys: [x]}\n")
        r = run_kumo("lint", self.dir, "--json", env=ENV)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        findings = json.loads(r.stdout)
        messages = [f["message"] for f in findings if f.get("severity", f.get("level")) == "error"]
        self.assertTrue(any("'Basic' (http hoba) cannot be enforced" in m for m in messages), messages)
        self.assertTrue(any("declares no security scheme 'Other'" in m for m in messages), messages)
        for f in findings:
            if "security" in f["message"]:
                self.assertGreater(f["line"], 0, f)

    def test_environment_keys(self):
        """environments.ENV.security replaces kumo.yaml's entry for that
        scheme under `kumo up --env ENV`; the other schemes stay."""
        with open(os.path.join(self.dir, "kumo.yaml"), "a") as f:
            f.write("environments:\n  prod:\n    security:\n"
                    "      ApiKey: {keys: [{name: prod-client, key: \"${env:PROD_KEY}\"}]}\n")
        gw = Gateway(self.dir, extra_args=("--env", "prod"), env=dict(ENV, PROD_KEY="p-77"))
        try:
            status, _, body = send(gw.base, "GET", "/whoami", {"X-API-Key": "p-77"})
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["subject"], "prod-client")
            status, _, _ = send(gw.base, "GET", "/whoami", {"X-API-Key": KEY})
            self.assertEqual(status, 401, "kumo.yaml's own keys are replaced in prod")
            status, _, body = send(gw.base, "GET", "/whoami", basic("alice", "wonderland"))
            self.assertEqual(status, 200, body)
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])

    def test_unset_key_variable_refused(self):
        r = run_kumo("up", self.dir, "--port", str(free_port()), "--admin-port", str(free_port()),
                     env=dict(ENV, SECURED_KEY=""), timeout=120)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"kumo\.yaml:\d+:\d+: security\.ApiKey\.keys")
        self.assertNotIn(CI_KEY, r.stderr)


if __name__ == "__main__":
    unittest.main()
