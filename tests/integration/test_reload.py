"""Zero-downtime reload of `kumo up` (docs/reload.md), seen from outside.

While clients send requests without pause, the test edits a copy of
projects/reload (the handler's answer and a new operation), reloads with
SIGHUP and checks that no request failed, that new requests reach the new
code, that a request already running finished on the old worker with the
old answer, and that the old workers are gone once drained. Then a broken
kumo.yaml is refused through `kumo reload` (exit 1, file:line:column)
while the running generation keeps serving, and the fixed file loads.

The methods run in name order and share one gateway: each starts from the
state the previous one left.

AdminTokenTest: with an admin token (here from KUMO_ADMIN_TOKEN), /status
and POST /reload answer 401 without `Authorization: Bearer TOKEN` and 200
with it, /healthz and /readyz stay open, `kumo reload` and `kumo status`
send it (from --admin-token-file or the environment), and the workers never
see the variable.

ReloadPacingTest: 50 POST /reload one after another start one reload and
are answered 429 with Retry-After (--reload-interval 60), while the API
keeps answering; 50 at once are each answered 200 or 429, by no more
reloads than 200s.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def is_worker(pid):
    """Whether pid is a live kumo-worker process (a zombie is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return False
    return state != "Z" and bool(cmd) and cmd[0].endswith(b"kumo-worker")


def children(ppid):
    """(pid, comm, state) of every child of ppid."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid:
            out.append((int(e), comm, fields[0]))
    return out


class Clients:
    """Threads sending GET /version without pause until stopped: one on a
    keep-alive connection, one opening a new connection per request."""

    def __init__(self, base):
        self.base = base
        self.results = []  # (status or exception text, body)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(keep,)) for keep in (True, False)]
        for t in self.threads:
            t.start()

    def run(self, keep_alive):
        session = requests.Session() if keep_alive else None
        while not self.stop_flag.is_set():
            try:
                get = session.get if session else requests.get
                r = get(self.base + "/version", timeout=30)
                item = (r.status_code, r.text)
            except requests.RequestException as e:
                item = ("error: %s" % e, "")
            with self.lock:
                self.results.append(item)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)
        return list(self.results)


class ReloadTest(GatewayTest):
    project = "reload"
    project_root = PROJECTS
    threads = 2

    def worker_pid(self, request_id):
        """The worker that served a request, from the access log."""
        def find():
            for l in self.gw.log_lines():
                if l.get("request_id") == request_id and "worker_pid" in l:
                    return l["worker_pid"]
            return None
        pid = wait_for(find, 10)
        self.assertIsNotNone(pid, "no access log line for request %s" % request_id)
        return pid

    def status(self):
        r = requests.get(self.gw.admin + "/status", timeout=5)
        self.assertEqual(r.status_code, 200)
        return r.json()

    def edit(self, rel, old, new):
        path = os.path.join(self.project_dir, rel)
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def reload_cli(self):
        return subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=300)

    def links(self):
        d = os.path.join(self.project_dir, ".kumo", "build", "local")
        return sorted(n for n in os.listdir(d) if n.startswith("app.so."))

    def test_1_sighup_under_load_drains_the_old_generation(self):
        self.assertEqual(requests.get(self.url("/version")).text, "v1")
        self.assertEqual(requests.get(self.url("/added")).status_code, 404)
        self.assertEqual(self.status()["generation"], 1)
        self.assertEqual(self.links(), ["app.so.%d.1" % self.gw.proc.pid])

        # A slow request on a generation-1 worker, in flight across the reload.
        slow = {}

        def run_slow():
            t0 = time.time()
            r = requests.get(self.url("/slow?ms=5000"), timeout=60)
            slow.update(status=r.status_code, text=r.text, done=time.time(), took=time.time() - t0,
                        request_id=r.headers.get("x-request-id"))

        slow_thread = threading.Thread(target=run_slow)
        slow_thread.start()
        self.assertTrue(wait_for(lambda: self.status()["functions"][0]["in_flight"] >= 1, 10),
                        "the slow request never reached a worker")
        clients = Clients(self.gw.base)
        try:
            time.sleep(0.3)
            self.edit("functions/app.c", '#define VERSION "v1"', '#define VERSION "v2"')
            with open(os.path.join(self.project_dir, "functions", "app.c"), "a") as f:
                f.write('\nint added(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)\n'
                        '{\n    (void)ctx;\n    (void)req;\n'
                        '    return kumo_response_body(res, "added", 5, "text/plain");\n}\n')
            self.edit("openapi.yaml", "paths:\n",
                      'paths:\n  /added: {get: {operationId: added, responses: {"200": {description: new}}}}\n')
            self.gw.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: requests.get(self.url("/version")).text == "v2", 60),
                            self.gw.stderr()[-3000:])
            v2_seen = time.time()
            added = requests.get(self.url("/added"))
            self.assertEqual((added.status_code, added.text), (200, "added"))
            time.sleep(0.3)  # keep the clients going on the new generation for a moment
        finally:
            results = clients.stop()

        # No request was refused or failed during the reload; both answers seen.
        bad = [r for r in results if r[0] != 200]
        self.assertEqual(bad, [], "%d of %d requests failed" % (len(bad), len(results)))
        bodies = set(r[1] for r in results)
        self.assertTrue(bodies <= {"v1", "v2"}, bodies)
        self.assertIn("v2", bodies)
        self.assertGreater(len(results), 20)

        # The slow request was still running when v2 was served, and finished
        # on its old worker with the old code's answer.
        slow_thread.join(60)
        self.assertEqual(slow.get("status"), 200, slow)
        self.assertGreater(slow["done"], v2_seen, "the slow request ended before the reload took effect")
        self.assertIsNotNone(re.fullmatch(r"v1:(\d+)", slow["text"]), slow)
        # The handler's getpid() is its pid in the workers' pid namespace;
        # the access log names the worker as the machine knows it.
        old_pid = self.worker_pid(slow["request_id"])

        st = self.status()
        self.assertEqual(st["generation"], 2)
        self.assertEqual(st["reload"]["last"], "ok")
        # Once drained, the old generation's workers and its link are gone.
        self.assertTrue(wait_for(lambda: not is_worker(old_pid), 30), "old worker %d still runs" % old_pid)
        self.assertTrue(wait_for(lambda: self.status()["reload"]["draining"] == 0, 30), self.status())
        self.assertEqual(self.links(), ["app.so.%d.2" % self.gw.proc.pid])
        new_pid = self.worker_pid(requests.get(self.url("/pid")).headers.get("x-request-id"))
        self.assertNotEqual(new_pid, old_pid)
        self.assertTrue(is_worker(new_pid))
        log = self.gw.stderr()
        self.assertIn("reloaded: generation 2", log)
        self.assertIn("generation 1 drained", log)
        # Retiring the old generation's workers is routine: nothing about
        # the reload is logged as an error
        errors = [l for l in self.gw.log_lines() if l.get("level") == "error"]
        self.assertEqual(errors, [])
        # The old generation's fork servers are reaped, not left as zombies:
        # one fork server per loop remains, the new generation's.
        def settled():
            kids = children(self.gw.proc.pid)
            return (not any(state == "Z" for _, _, state in kids) and
                    sum(comm == "kumo-forkserver" for _, comm, _ in kids) == 2)
        self.assertTrue(wait_for(settled, 30), children(self.gw.proc.pid))

    def test_2_broken_file_is_refused_and_the_old_generation_serves(self):
        self.edit("kumo.yaml", "max: 8", "max: many")
        p = self.reload_cli()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"kumo\.yaml:\d+:\d+: functions\.app\.max")
        self.assertIn("keeps serving", p.stderr)
        self.assertEqual(requests.get(self.url("/version")).text, "v2")
        self.assertEqual(requests.get(self.url("/added")).status_code, 200)
        st = self.status()
        self.assertEqual(st["generation"], 2)
        self.assertEqual(st["reload"]["last"], "failed")
        self.assertRegex(st["reload"]["error"], r"kumo\.yaml:\d+:\d+:")
        self.assertEqual(requests.get(self.gw.admin + "/readyz").status_code, 200)

        # A handler that does not compile is refused too; the old code serves.
        self.edit("kumo.yaml", "max: many", "max: 8")
        self.edit("functions/app.c", '#define VERSION "v2"', '#define VERSION v3 not C')
        p = self.reload_cli()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertEqual(requests.get(self.url("/version")).text, "v2")
        self.assertEqual(self.status()["generation"], 2)

        self.edit("functions/app.c", '#define VERSION v3 not C', '#define VERSION "v3"')
        p = self.reload_cli()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("generation 3", p.stdout)
        self.assertTrue(wait_for(lambda: requests.get(self.url("/version")).text == "v3", 10))
        st = self.status()
        self.assertEqual(st["generation"], 3)
        self.assertEqual(st["reload"]["last"], "ok")
        self.assertIsNone(st["reload"]["error"])

    def test_3_reload_needs_post(self):
        r = requests.get(self.gw.admin + "/reload")
        self.assertEqual(r.status_code, 405)
        self.assertEqual(r.headers.get("allow"), "POST")
        p = subprocess.run([KUMO, "reload", "--admin-port", "1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach kumo's admin port", p.stderr)

    def test_4_admin_refuses_other_sites(self):
        """A web page cannot drive the admin port: not by posting a form
        (CSRF), not through a name of its own that resolves to 127.0.0.1
        (DNS rebinding); kumo reload and plain clients still can."""
        url = self.gw.admin + "/reload"
        r = requests.post(url, headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(r.headers.get("content-type"), "application/problem+json")
        r = requests.post(url, headers={"Host": "evil.example:%d" % self.gw.admin_port})
        self.assertEqual(r.status_code, 403, r.text)
        r = requests.get(self.gw.admin + "/status", headers={"Host": "rebound.example"})
        self.assertEqual(r.status_code, 403, r.text)
        r = requests.post(url, data={"a": "b"})  # a form, as a cross-site page would send
        self.assertEqual(r.status_code, 415, r.text)
        r = requests.post(url, data="x", headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status_code, 415, r.text)
        before = self.status()["reload"]["count"]
        self.assertEqual(self.status()["reload"]["count"], before, "a refused request reloaded")
        # loopback origins and names, and no body at all, are fine
        r = requests.get(self.gw.admin + "/healthz", headers={"Host": "localhost", "Origin": "http://127.0.0.1:1"})
        self.assertEqual(r.status_code, 200, r.text)
        p = subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.status()["reload"]["count"], before + 1)


TOKEN = "k7Vq2pX9mW4rT8sZ1yB6nC3d"


def stop_clean(gw):
    rc = gw.stop()
    err = gw.stderr()
    if rc != 0:
        raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
    if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])


class AdminTokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project("reload", PROJECTS)
        with open(os.path.join(cls.project_dir, "functions", "app.c"), "a") as f:
            f.write('\nint env_token(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)\n'
                    '{\n    (void)ctx;\n    (void)req;\n    const char *v = getenv("KUMO_ADMIN_TOKEN");\n'
                    '    return kumo_response_body(res, v ? "set" : "unset", v ? 3 : 5, "text/plain");\n}\n')
        path = os.path.join(cls.project_dir, "openapi.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("paths:\n", 'paths:\n  /env: {get: {operationId: env_token, responses: {"200": '
                                             '{description: whether the worker sees KUMO_ADMIN_TOKEN}}}}\n'))
        cls.token_file = os.path.join(os.path.dirname(cls.project_dir), "admin-token")
        fd = os.open(cls.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (TOKEN + "\n").encode())
        os.close(fd)
        cls.gw = Gateway(cls.project_dir, env={"KUMO_ADMIN_TOKEN": TOKEN})

    @classmethod
    def tearDownClass(cls):
        stop_clean(cls.gw)
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def cli(self, *args, env=None):
        e = {k: v for k, v in os.environ.items() if k != "KUMO_ADMIN_TOKEN"}
        e.update(env or {})
        return subprocess.run([KUMO, *args, "--admin-port", str(self.gw.admin_port)], capture_output=True, text=True,
                              timeout=120, env=e)

    def reload_count(self):
        r = requests.get(self.gw.admin + "/status", headers={"Authorization": "Bearer " + TOKEN}, timeout=5)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["reload"]["count"]

    def test_1_health_and_readiness_stay_open(self):
        self.assertIn("/status, /reload and /events/NAME/fire need the token", self.gw.stdout())
        for path in ("/healthz", "/readyz"):
            self.assertEqual(requests.get(self.gw.admin + path, timeout=5).status_code, 200)

    def test_2_refused_without_the_token(self):
        before = self.reload_count()
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                        {"Authorization": "Bearer " + TOKEN[:-1]}, {"Authorization": "Bearer " + TOKEN + "x"},
                        {"Authorization": "Basic " + TOKEN}, {"Authorization": TOKEN}):
            r = requests.post(self.gw.admin + "/reload", headers=headers, timeout=30)
            self.assertEqual(r.status_code, 401, (headers, r.text))
            self.assertEqual(r.headers.get("content-type"), "application/problem+json")
            self.assertTrue(r.headers.get("www-authenticate", "").startswith("Bearer"), r.headers)
            r = requests.get(self.gw.admin + "/status", headers=headers, timeout=5)
            self.assertEqual(r.status_code, 401, (headers, r.text))
        self.assertEqual(self.reload_count(), before, "a refused request reloaded")

    def change_something(self):
        """A reload with nothing changed makes no generation (issue 17)."""
        with open(os.path.join(self.project_dir, "kumo.yaml"), "a") as f:
            f.write("# changed at %f\n" % time.time())

    def test_3_accepted_with_the_token(self):
        before = self.reload_count()
        self.change_something()
        r = requests.post(self.gw.admin + "/reload", headers={"Authorization": "bearer  " + TOKEN}, timeout=120)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["status"], "reloaded")
        self.assertEqual(self.reload_count(), before + 1)

    def test_4_cli_sends_the_token(self):
        p = self.cli("reload")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("Authorization: Bearer", p.stderr)
        p = self.cli("status")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("401", p.stderr)
        # kumo reload waits out the pacing (one reload a second) by itself
        self.change_something()
        p = self.cli("reload", "--admin-token-file", self.token_file)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("kumo: reloaded: generation", p.stdout)
        p = self.cli("reload", env={"KUMO_ADMIN_TOKEN": TOKEN})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.cli("status", "--admin-token-file", self.token_file, "--json")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('"generation"', p.stdout)
        # a token file others can read is refused, as ssh refuses such a key
        os.chmod(self.token_file, 0o644)
        try:
            p = self.cli("status", "--admin-token-file", self.token_file)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("chmod 600", p.stderr)
        finally:
            os.chmod(self.token_file, 0o600)
        p = self.cli("status", env={"KUMO_ADMIN_TOKEN": "short"})
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("16 to 1024 characters", p.stderr)

    def test_5_workers_do_not_see_the_token(self):
        r = requests.get(self.gw.base + "/env", timeout=30)
        self.assertEqual((r.status_code, r.text), (200, "unset"))


class ReloadPacingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project("reload", PROJECTS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def reload_count(self, gw):
        return requests.get(gw.admin + "/status", timeout=5).json()["reload"]["count"]

    def test_burst_one_after_another(self):
        gw = Gateway(self.project_dir, extra_args=("--reload-interval", "60"))
        try:
            clients = Clients(gw.base)
            try:
                answers = [requests.post(gw.admin + "/reload", timeout=120) for _ in range(50)]
            finally:
                results = clients.stop()
            statuses = [r.status_code for r in answers]
            self.assertEqual(statuses.count(200), 1, statuses)
            self.assertEqual(statuses.count(429), 49, statuses)
            self.assertEqual(statuses[0], 200)
            for r in answers[1:]:
                self.assertEqual(r.headers.get("content-type"), "application/problem+json")
                self.assertTrue(1 <= int(r.headers["retry-after"]) <= 60, r.headers)
            self.assertEqual(self.reload_count(gw), 1)
            # serving went on: every API request answered
            bad = [x for x in results if x[0] != 200]
            self.assertEqual(bad, [], "%d of %d requests failed" % (len(bad), len(results)))
            self.assertGreater(len(results), 0)
            # 50 at once, with nothing running, within the interval: all 429
            with ThreadPoolExecutor(50) as ex:
                burst = list(ex.map(lambda _: requests.post(gw.admin + "/reload", timeout=120).status_code,
                                    range(50)))
            self.assertEqual(burst.count(429), 50, burst)
            self.assertEqual(self.reload_count(gw), 1)
        finally:
            stop_clean(gw)

    def test_burst_at_once_is_coalesced(self):
        gw = Gateway(self.project_dir)  # the default: one reload a second at most
        try:
            clients = Clients(gw.base)
            try:
                with ThreadPoolExecutor(50) as ex:
                    answers = list(ex.map(lambda _: requests.post(gw.admin + "/reload", timeout=120), range(50)))
            finally:
                results = clients.stop()
            statuses = [r.status_code for r in answers]
            self.assertEqual(statuses.count(200) + statuses.count(429), 50, statuses)
            self.assertGreaterEqual(statuses.count(200), 1, statuses)
            # each reload answers one request or more: never one per request
            self.assertLessEqual(self.reload_count(gw), statuses.count(200))
            bad = [x for x in results if x[0] != 200]
            self.assertEqual(bad, [], "%d of %d requests failed" % (len(bad), len(results)))
            self.assertGreater(len(results), 0)
        finally:
            stop_clean(gw)


if __name__ == "__main__":
    unittest.main()
