"""The log store and `kumo logs` (docs/logs.md), seen from outside.

`kumo up` runs projects/logs, whose handlers call kumo_log and answer
problems; the test makes requests (one with a W3C traceparent), stops kumo,
then asks `kumo logs` about them: a request id shows the access line and
the handler's line (in the traceparent's trace), a trace id finds both, and
--level, --operation, --since, --trace and --json filter and print. The
handler's problem documents carry `instance` and `request_id`. The store
also holds the compiler's message (as text) and the gateway's own lines,
while stderr still gets every line. A restart keeps the old lines;
`kumo logs --follow` shows a new request while kumo runs; a reload that
changes observability.logs says the store keeps its settings; a 1 MiB
`observability.logs.max_size` keeps the file under it, newest lines kept;
`max_size: 0` keeps no store. Bad options and a directory without a store
get clear errors.
"""
import json
import os
import shutil
import subprocess
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TRACE_ID, SPAN_ID)


def kumo_logs(*args, check=True):
    r = subprocess.run([KUMO, "logs", *args], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("kumo logs %s exited %d:\n%s" % (" ".join(args), r.returncode, r.stderr))
    return r


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def stop(gw):
    rc = gw.stop()
    err = gw.stderr()
    gw.out.close()
    gw.err.close()
    if rc != 0:
        raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
    if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
    return err


def with_logs_size(project_dir, size):
    with open(os.path.join(project_dir, "kumo.yaml"), "a") as f:
        f.write("observability:\n  logs:\n    max_size: %s\n" % size)


class LogStoreTest(unittest.TestCase):
    """The methods run in name order on one project copy: a first run, a
    restart, then a run watched by --follow."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("logs", PROJECTS)
        cls.db = os.path.join(cls.dir, ".kumo", "data", "logs.db")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_1_a_request_and_its_lines(self):
        gw = Gateway(self.dir, threads=1)
        try:
            r = requests.get(gw.base + "/notes/abc", headers={"traceparent": TRACEPARENT}, timeout=30)
            self.assertEqual(r.status_code, 404)
            rid = r.headers["X-Request-Id"]
            # The handler's problem carries what kumo's own problems do.
            problem = r.json()
            self.assertEqual(problem["instance"], "/notes/abc")
            self.assertEqual(problem["request_id"], rid)
            self.assertEqual(problem["detail"], "no such note")
            r = requests.delete(gw.base + "/notes/xyz", timeout=30)
            self.assertEqual(r.status_code, 500)
            self.assertEqual(r.json()["request_id"], r.headers["X-Request-Id"])
            failed = r.headers["X-Request-Id"]
            r = requests.get(gw.base + "/notes/known", timeout=30)
            self.assertEqual(r.status_code, 200)
            plain = r.headers["X-Request-Id"]
        finally:
            err = stop(gw)
        type(self).rid, type(self).failed, type(self).plain = rid, failed, plain
        # stderr still gets every line, as before the store.
        self.assertIn('"msg":"looking up note abc"', err)
        self.assertIn('"msg":"request","request_id":"%s"' % rid, err)
        self.assertIn("notes.c: compiled for the log store's test", err)
        self.assertTrue(os.path.exists(self.db))

        # A request id: its access line and its handler's line, nothing else.
        lines = json_lines(kumo_logs(self.dir, "--request", rid, "--json").stdout)
        self.assertEqual(sorted(l["msg"] for l in lines), ["looking up note abc", "request"], lines)
        self.assertTrue(all(l["request_id"] == rid for l in lines))
        handler = next(l for l in lines if l["msg"] != "request")
        access = next(l for l in lines if l["msg"] == "request")
        # The caller's trace, continued: the handler's line names the
        # invocation's span (the parent of its work), the access line the
        # request's SERVER span; neither is the caller's own span.
        self.assertEqual(handler["trace_id"], TRACE_ID)
        self.assertEqual(access["trace_id"], TRACE_ID)
        for l in (handler, access):
            self.assertRegex(l["span_id"], r"^[0-9a-f]{16}$")
            self.assertNotEqual(l["span_id"], SPAN_ID)
        self.assertNotEqual(handler["span_id"], access["span_id"])
        self.assertEqual((handler["function"], handler["operation"], handler["level"]), ("notes", "getNote", "info"))
        self.assertEqual((access["status"], access["operation"], access["path"]), (404, "getNote", "/notes/abc"))
        # Without a traceparent, kumo starts a trace: both lines name it.
        lines = json_lines(kumo_logs(self.dir, "--request", plain, "--json").stdout)
        self.assertEqual(len(lines), 2, lines)
        self.assertEqual(len({l["trace_id"] for l in lines}), 1)
        self.assertNotEqual(lines[0]["trace_id"], TRACE_ID)

        # The readable form: time, level, function/operation, msg, request id, the rest.
        out = kumo_logs(self.dir, "--request", rid).stdout.splitlines()
        self.assertEqual(len(out), 2, out)
        self.assertRegex(out[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info  notes/getNote looking up note abc "
                                 r"request_id=%s trace_id=%s span_id=[0-9a-f]{16}$" % (rid, TRACE_ID))
        self.assertRegex(out[1], r"Z info  getNote request request_id=%s method=GET path=/notes/abc status=404 "
                                 r"duration_us=\d+ trace_id=%s span_id=[0-9a-f]{16} worker_pid=\d+$" % (rid, TRACE_ID))

        # The trace id finds the request's lines: the handler's and the access line.
        lines = json_lines(kumo_logs(self.dir, "--trace", TRACE_ID, "--json").stdout)
        self.assertEqual(sorted(l["msg"] for l in lines), ["looking up note abc", "request"], lines)

        # --level error: the failing handler's line and its 500 access line, no info.
        lines = json_lines(kumo_logs(self.dir, "--level", "error", "--json").stdout)
        self.assertTrue(lines)
        self.assertTrue(all(l["level"] == "error" for l in lines), lines)
        msgs = [(l["msg"], l.get("request_id")) for l in lines]
        self.assertIn(("cannot delete note xyz: the disk is read-only", failed), msgs)
        self.assertIn(("request", failed), msgs)
        lines = json_lines(kumo_logs(self.dir, "--level", "info", "--json").stdout)
        self.assertTrue(any(l["msg"] == "looking up note abc" for l in lines))

        # --operation: that operation's lines only (the access and handler lines).
        lines = json_lines(kumo_logs(self.dir, "--operation", "deleteNote", "--json").stdout)
        self.assertEqual(sorted(l["msg"] for l in lines),
                         ["cannot delete note xyz: the disk is read-only", "request"], lines)
        lines = json_lines(kumo_logs(self.dir, "--function", "notes", "--json").stdout)
        self.assertEqual(sorted(l["msg"] for l in lines),
                         ["cannot delete note xyz: the disk is read-only", "looking up note abc",
                          "looking up note known"], lines)

        # --since: a duration or an RFC 3339 time.
        self.assertGreaterEqual(len(json_lines(kumo_logs(self.dir, "--since", "1h", "--json").stdout)), 6)
        self.assertGreaterEqual(
            len(json_lines(kumo_logs(self.dir, "--since", "2000-01-01T00:00:00Z", "--json").stdout)), 6)
        r = kumo_logs(self.dir, "--since", "2999-01-01T00:00:00+02:00", "--json")
        self.assertEqual(r.stdout, "")
        r = kumo_logs(self.dir, "--since", "2999-01-01T00:00:00Z")
        self.assertEqual(r.stdout, "")
        self.assertIn("no lines match; the store holds", r.stderr)
        # --limit: the newest N.
        everything = json_lines(kumo_logs(self.dir, "--limit", "0", "--json").stdout)
        last2 = json_lines(kumo_logs(self.dir, "--limit", "2", "--json").stdout)
        self.assertEqual(last2, everything[-2:])

        # Everything kumo up's processes wrote: the compiler's message (text,
        # level info), a worker's sandbox report, the gateway's own lines.
        msgs = [l["msg"] for l in everything]
        self.assertTrue(any("notes.c: compiled for the log store's test" in m for m in msgs), msgs)
        self.assertTrue(any(m.startswith("sandbox:") and "worker_pid" in l for m, l in zip(msgs, everything)))
        self.assertEqual(msgs[-1], "stopped cleanly")
        compiler = next(l for l in kumo_logs(self.dir, "--limit", "0").stdout.splitlines()
                        if "compiled for the log store" in l)
        self.assertRegex(compiler, r"Z info  - .*notes\.c.*compiled for the log store's test")

    def test_2_restart_keeps_the_old_lines(self):
        gw = Gateway(self.dir, threads=1)
        try:
            r = requests.get(gw.base + "/notes/again", timeout=30)
            self.assertEqual(r.status_code, 404)
            again = r.headers["X-Request-Id"]
        finally:
            stop(gw)
        lines = json_lines(kumo_logs(self.dir, "--request", self.rid, "--json").stdout)
        self.assertEqual(len(lines), 2, lines)
        lines = json_lines(kumo_logs(self.dir, "--request", again, "--json").stdout)
        self.assertEqual(sorted(l["msg"] for l in lines), ["looking up note again", "request"])
        everything = json_lines(kumo_logs(self.dir, "--limit", "0", "--json").stdout)
        self.assertEqual([l["msg"] for l in everything].count("stopped cleanly"), 2)

    def test_3_follow_while_running(self):
        gw = Gateway(self.dir, threads=1)
        follow = subprocess.Popen([KUMO, "logs", self.dir, "--follow", "--json", "--operation", "getNote"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = requests.get(gw.base + "/notes/followed", timeout=30)
            rid = r.headers["X-Request-Id"]
            seen = []
            # Reads --follow's output until the new request's two lines came
            # (bounded: readline returns as lines arrive).
            deadline = time.time() + 30
            while time.time() < deadline and sum(1 for l in seen if l.get("request_id") == rid) < 2:
                line = follow.stdout.readline()
                if not line:
                    break
                seen.append(json.loads(line))
            self.assertEqual(sorted(l["msg"] for l in seen if l.get("request_id") == rid),
                             ["looking up note followed", "request"], seen)
            # A plain read while kumo runs sees them too.
            lines = json_lines(kumo_logs(self.dir, "--request", rid, "--json").stdout)
            self.assertEqual(len(lines), 2)
            # Nothing was dropped, and /metrics says so.
            metrics = requests.get(gw.admin + "/metrics", timeout=30).text
            self.assertRegex(metrics, r"(?m)^kumo_log_lines_dropped_total 0$")
        finally:
            follow.kill()
            follow.communicate()
            stop(gw)


    def test_4_a_reload_says_the_store_keeps_its_settings(self):
        gw = Gateway(self.dir, threads=1)
        try:
            with_logs_size(self.dir, "2Mi")
            r = subprocess.run([KUMO, "reload", "--admin-port", str(gw.admin_port)], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            warned = wait_for(lambda: "observability.logs changed; the log store (.kumo/data/logs.db) keeps its "
                                      "settings until kumo up restarts" in gw.stderr(), timeout=30)
            self.assertTrue(warned, gw.stderr()[-3000:])
        finally:
            stop(gw)


class LogStoreCapTest(unittest.TestCase):
    def test_a_small_cap_keeps_the_file_under_it(self):
        project = copy_project("logs", PROJECTS)
        try:
            with_logs_size(project, "1Mi")
            gw = Gateway(project, threads=1)
            try:
                ids = []
                for _ in range(30):  # 30 x 100 lines of 1.5 KB: about 4.5 MB
                    r = requests.get(gw.base + "/chatter?lines=100&size=1500", timeout=60)
                    self.assertEqual(r.status_code, 200)
                    ids.append(r.headers["X-Request-Id"])
                    # One request's lines stored before the next is sent: on
                    # a busy machine the store could otherwise fall 4 MiB
                    # behind and drop lines (by design, counted), which is
                    # not what this test is about.
                    stored = wait_for(lambda: len(kumo_logs(project, "--request", ids[-1]).stdout.splitlines()) == 101,
                                      timeout=60, step=0.1)
                    self.assertTrue(stored)
                metrics = requests.get(gw.admin + "/metrics", timeout=30).text
                self.assertRegex(metrics, r"(?m)^kumo_log_lines_dropped_total 0$")
            finally:
                stop(gw)
            db = os.path.join(project, ".kumo", "data", "logs.db")
            size = os.path.getsize(db)
            print("logs.db: %d bytes under a 1 MiB cap" % size)
            self.assertLessEqual(size, 1 << 20)
            self.assertFalse(os.path.exists(db + "-wal") and os.path.getsize(db + "-wal") > 0)
            # The newest lines are kept, the oldest are gone.
            newest = json_lines(kumo_logs(project, "--request", ids[-1], "--json").stdout)
            self.assertEqual(len(newest), 101,  # 100 chatter lines and the access line
                             subprocess.run(["sqlite3", db, "SELECT request_id, count(*), min(id), max(id), "
                                             "sum(length(line)) FROM logs GROUP BY request_id ORDER BY min(id)"],
                                            capture_output=True, text=True).stdout)
            self.assertEqual(json_lines(kumo_logs(project, "--request", ids[0], "--json").stdout), [])
            self.assertEqual(
                json_lines(kumo_logs(project, "--limit", "1", "--json").stdout)[0]["msg"], "stopped cleanly")
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_max_size_0_keeps_no_store(self):
        project = copy_project("logs", PROJECTS)
        try:
            with_logs_size(project, 0)
            gw = Gateway(project, threads=1)
            try:
                requests.get(gw.base + "/notes/x", timeout=30)
            finally:
                err = stop(gw)
            self.assertIn('"msg":"looking up note x"', err)
            db = os.path.join(project, ".kumo", "data", "logs.db")
            self.assertFalse(os.path.exists(db))
            r = kumo_logs(project, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("no log store at %s" % os.path.join(project, ".kumo/data/logs.db"), r.stderr)
            self.assertIn("kumo up has not run in %s with a log store" % project, r.stderr)
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


class LogsUsageTest(unittest.TestCase):
    def test_bad_options(self):
        for args, msg in [
            (["--level", "loud"], "--level takes debug, info, warn or error"),
            (["--since", "yesterday"], "--since takes a duration (30s, 5m, 2h, 7d) or an RFC 3339 time"),
            (["--since", "5y"], "--since takes a duration"),
            (["--limit", "-1"], "--limit takes a number of records"),
            (["--request"], "--request takes a request id"),
            (["--colour"], "unknown option '--colour'"),
        ]:
            r = kumo_logs(*args, check=False)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr)
            self.assertIn("usage: kumo logs", r.stderr)

    def test_not_a_store(self):
        d = copy_project("logs", PROJECTS)
        try:
            os.makedirs(os.path.join(d, ".kumo", "data"))
            with open(os.path.join(d, ".kumo", "data", "logs.db"), "w") as f:
                f.write("not sqlite at all, just text that is long enough to be read as a header " * 4)
            r = kumo_logs(d, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn(os.path.join(d, ".kumo/data/logs.db"), r.stderr)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
