"""`make install`'s layout, and kumo running from it with no build tree.

The build directory of the kumo under test (KUMO_BIN's) is installed with
`cmake --install` under a DESTDIR into a temporary prefix, as `make
install DESTDIR=... PREFIX=...` does. Then a copy of examples/hello is
served by PREFIX/bin/kumo, started from the copy with PATH=PREFIX/bin and
no KUMO_* variable, and answers a GET. Under strace (when installed), every
file the process tree opens, stats or executes is recorded: none may be in
the source tree or the build directory, and the header and kumo-worker
used must be the installed ones.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from kumo_harness import KUMO, SOURCE, free_port, wait_for

BUILD = os.path.dirname(os.path.realpath(KUMO))
PREFIX = "/opt/kumo-test"


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-install-")
        cls.stage = os.path.join(cls.tmp, "stage")
        env = dict(os.environ, DESTDIR=cls.stage)
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", PREFIX], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.root = cls.stage + PREFIX

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_layout(self):
        for f in ("bin/kumo", "bin/kumo-worker", "bin/kumo-host", "bin/kumo-lambda", "bin/kumo-http", "include/kumo.h", "include/kumo_test.h", "share/doc/kumo/README.md",
                  "share/doc/kumo/cli.md", "share/doc/kumo/getting-started.md",
                  "share/doc/kumo/examples/hello/kumo.yaml", "share/bash-completion/completions/kumo"):
            self.assertTrue(os.path.exists(os.path.join(self.root, f)), f)
        for f in ("bin/kumo", "bin/kumo-worker", "bin/kumo-host", "bin/kumo-lambda", "bin/kumo-http"):
            self.assertTrue(os.access(os.path.join(self.root, f), os.X_OK), f)
        self.assertFalse(os.path.exists(os.path.join(self.stage, "usr")), "nothing outside the prefix")

    def test_completion_is_installed(self):
        path = os.path.join(self.root, "share/bash-completion/completions/kumo")
        with open(path) as f:
            installed = f.read()
        self.assertEqual(installed, subprocess.run([KUMO, "completion", "bash"], capture_output=True,
                                                   text=True).stdout)
        r = subprocess.run(["bash", "--norc", "-c", 'source "$1" && complete -p kumo', "-", path],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "complete -F _kumo kumo", r.stderr)

    def test_up_runs_from_the_prefix(self):
        work = os.path.join(self.tmp, "work")
        project = os.path.join(work, "hello")
        shutil.copytree(os.path.join(SOURCE, "examples", "hello"), project,
                        ignore=shutil.ignore_patterns(".kumo"))
        port, admin = free_port(), free_port()
        strace = shutil.which("strace")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
        # as a shell started in the copy has them (the compiler stats $PWD)
        env.update(PATH=os.path.join(self.root, "bin") + ":/usr/bin:/bin", HOME=work, PWD=project)
        if strace:  # LeakSanitizer (sanitizer builds) cannot run under ptrace
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"  # the last one wins
        trace = os.path.join(self.tmp, "trace")
        prefix = [strace, "-f", "-qq", "-e", "trace=%file,execve", "-o", trace] if strace else []
        if not strace:
            print("\n*** test_install: strace is not installed; the no-build-tree check runs without it ***")
        out = open(os.path.join(self.tmp, "up.log"), "w+")
        proc = subprocess.Popen([*prefix, "kumo", "up", "--port", str(port), "--admin-port", str(admin),
                                 "--threads", "1"], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            def answer():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/hello" % port, timeout=2) as r:
                        return r.status, r.read()
                except OSError:
                    self.assertIsNone(proc.poll(), "kumo up exited:\n" + self.log(out))
                    return None
            got = wait_for(answer, timeout=90, step=0.2)
            self.assertEqual(got, (200, b"hello, world\n"), self.log(out))
        finally:
            kumo_pid = self.kumo_pid(proc) if strace else proc.pid
            if kumo_pid:
                os.kill(kumo_pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, self.log(out))
        out.close()
        # the unit was built here, from the installed header
        self.assertTrue(os.path.exists(os.path.join(project, ".kumo", "build", "local")))
        if not strace:
            return
        with open(trace) as f:
            lines = f.read().splitlines()
        forbidden = {os.path.realpath(SOURCE), BUILD, os.path.abspath(SOURCE)}
        bad = [l for l in lines if any('"%s/' % d in l or '"%s"' % d in l for d in forbidden)]
        self.assertEqual(bad, [], "the installed kumo looked into the source or build tree")
        bin_dir = os.path.join(self.root, "bin")
        header = '"%s/../include/kumo.h"' % bin_dir
        self.assertTrue(any("open" in l and header in l and "ENOENT" not in l for l in lines),
                        "the compiler did not open the installed kumo.h")
        self.assertTrue(any(l.split()[1].startswith('execve("%s/kumo-worker"' % bin_dir) for l in lines
                            if len(l.split()) > 1), "kumo-worker was not the installed one")

    @staticmethod
    def log(out):
        out.seek(0)
        return out.read()

    @staticmethod
    def kumo_pid(proc):
        """strace's child: the kumo up under it."""
        def child():
            try:
                for task in os.listdir("/proc/%d/task" % proc.pid):
                    with open("/proc/%d/task/%s/children" % (proc.pid, task)) as f:
                        pids = f.read().split()
                    if pids:
                        return int(pids[0])
            except OSError:
                return None
            return None
        return wait_for(child, timeout=5)


if __name__ == "__main__":
    unittest.main()
