"""Debugging a handler (issue 17, docs/debugging.md), seen from outside.

CrashTest: `kumo up --core-dumps` on projects/crash, whose handlers
dereference NULL and call abort() at known lines.
- the answer is a 502 at once; the log gets one line with the request id,
  the signal and the backtrace, symbolized: `write_through at
  functions/crash.c:LINE` (LINE: the line marked CRASH LINE), its caller
  `segv`; `kumo logs --request ID` shows it; the next request is served
  by a new worker; a stack overflow is reported too (the handler has a
  stack of its own);
- with core dumps on, the core is DATA/cores/core.crashy.PID (where this
  machine's kernel.core_pattern writes into the worker's directory) and
  the line says so.

DebugTest: `kumo dev --debug slow` on the same project.
- it prints `gdb -iex 'set sysroot /' -p PID` for a live worker of that function, and gdb
  attaches to it;
- .vscode/launch.json gets an attach configuration for that pid, merged
  into the one the project had;
- a request slower than the function's 2 s timeout is answered;
- an unknown operationId is refused, listing the operations.

DebugPortTest: `--debug-port N` serves the worker with gdbserver, which gdb
connects to; a launch.json with comments is left as it was.
"""
import json
import os
import re
import shutil
import subprocess
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def crash_line(project_dir):
    with open(os.path.join(project_dir, "functions", "crash.c")) as f:
        for n, line in enumerate(f, 1):
            if "CRASH LINE" in line:
                return n
    raise AssertionError("crash.c has no CRASH LINE marker")


def core_pattern():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            return f.read().strip()
    except OSError:
        return ""


class CrashTest(GatewayTest):
    project = "crash"
    project_root = PROJECTS
    threads = 1

    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project(cls.project, cls.project_root)
        cls.gw = Gateway(cls.project_dir, threads=1, extra_args=("--core-dumps",))

    def crash_report(self, request_id):
        """The crash line of `request_id`, once written (symbolizing takes a moment)."""
        def find():
            for line in self.gw.log_lines():
                if line.get("request_id") == request_id and "crashed" in line.get("msg", ""):
                    return line
            return None
        line = wait_for(find, timeout=60)
        self.assertIsNotNone(line, "no crash line for %s in:\n%s" % (request_id, self.gw.stderr()[-4000:]))
        return line

    def test_segv_backtrace_names_the_line(self):
        r = requests.get(self.url("/segv"), timeout=30)
        body = self.assertProblem(r, 502)
        rid = r.headers["x-request-id"]
        self.assertEqual(body["request_id"], rid)
        self.assertIn("signal 11", body["detail"])
        line = self.crash_report(rid)
        n = crash_line(self.project_dir)
        self.assertEqual(line["level"], "error")
        self.assertEqual(line["signal"], "SIGSEGV")
        self.assertEqual(line["function"], "crashy")
        self.assertIn("in write_through at functions/crash.c:%d" % n, line["msg"])
        bt = line["backtrace"]
        self.assertTrue(bt[0].startswith("#0 write_through at functions/crash.c:%d" % n), bt)
        self.assertTrue(any(re.match(r"#\d+ segv at functions/crash\.c:\d+", f) for f in bt), bt)
        # the next request gets a new worker
        r = requests.get(self.url("/ok"), timeout=30)
        self.assertEqual((r.status_code, r.text), (200, "ok"))
        # kumo logs --request shows the line (the store may lag a little)
        def logs():
            out = subprocess.run([KUMO, "logs", self.project_dir, "--request", rid], capture_output=True,
                                 text=True, timeout=30)
            return out.stdout if "crash.c:%d" % n in out.stdout else None
        self.assertIsNotNone(wait_for(logs, timeout=30), "kumo logs --request %s lacks the backtrace" % rid)

    def test_abort_backtrace_reaches_the_handler(self):
        r = requests.get(self.url("/abort"), timeout=30)
        self.assertProblem(r, 502)
        line = self.crash_report(r.headers["x-request-id"])
        self.assertEqual(line["signal"], "SIGABRT")
        self.assertIn("in abort_now at functions/crash.c:", line["msg"])
        self.assertTrue(any(re.match(r"#\d+ abort_now at functions/crash\.c:\d+", f) for f in line["backtrace"]))

    def test_stack_overflow_is_reported(self):
        r = requests.get(self.url("/overflow"), timeout=30)
        self.assertProblem(r, 502)
        line = self.crash_report(r.headers["x-request-id"])
        self.assertEqual(line["signal"], "SIGSEGV")
        bt = line["backtrace"]
        self.assertTrue(all(re.match(r"#\d+ deep at functions/crash\.c:\d+$", f) for f in bt), bt)
        self.assertEqual(len(bt), 64, "the innermost 64 frames")

    def test_core_dump_in_the_data_folder(self):
        pattern = core_pattern()
        if pattern.startswith("|"):
            self.skipTest("SKIPPED LOUDLY: this machine pipes cores to %r (kernel.core_pattern); "
                          "kumo cannot place them" % pattern)
        r = requests.get(self.url("/segv"), timeout=30)
        self.assertProblem(r, 502)
        line = self.crash_report(r.headers["x-request-id"])
        self.assertIn("core", line, line)
        if "/" in pattern:  # an absolute pattern writes elsewhere: the line says where
            self.assertIn(pattern.split("%")[0], line["core"])
            return
        want = os.path.join(self.project_dir, ".kumo", "data", "cores",
                            "core.crashy.%d" % line["worker_pid"])
        self.assertEqual(line["core"], want)
        with open(want, "rb") as f:
            self.assertEqual(f.read(4), b"\x7fELF")
        left = [d for d in os.listdir(os.path.dirname(want)) if d.startswith("pid-")]
        self.assertEqual(left, [], "the worker's core directory was not removed")


class DebugGateway(Gateway):
    """`kumo dev DIR --debug OP` (the harness starts `kumo up`)."""

    def __init__(self, project_dir, op):
        import kumo_harness

        real = subprocess.Popen

        def popen(argv, **kw):
            argv = list(argv)
            argv[argv.index("up")] = "dev"
            return real(argv, **kw)

        kumo_harness.subprocess.Popen = popen
        try:
            super().__init__(project_dir, threads=1, extra_args=("--debug", op))
        finally:
            kumo_harness.subprocess.Popen = real


class DebugTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("crash", PROJECTS)
        os.makedirs(os.path.join(cls.dir, ".vscode"))
        cls.mine = {"name": "mine", "type": "cppdbg", "request": "launch", "program": "/bin/true"}
        with open(os.path.join(cls.dir, ".vscode", "launch.json"), "w") as f:
            json.dump({"version": "0.2.0", "configurations": [cls.mine]}, f)
        cls.gw = DebugGateway(cls.dir, "slow")

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0:
            raise AssertionError("kumo dev exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def worker_pid(self):
        m = wait_for(lambda: re.search(r"attach with: gdb -iex 'set sysroot /' -p (\d+)", self.gw.stdout()),
                     timeout=60)
        self.assertIsNotNone(m, "no gdb command in kumo dev's output:\n" + self.gw.stdout())
        return int(m.group(1))

    def test_gdb_command_names_the_worker(self):
        pid = self.worker_pid()
        with open("/proc/%d/status" % pid) as f:
            status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        self.assertEqual(status["Name"].strip(), "kumo:crashy")
        with open("/proc/%s/comm" % status["PPid"].strip()) as f:
            self.assertEqual(f.read().strip(), "kumo-forkserver")
        if shutil.which("gdb") is None:
            self.skipTest("SKIPPED LOUDLY: gdb is not installed (scripts/install-deps.sh installs it)")
        out = subprocess.run(["gdb", "-iex", "set sysroot /", "-p", str(pid), "-batch", "-ex", "bt"], capture_output=True, text=True,
                             timeout=120)
        self.assertIn("kumo__local_serve", out.stdout, out.stdout + out.stderr)
        # detached, it still serves
        r = requests.get(self.gw.base + "/ok", timeout=30)
        self.assertEqual((r.status_code, r.text), (200, "ok"))

    def test_launch_json_merged(self):
        pid = self.worker_pid()
        with open(os.path.join(self.dir, ".vscode", "launch.json")) as f:
            doc = json.load(f)
        confs = {c["name"]: c for c in doc["configurations"]}
        self.assertEqual(confs["mine"], self.mine)
        kumo = confs["kumo: slow"]
        self.assertEqual((kumo["type"], kumo["request"]), ("cppdbg", "attach"))
        self.assertEqual(kumo["processId"], str(pid))
        self.assertTrue(os.path.basename(kumo["program"]).startswith("kumo-worker"), kumo)

    def test_slower_than_the_timeout_is_answered(self):
        self.worker_pid()
        start = time.time()
        r = requests.get(self.gw.base + "/slow?ms=3000", timeout=60)  # kumo.yaml: timeout 2s
        self.assertEqual((r.status_code, r.text), (200, "slept"))
        self.assertGreaterEqual(time.time() - start, 3.0)

    def test_unknown_operation_is_refused(self):
        other = copy_project("crash", PROJECTS)  # not the running one's .kumo/
        self.addCleanup(shutil.rmtree, os.path.dirname(other), True)
        out = subprocess.run([KUMO, "dev", other, "--debug", "nope", "--port", str(free_port()),
                              "--admin-port", "-1"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--debug nope", out.stderr)
        self.assertIn("segv, abort_now, ok, overflow, slow", out.stderr)


@unittest.skipIf(shutil.which("gdbserver") is None or shutil.which("gdb") is None,
                 "SKIPPED LOUDLY: gdbserver or gdb is not installed (scripts/install-deps.sh installs both)")
class DebugPortTest(unittest.TestCase):
    """`kumo dev --debug slow --debug-port N`, in a project whose launch.json has comments."""

    LAUNCH = '{\n  // mine\n  "version": "0.2.0",\n  "configurations": []\n}\n'

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("crash", PROJECTS)
        os.makedirs(os.path.join(cls.dir, ".vscode"))
        with open(os.path.join(cls.dir, ".vscode", "launch.json"), "w") as f:
            f.write(cls.LAUNCH)
        cls.port = free_port()
        import kumo_harness

        real = subprocess.Popen

        def popen(argv, **kw):
            argv = list(argv)
            argv[argv.index("up")] = "dev"
            return real(argv, **kw)

        kumo_harness.subprocess.Popen = popen
        try:
            cls.gw = Gateway(cls.dir, threads=1, extra_args=("--debug", "slow", "--debug-port", str(cls.port)))
        finally:
            kumo_harness.subprocess.Popen = real

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        if rc != 0:
            raise AssertionError("kumo dev exited with %d after SIGTERM:\n%s" % (rc, cls.gw.stderr()[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_gdbserver_serves_the_worker(self):
        said = "stopped under gdbserver on port %d" % self.port
        self.assertTrue(wait_for(lambda: said in self.gw.stdout(), timeout=60), self.gw.stdout())
        # a launch.json with comments is not kumo's to rewrite: left alone, the configuration printed
        self.assertIn("not plain JSON", self.gw.stdout())
        self.assertIn('"miDebuggerServerAddress": "127.0.0.1:%d"' % self.port, self.gw.stdout())
        with open(os.path.join(self.dir, ".vscode", "launch.json")) as f:
            self.assertEqual(f.read(), self.LAUNCH)
        worker = "kumo-worker"
        m = re.search(r"target remote 127\.0\.0\.1:%d' (\S+)" % self.port, self.gw.stdout())
        if m:
            worker = m.group(1)
        out = subprocess.run(["gdb", "-batch", "-ex", "target remote 127.0.0.1:%d" % self.port, "-ex", "bt",
                              "-ex", "detach", worker], capture_output=True, text=True, timeout=120)
        self.assertIn("kumo__local_serve", out.stdout, out.stdout + out.stderr)
        # detached, the worker runs on
        r = requests.get(self.gw.base + "/slow?ms=2500", timeout=60)
        self.assertEqual((r.status_code, r.text), (200, "slept"))


if __name__ == "__main__":
    unittest.main()
