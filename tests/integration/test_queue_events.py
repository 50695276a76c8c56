"""Queue events under `kumo up` (issue 13, second slice): every message
sent to a queue reaches the event's handler as a CloudEvents 1.0
binary-mode request (ce-type dev.kumo.queue.message, ce-id the message id,
kumo-receive-count); a handler that fails on a message sees it again after
the backoff, then the message moves to the queue's dead-letter queue
(NAME-dead) with a warn line, while the other messages keep flowing; a
SIGTERM with messages in flight loses none: after a restart every message
has been delivered at least once.

The handlers (projects/queues) record what they received in a kv store,
read back with GET /seen; the tests wait (bounded) for records to arrive
and check what was recorded, never how fast."""
import json
import os
import shutil
import sqlite3
import subprocess
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def post(gw, path):
    req = urllib.request.Request(gw.base + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def seen(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return json.loads(r.read())


def queue_rows(project_dir, queue):
    db = sqlite3.connect(os.path.join(project_dir, ".kumo", "data", "queue.db"), timeout=10)
    try:
        return db.execute("SELECT id, body, receives FROM kumo_queue WHERE queue = ?", (queue,)).fetchall()
    finally:
        db.close()


def stop_clean(test, gw):
    rc = gw.stop()
    err = gw.stderr()
    test.assertEqual(rc, 0, err[-3000:])
    test.assertNotIn("ERROR: AddressSanitizer", err)
    test.assertNotIn("runtime error:", err)
    return err


class DeliveryTest(unittest.TestCase):
    """N messages, each delivered once with the CloudEvents headers; a
    marked one retried with backoff and dead-lettered, the others not held
    up by it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("queues", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_all_delivered_with_headers(self):
        ids = post(self.gw, "/send?prefix=ok&n=20")
        self.assertEqual(len(ids), 20)
        want = {"ok-%d" % i: ids[i] for i in range(20)}
        recs = wait_for(lambda: [r for r in seen(self.gw) if r["body"].startswith("ok-")]
                        if len([r for r in seen(self.gw) if r["body"].startswith("ok-")]) >= 20 else None,
                        timeout=60)
        self.assertTrue(recs, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(r["body"] for r in recs), sorted(want))  # each once
        for r in recs:
            h = r["headers"]
            self.assertEqual(h["ce-specversion"], "1.0")
            self.assertEqual(h["ce-type"], "dev.kumo.queue.message")
            self.assertEqual(h["ce-source"], "/kumo/queues/queues/jobs")
            self.assertEqual(h["ce-subject"], "work")
            self.assertEqual(h["ce-id"], want[r["body"]])
            self.assertEqual(h["kumo-receive-count"], "1")
            self.assertEqual(r["method"], "POST")
            self.assertEqual(r["path"], "/work")
        # acked: nothing of them is left in the queue
        self.assertTrue(wait_for(lambda: not [x for x in queue_rows(self.dir, "jobs") if x[1].startswith(b"ok-")]))
        lines = [l for l in self.gw.log_lines() if l.get("msg") == "event" and l.get("message_id") in ids]
        self.assertEqual(len(lines), 20)
        for l in lines:
            self.assertEqual(l["event"], "work")
            self.assertEqual(l["status"], 204)
            self.assertEqual(l["receive_count"], 1)
            self.assertGreater(l["duration_us"], 0)

    def test_failure_retried_then_dead_lettered(self):
        [bad] = post(self.gw, "/send?prefix=fail&n=1")
        good = post(self.gw, "/send?prefix=after&n=5")
        # max_receives: 3 -> three attempts, then NAME-dead
        def attempts():
            a = sorted((r for r in seen(self.gw) if r["body"] == "fail-0"),
                       key=lambda r: int(r["headers"]["kumo-receive-count"]))
            return a if len(a) >= 3 else None
        a = wait_for(attempts, timeout=60)
        self.assertTrue(a, self.gw.stderr()[-3000:])
        self.assertEqual([r["headers"]["kumo-receive-count"] for r in a], ["1", "2", "3"])
        self.assertEqual({r["headers"]["ce-id"] for r in a}, {bad})
        # backoff: 100ms, then doubled (a retry is never early)
        self.assertGreaterEqual(a[1]["entry_ms"] - a[0]["entry_ms"], 100)
        self.assertGreaterEqual(a[2]["entry_ms"] - a[1]["entry_ms"], 200)
        # the others flowed
        self.assertTrue(wait_for(lambda: len([r for r in seen(self.gw) if r["body"].startswith("after-")]) == 5,
                                 timeout=60))
        # in the dead-letter queue, out of the queue
        dead = wait_for(lambda: [x for x in queue_rows(self.dir, "jobs-dead") if x[1] == b"fail-0"], timeout=30)
        self.assertTrue(dead, queue_rows(self.dir, "jobs"))
        self.assertEqual(str(dead[0][0]), bad)
        self.assertFalse([x for x in queue_rows(self.dir, "jobs") if x[1] == b"fail-0"])
        warn = [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered"]
        self.assertEqual(len(warn), 1, warn)
        self.assertEqual(warn[0]["event"], "work")
        self.assertEqual(warn[0]["message_id"], bad)
        self.assertEqual(warn[0]["level"], "warn")
        self.assertIn("Marked to fail", warn[0]["reason"])
        self.assertIn("jobs-dead", warn[0]["reason"])
        fails = [l for l in self.gw.log_lines() if l.get("msg") == "event" and l.get("message_id") == bad]
        self.assertEqual([l["status"] for l in fails], [500, 500, 500])
        self.assertEqual([l["receive_count"] for l in fails], [1, 2, 3])
        self.assertEqual(len({g for g in good}), 5)


class ConfigTest(unittest.TestCase):
    """`kumo events` lists a queue event; kumo up refuses a queue event it
    could not run as written, at kumo.yaml:line:column."""

    def setUp(self):
        self.dir = copy_project("queues", PROJECTS)
        self.yaml = os.path.join(self.dir, "kumo.yaml")
        with open(self.yaml) as f:
            self.text = f.read()

    def tearDown(self):
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)

    def test_events_lists_queue(self):
        r = subprocess.run([KUMO, "events", self.dir, "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [{
            "name": "work", "handler": "queues.record", "kind": "queue", "queue": "jobs", "batch": 1,
            "visibility_ms": 10000, "max_receives": 3, "backoff_ms": 100}])

    def test_lint_counts_event_handlers(self):
        # record is bound by the queue event only: no "exports ... which no
        # operation uses" warning for it
        r = subprocess.run([KUMO, "lint", self.dir], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("'record'", r.stdout + r.stderr)
        self.assertIn("0 errors, 0 warnings", r.stdout + r.stderr)

    def test_up_refuses(self):
        line = "  work: {queue: jobs, handler: queues.record, batch: 1, visibility: 10s, max_receives: 3, backoff: 100ms}"
        self.assertIn(line, self.text)
        cases = [
            (line.replace("visibility: 10s", "visibility: 2s"),
             "kumo.yaml:15:69: events.work.visibility (2 s) is shorter than the timeout of unit 'queues' (5 s)"),
            (line.replace("backoff: 100ms", "window: 6m"),
             "kumo.yaml:15:99: events.work.window must be a duration like"),
            (line.replace("queue: jobs", "queue: mail"),
             "kumo.yaml:15:17: events.work.queue: no queue 'mail' under stores: queue: (there are: jobs)"),
        ]
        for entry, want in cases:
            with self.subTest(want=want):
                with open(self.yaml, "w") as f:
                    f.write(self.text.replace(line, entry))
                r = subprocess.run([KUMO, "up", self.dir, "--port", "0", "--admin-port", "0"], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(want, r.stderr)


class StopTest(unittest.TestCase):
    """SIGTERM with messages in flight, then a restart: every message is
    delivered at least once; kumo stops cleanly."""

    def test_sigterm_then_restart(self):
        d = copy_project("queues", PROJECTS)
        try:
            gw = Gateway(d)
            ids = post(gw, "/send?prefix=slow&n=12")
            # wait until handlers are running (a slow record is written
            # after 1 s: the first answer means more were in flight)
            self.assertTrue(wait_for(lambda: [l for l in gw.log_lines() if l.get("msg") == "event"], timeout=60),
                            gw.stderr()[-3000:])
            stop_clean(self, gw)
            first = [l for l in gw.log_lines() if l.get("msg") == "event"]
            # the drain let the calls in flight finish and started no new one
            self.assertLess(len(first), 12, first)
            self.assertTrue(all(l["status"] == 204 for l in first), first)
            self.assertTrue(queue_rows(d, "jobs"))  # left for the next run
            gw = Gateway(d)
            want = {"slow-%d" % i for i in range(12)}
            got = wait_for(lambda: want <= {r["body"] for r in seen(gw)}, timeout=90)
            self.assertTrue(got, (sorted({r["body"] for r in seen(gw)}), gw.stderr()[-3000:]))
            self.assertTrue(wait_for(lambda: not queue_rows(d, "jobs"), timeout=30), queue_rows(d, "jobs"))
            self.assertEqual(queue_rows(d, "jobs-dead"), [])
            self.assertEqual(len(ids), 12)
            stop_clean(self, gw)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_sigkill_then_restart(self):
        """kumo killed (SIGKILL) with messages in flight: nothing was
        acked for them, so after a restart they come back once their
        visibility (10 s here) ran out, and every message is delivered."""
        d = copy_project("queues", PROJECTS)
        try:
            gw = Gateway(d)
            post(gw, "/send?prefix=slow&n=6")
            self.assertTrue(wait_for(lambda: [l for l in gw.log_lines() if l.get("msg") == "event"], timeout=60),
                            gw.stderr()[-3000:])
            gw.proc.kill()
            gw.proc.wait()
            # the workers lose their gateway and exit on EOF
            left = queue_rows(d, "jobs")
            self.assertTrue(left)
            gw = Gateway(d)
            want = {"slow-%d" % i for i in range(6)}
            self.assertTrue(wait_for(lambda: want <= {r["body"] for r in seen(gw)}, timeout=90),
                            (sorted({r["body"] for r in seen(gw)}), gw.stderr()[-3000:]))
            self.assertTrue(wait_for(lambda: not queue_rows(d, "jobs"), timeout=30), queue_rows(d, "jobs"))
            self.assertEqual(queue_rows(d, "jobs-dead"), [])
            stop_clean(self, gw)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_reload_with_messages_in_flight(self):
        """A reload stops the old generation's consumer (its calls in
        flight finish and are acked) and starts the new one's: every
        message is delivered, none is left, none dead-lettered."""
        d = copy_project("queues", PROJECTS)
        try:
            gw = Gateway(d)
            post(gw, "/send?prefix=slow&n=8")
            self.assertTrue(wait_for(lambda: [l for l in gw.log_lines() if l.get("msg") == "event"], timeout=60),
                            gw.stderr()[-3000:])
            with open(os.path.join(d, "kumo.yaml"), "a") as f:
                f.write("# changed: a reload of an unchanged project makes no generation\n")
            r = subprocess.run([KUMO, "reload", "--admin-port", str(gw.admin_port)], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            post(gw, "/send?prefix=after&n=4")
            want = {"slow-%d" % i for i in range(8)} | {"after-%d" % i for i in range(4)}
            self.assertTrue(wait_for(lambda: want <= {r["body"] for r in seen(gw)}, timeout=90),
                            gw.stderr()[-3000:])
            self.assertTrue(wait_for(lambda: not queue_rows(d, "jobs"), timeout=30), queue_rows(d, "jobs"))
            self.assertEqual(queue_rows(d, "jobs-dead"), [])
            self.assertTrue([l for l in gw.log_lines() if "queue consumer" in l.get("msg", "")
                             and "restarted" in l.get("msg", "")])
            stop_clean(self, gw)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
