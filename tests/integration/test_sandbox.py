"""The worker sandbox (docs/sandbox.md): handlers of the hostile project
attack their own worker; each attack must fail or kill only that worker,
and the next request to another operation must succeed.

Handlers answer with what errno they got and how much they managed, never
with what they read. A run without the sandbox (`sandbox: false`) proves
that the layer, not the machine, is what stops the /etc/shadow read.
"""
import glob
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
WORKER = os.path.join(os.path.dirname(os.path.abspath(KUMO)), "kumo-worker")


def own_memory_cgroup():
    """The memory cgroup directory of this process where kumo's workers make
    theirs, if writable: v1's memory hierarchy, else v2 with the memory
    controller delegated to children (as src/sandbox/sandbox.c decides)."""
    v2 = None
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if "memory" in ctrls.split(","):
                    d = "/sys/fs/cgroup/memory" + ("" if path == "/" else path)
                    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") and os.access(d, os.W_OK):
                        return d
                if ctrls == "":
                    v2 = path
    except OSError:
        return None
    if v2 is not None:
        mnt = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "/sys/fs/cgroup/unified"
        d = mnt + ("" if v2 == "/" else v2)
        try:
            with open(os.path.join(d, "cgroup.subtree_control")) as f:
                if "memory" in f.read().split() and os.access(d, os.W_OK):
                    return d
        except OSError:
            pass
    return None


def worker_cgroups(base):
    return sorted(glob.glob(os.path.join(base, "kumo-worker-*"))) if base else []


class SandboxTest(GatewayTest):
    project = "hostile"
    project_root = PROJECTS

    def call(self, route, **params):
        return requests.get(self.url(route), params=params, timeout=30)

    def answer(self, route, **params):
        r = self.call(route, **params)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def assertStillServing(self):
        r = self.call("/ok")
        self.assertEqual((r.status_code, r.text), (200, "fine"))

    def test_report_names_the_layers(self):
        self.assertStillServing()
        msgs = [l.get("msg", "") for l in self.gw.log_lines()]
        reports = [m for m in msgs if m.startswith("sandbox: ")]
        self.assertTrue(reports, "no sandbox report in the log:\n" + "\n".join(msgs[-20:]))
        # as root the fork server puts its workers in a pid namespace
        namespaces = "namespaces (mount, pid, ipc, net)" if os.geteuid() == 0 else "namespaces ("
        for layer in ("seccomp", "no_new_privs", "limits (", namespaces):
            self.assertIn(layer, reports[-1])

    def test_shadow_is_not_readable(self):
        if not os.path.exists("/etc/shadow"):
            self.skipTest("SKIPPED: this machine has no /etc/shadow")
        a = self.answer("/shadow")
        self.assertFalse(a["ok"])
        self.assertEqual(a["count"], 0)
        self.assertIn(a["errno"], ("EACCES", "EPERM", "ENOENT"))
        self.assertStillServing()

    def test_project_files_are_read_only(self):
        path = os.path.join(self.project_dir, "kumo.yaml")
        with open(path, "rb") as f:
            before = f.read()
        a = self.answer("/write", path=path)
        self.assertFalse(a["ok"])
        self.assertIn(a["errno"], ("EROFS", "EACCES", "EPERM"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertStillServing()

    def test_data_dir_stays_writable(self):
        path = os.path.join(self.project_dir, ".kumo", "data", "probe")
        a = self.answer("/write", path=path)
        self.assertTrue(a["ok"], a)
        self.assertTrue(os.path.exists(path))

    def test_tmp_is_writable(self):
        a = self.answer("/tmp")
        self.assertTrue(a["ok"], a)
        self.assertEqual(a["count"], 7)

    def test_fork_fails_and_gateway_serves(self):
        a = self.answer("/fork", n="50")
        self.assertEqual((a["count"], a["errno"]), (0, "EPERM"))
        a = self.answer("/spawn")
        self.assertFalse(a["ok"])
        self.assertEqual(a["errno"], "EPERM")
        self.assertStillServing()

    def test_listening_socket_is_refused(self):
        a = self.answer("/listen")
        self.assertFalse(a["ok"])
        self.assertEqual(a["count"], 0)  # not even socket()
        self.assertEqual(a["errno"], "EPERM")
        self.assertStillServing()

    def test_gateway_cannot_be_signalled(self):
        a = self.answer("/signal")
        self.assertFalse(a["ok"])
        self.assertEqual(a["errno"], "EPERM")

    def test_other_processes_are_invisible(self):
        if os.geteuid() != 0:
            self.skipTest("SKIPPED: not root, so no pid namespace (the sandbox report says so)")
        a = self.answer("/processes")
        procs = a["processes"]
        # the namespace's init, this worker (by its pid in the namespace),
        # and nothing but the loop's spares and workers (one just forked
        # still has the fork server's name): not the gateway, not this
        # test, not the machine's init
        self.assertEqual(procs.get("1"), "kumo-pid1", procs)
        self.assertEqual(procs.get(str(a["self"])), "kumo:hostile", procs)
        for comm in procs.values():
            self.assertIn(comm, ("kumo-pid1", "kumo-spare", "kumo-forkserver", "kumo:hostile"), procs)
        self.assertStillServing()

    def test_memory_limit_cannot_be_lifted(self):
        a = self.answer("/cgroup")
        self.assertFalse(a["ok"])
        self.assertIn(a["errno"], ("EROFS", "EACCES", "EPERM", "ENOENT"))

    def test_ptrace_kills_the_worker(self):
        body = self.assertProblem(self.call("/ptrace"), 502)
        self.assertIn("signal 31", body["detail"])
        self.assertStillServing()

    def test_mount_kills_the_worker(self):
        body = self.assertProblem(self.call("/mount"), 502)
        self.assertIn("signal 31", body["detail"])
        self.assertStillServing()

    def test_memory_hog_is_killed(self):
        if own_memory_cgroup() is None:
            self.skipTest("SKIPPED: no writable memory cgroup here; under ASan the memory limit needs one")
        body = self.assertProblem(self.call("/memory", mib="1024"), 502)
        self.assertTrue("signal 9" in body["detail"] or "out of memory" in body["detail"], body["detail"])
        self.assertStillServing()
        # Within the limit (64 MiB) is fine.
        a = self.answer("/memory", mib="16")
        self.assertEqual(a["count"], 16)

    def test_cpu_spin_times_out(self):
        t0 = time.time()
        body = self.assertProblem(self.call("/spin", s="30"), 504)
        self.assertLess(time.time() - t0, 10)
        self.assertIn("signal 9", body["detail"])
        self.assertStillServing()


class NoSandboxTest(unittest.TestCase):
    """`sandbox: false` lets the same handlers through: proof that the
    layers are what stopped them above."""

    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project("hostile", PROJECTS)
        path = os.path.join(cls.project_dir, "kumo.yaml")
        text = open(path).read().replace("defaults:\n", "defaults:\n  sandbox: false\n", 1)
        with open(path, "w") as f:
            f.write(text)
        cls.gw = Gateway(cls.project_dir, threads=1)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo up exited with %d" % rc)

    def answer(self, route, **params):
        r = requests.get(self.gw.base + route, params=params, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def test_shadow_is_readable_without_the_sandbox(self):
        if os.geteuid() != 0 or not os.access("/etc/shadow", os.R_OK):
            self.skipTest("SKIPPED: the tests do not run as root, so /etc/shadow is unreadable anyway")
        a = self.answer("/shadow")
        self.assertTrue(a["ok"], a)  # only the byte count, never the content
        self.assertGreater(a["count"], 0)

    def test_fork_works_without_the_sandbox(self):
        a = self.answer("/fork", n="2")
        self.assertEqual((a["count"], a["errno"]), (2, "0"))

    def test_report_says_off(self):
        requests.get(self.gw.base + "/ok", timeout=30)
        msgs = [l.get("msg", "") for l in self.gw.log_lines()]
        self.assertIn("sandbox: off", msgs)


class CgroupCleanupTest(unittest.TestCase):
    """Every worker's memory cgroup is gone once `kumo up` has stopped."""

    def test_no_cgroup_is_left_behind(self):
        base = own_memory_cgroup()
        if base is None:
            self.skipTest("SKIPPED: no writable memory cgroup here")
        project_dir = copy_project("hostile", PROJECTS)
        gw = Gateway(project_dir, threads=2)
        try:
            for _ in range(3):
                requests.get(gw.base + "/ok", timeout=30)
            requests.get(gw.base + "/ptrace", timeout=30)  # a worker that died
            requests.get(gw.base + "/ok", timeout=30)
            pids = {l["worker_pid"] for l in gw.log_lines() if "worker_pid" in l}
            self.assertTrue(pids)
            live = [p for p in worker_cgroups(base) if int(p.rsplit("-", 1)[1]) in pids]
            self.assertTrue(live, "the workers made no cgroup")
        finally:
            rc = gw.stop()
            shutil.rmtree(os.path.dirname(project_dir), ignore_errors=True)
        self.assertEqual(rc, 0)
        left = [p for p in worker_cgroups(base) if int(p.rsplit("-", 1)[1]) in pids]
        self.assertEqual(left, [])


def pid_alive(pid):
    return os.path.exists("/proc/%d" % pid)


def stale_cgroups(base):
    """kumo-worker-PID directories whose process is gone."""
    return [p for p in worker_cgroups(base) if not pid_alive(int(p.rsplit("-", 1)[1]))]


def descends_from(pid, ancestor):
    """Whether ancestor is pid or one of its ancestors (False once gone)."""
    for _ in range(64):
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def children(pid):
    """(pid, state, comm) of every child of pid."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for k in kids:
            try:
                with open("/proc/%d/stat" % k) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            out.append((k, stat[stat.rindex(")") + 2], comm))
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c[0])
    return out


class CgroupReloadTest(unittest.TestCase):
    """Reloads and a stop leave no memory cgroup behind: every
    kumo-worker-PID directory belongs to a live process while kumo serves,
    and none is left once it has stopped (spares' included)."""

    RELOADS = 12

    def test_reloads_and_stop_leave_no_cgroup(self):
        base = own_memory_cgroup()
        if base is None:
            self.skipTest("SKIPPED: no writable memory cgroup (v1, or v2 with the memory controller delegated) "
                          "here, so workers make none to leave behind")
        before = set(worker_cgroups(base))
        project_dir = copy_project("hostile", PROJECTS)
        gw = Gateway(project_dir, threads=2)
        try:
            self.assertEqual(requests.get(gw.base + "/ok", timeout=30).status_code, 200)
            made = set(worker_cgroups(base)) - before
            self.assertTrue(made, "the workers and spares made no cgroup")
            for i in range(self.RELOADS):
                deadline = time.time() + 60
                while True:  # a reload may be refused while one runs or as too frequent: retry
                    p = subprocess.run([KUMO, "reload", "--admin-port", str(gw.admin_port)], capture_output=True,
                                       text=True, timeout=120)
                    if p.returncode == 0 or time.time() > deadline:
                        break
                    time.sleep(0.5)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertEqual(requests.get(gw.base + "/ok", timeout=30).status_code, 200)
            # old generations drain in about a second; their cgroups go with them
            left = wait_for(lambda: not [p for p in stale_cgroups(base) if p not in before], 20)
            self.assertTrue(left, "cgroups of processes that are gone, after %d reloads: %s"
                            % (self.RELOADS, [p for p in stale_cgroups(base) if p not in before]))
            live = [p for p in set(worker_cgroups(base)) - before
                    if descends_from(int(p.rsplit("-", 1)[1]), gw.proc.pid)]
            # a loop's spare and its worker, per loop, and no more
            self.assertLessEqual(len(live), 8, live)
        finally:
            rc = gw.stop()
            shutil.rmtree(os.path.dirname(project_dir), ignore_errors=True)
        # ctest runs other gateways beside this one, whose workers make and
        # remove cgroups meanwhile: what counts is a cgroup whose process is
        # gone and that stays (theirs are removed as their processes end).
        left = lambda: {p for p in stale_cgroups(base) if p not in before}
        wait_for(lambda: not left(), 5)
        self.assertEqual(left(), set(), "cgroups left after kumo up stopped")
        self.assertEqual(rc, 0)


class ForkServerDeathTest(GatewayTest):
    """A fork server killed with SIGKILL is reaped and started again: requests
    still succeed, new workers are in the new fork server's pid namespace,
    and no zombie is left among the gateway's descendants."""
    project = "hostile"
    project_root = PROJECTS
    threads = 1

    def fork_servers(self):
        return [p for p, _, comm in children(self.gw.proc.pid) if comm == "kumo-forkserver"]

    def test_fork_server_is_restarted_and_reaped(self):
        self.assertEqual(requests.get(self.url("/ok"), timeout=30).status_code, 200)
        first = self.fork_servers()
        self.assertEqual(len(first), 1, children(self.gw.proc.pid))
        os.kill(first[0], signal.SIGKILL)
        # every request is answered, on a worker of the old fork server (if
        # the loop has not seen the death yet: 502), or a new one
        ok = 0
        deadline = time.time() + 20
        while ok < 5 and time.time() < deadline:
            r = requests.get(self.url("/ok"), timeout=30)
            ok = ok + 1 if r.status_code == 200 else 0
        self.assertEqual(ok, 5, "requests kept failing after the fork server died")
        second = wait_for(lambda: [p for p in self.fork_servers() if p != first[0]], 15)
        self.assertTrue(second, "no new fork server: %s" % children(self.gw.proc.pid))
        msgs = [l.get("msg", "") for l in self.gw.log_lines()]
        self.assertTrue([m for m in msgs if "the fork server (pid %d) died (killed by signal 9" % first[0] in m], msgs)
        self.assertIn("the fork server was started again (pid %d)" % second[0], msgs)
        if os.geteuid() == 0:
            # a worker started now is the new fork server's, in its namespace
            self.assertEqual(requests.get(self.url("/ok"), timeout=30).status_code, 200)
            workers = wait_for(lambda: [p for p, _, comm in children(second[0]) if comm.startswith("kumo:")], 10)
            self.assertTrue(workers, children(second[0]))
            ns = os.readlink("/proc/%d/ns/pid_for_children" % second[0])
            self.assertNotEqual(ns, os.readlink("/proc/%d/ns/pid" % self.gw.proc.pid))
            for w in workers:
                self.assertEqual(os.readlink("/proc/%d/ns/pid" % w), ns)
        # no zombie: neither the old fork server nor what it left (its pid
        # namespace's init, spares, workers), once they had a moment to die
        zombies = lambda: [c for c in descendants(self.gw.proc.pid) if c[1] == "Z"]
        self.assertTrue(wait_for(lambda: not zombies(), 10), zombies())
        self.assertNotIn(first[0], [p for p, _, _ in descendants(self.gw.proc.pid)])


def frame(ftype, fid, fields):
    payload = b"".join(struct.pack("<HI", tag, len(v)) + v for tag, v in fields)
    return b"KF" + struct.pack("<BBII", 1, ftype, len(payload), fid) + payload


def read_frame(sock):
    head = b""
    while len(head) < 12:
        chunk = sock.recv(12 - len(head))
        if not chunk:
            return None
        head += chunk
    _, _, ftype, length, _ = struct.unpack("<2sBBII", head)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return ftype, body


class WorkerBackstopTest(unittest.TestCase):
    """kumo-worker on its own, without a gateway to kill it at the deadline:
    the CPU backstop (RLIMIT_CPU + SIGXCPU) ends a handler that spins."""

    @classmethod
    def setUpClass(cls):
        # Build the unit through a short-lived gateway, then use its .so.
        cls.project_dir = copy_project("hostile", PROJECTS)
        gw = Gateway(cls.project_dir, threads=1)
        gw.stop()
        sos = glob.glob(os.path.join(cls.project_dir, ".kumo", "build", "**", "*.so"), recursive=True)
        cls.so = sos[0] if sos else None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def start(self, *args):
        if self.so is None:
            self.fail("the hostile unit was not built")
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=0"
        # The worker's socket is fd 3: let bash put it there, then exec
        # (dash takes one-digit descriptors only, and this process may hold
        # ten or more open files by now).
        proc = subprocess.Popen(["bash", "-c", 'exec "$@" 3<&%d %d<&-' % (child.fileno(), child.fileno()), "sh",
                                 WORKER, self.so, "hostile", *args], pass_fds=(child.fileno(),),
                                stderr=subprocess.PIPE, env=env)
        child.close()
        self.addCleanup(parent.close)
        self.addCleanup(proc.stderr.close)
        hello = read_frame(parent)
        self.assertIsNotNone(hello, proc.stderr.read().decode(errors="replace") if proc.poll() is not None else "")
        self.assertEqual(hello[0], 3)
        return proc, parent

    def invoke(self, sock, symbol, query=b""):
        sock.sendall(frame(1, 1, [(1, b"GET"), (2, b"/" + symbol), (3, query), (4, symbol), (5, symbol)]))

    def test_spinning_handler_dies_by_sigxcpu(self):
        proc, sock = self.start("--sandbox", "seccomp,limits,no_new_privs", "--timeout-ms", "1000")
        try:
            self.invoke(sock, b"ok")
            f = read_frame(sock)
            self.assertEqual(f[0], 2)
            self.invoke(sock, b"spin", b"s=30")
            # CPU time, not wall time: the handler asked for 30 s of spinning
            # and the backstop (timeout rounded up, plus 1 s) ends it early,
            # however loaded the machine is
            deadline = time.time() + 120
            while time.time() < deadline:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.05)
            else:
                self.fail("the spinning worker was not stopped")
            proc.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read().decode(errors="replace")
        self.assertEqual(proc.returncode, -signal.SIGXCPU, err)
        self.assertLess(usage.ru_utime + usage.ru_stime, 10)
        line = [json.loads(l) for l in err.splitlines() if "CPU limit reached" in l]
        self.assertEqual(len(line), 1, err)
        self.assertEqual(list(line[0])[:3], ["time", "level", "msg"])
        self.assertEqual(line[0]["level"], "error")

    def test_worker_rejects_nothing_it_needs(self):
        """A plain invocation under every layer answers normally."""
        proc, sock = self.start("--sandbox", "seccomp,namespaces,limits,no_new_privs", "--memory", str(64 << 20),
                                "--timeout-ms", "3000", "--project", self.project_dir,
                                "--data", os.path.join(self.project_dir, ".kumo", "data"))
        try:
            self.invoke(sock, b"ok")
            f = read_frame(sock)
            self.assertEqual(f[0], 2)
            self.assertIn(b"fine", f[1])
        finally:
            sock.close()
            proc.wait(timeout=10)
        self.assertEqual(proc.returncode, 0, proc.stderr.read().decode(errors="replace"))


if __name__ == "__main__":
    unittest.main()
