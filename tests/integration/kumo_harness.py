"""Starts `kumo up` on free loopback ports and talks to it as a client would.

Each test class gets its own gateway process (setUpClass) with its output
captured to files, stopped with SIGTERM at the end; the gateway's exit
status must be 0 (a clean drain) or the class fails.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

KUMO = os.environ.get("KUMO_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "kumo")
SOURCE = os.environ.get("KUMO_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))


def wait_for(predicate, timeout=15, step=0.05):
    """Polls until predicate() is truthy; returns its last value."""
    deadline = time.time() + timeout
    value = predicate()
    while not value and time.time() < deadline:
        time.sleep(step)
        value = predicate()
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_project(name, src_root=None):
    """A private copy of a project, so tests never share .kumo/ data."""
    src = os.path.join(src_root or os.path.join(SOURCE, "examples"), name)
    dst = os.path.join(tempfile.mkdtemp(prefix="kumo-test-"), name)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".kumo"))
    return dst


class Gateway:
    def __init__(self, project_dir, threads=2, extra_args=(), env=None, prefix=()):
        self.dir = project_dir
        e = dict(os.environ)
        # Handlers crash on purpose here: let SIGSEGV and abort kill the worker
        # as they would without sanitizers, so kumo (not ASan) reports them.
        e["ASAN_OPTIONS"] = "detect_leaks=1:handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0"
        e.update(env or {})
        # free_port() lets the port go before kumo binds it: a test running
        # beside this one (ctest -j) may take it meanwhile. kumo then exits
        # saying so, and is started again on other ports.
        for attempt in range(3):
            self.port = free_port()
            self.admin_port = free_port()
            self.base = "http://127.0.0.1:%d" % self.port
            self.admin = "http://127.0.0.1:%d" % self.admin_port
            self.out = open(os.path.join(os.path.dirname(project_dir), "stdout.log"), "w+")
            self.err = open(os.path.join(os.path.dirname(project_dir), "stderr.log"), "w+")
            self.proc = subprocess.Popen(
                [*prefix, KUMO, "up", project_dir, "--port", str(self.port), "--admin-port",
                 str(self.admin_port), "--threads", str(threads), *extra_args],
                stdout=self.out, stderr=self.err, env=e)
            try:
                self.wait_ready()
                return
            except AssertionError:
                if attempt == 2 or self.proc.poll() is None or "Address already in use" not in self.stderr():
                    raise
                self.out.close()
                self.err.close()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kumo up exited with %d:\n%s" % (self.proc.returncode, self.stderr()))
            try:
                with urllib.request.urlopen(self.admin + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("kumo up did not become ready:\n" + self.stderr())

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stdout(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def log_lines(self):
        lines = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
        return lines

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kumo up did not stop within %ds of SIGTERM" % timeout)


class GatewayTest(unittest.TestCase):
    """Boots one gateway for the class; checks it stops cleanly."""
    project = None       # name under examples/, or an absolute path
    project_root = None  # where `project` lives, default examples/
    threads = 2

    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project(cls.project, cls.project_root)
        cls.gw = Gateway(cls.project_dir, threads=cls.threads)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0:
            raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def url(self, path):
        return self.gw.base + path

    def assertProblem(self, r, status):
        self.assertEqual(r.status_code, status, r.text)
        self.assertEqual(r.headers.get("content-type"), "application/problem+json")
        body = r.json()
        self.assertEqual(body["status"], status)
        self.assertTrue(body["title"])
        return body
