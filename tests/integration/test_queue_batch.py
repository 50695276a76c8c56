"""Batched queue events under `kumo up` (issue 13, queue core): batch > 1
delivers one call in CloudEvents batch mode (a JSON array of structured
events, kumo-batch-size); the handler's answer settles each message (2xx
acks all but those it names in batchItemFailures, via kumo_event_fail;
an unknown identifier, a crash or a non-2xx status fails the whole call);
window: fills a batch from messages sent apart; a consumer keeps up to
the unit's max calls in flight.

The handlers (projects/qbatch) record every call in a kv store, read back
with GET /seen; the tests wait (bounded) for what they expect and check
which messages were acked, retried and dead-lettered, never how fast."""
import json
import os
import shutil
import sqlite3
import subprocess
import time
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def send(gw, queue, bodies, gap_ms=0):
    url = gw.base + "/send?queue=%s%s" % (queue, "&gap_ms=%d" % gap_ms if gap_ms else "")
    req = urllib.request.Request(url, data=json.dumps(bodies).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def get(gw, path):
    with urllib.request.urlopen(gw.base + path, timeout=30) as r:
        return json.loads(r.read())


def queue_rows(project_dir, queue):
    db = sqlite3.connect(os.path.join(project_dir, ".kumo", "data", "queue.db"), timeout=10)
    try:
        return db.execute("SELECT id, body, receives FROM kumo_queue WHERE queue = ?", (queue,)).fetchall()
    except sqlite3.OperationalError:  # no table yet
        return []
    finally:
        db.close()


def deliveries(gw, ids):
    """{message id: [(receive count, request id), ...]} over every recorded call."""
    out = {i: [] for i in ids}
    for call in get(gw, "/seen"):
        for ev in call["events"]:
            if ev["id"] in out:
                out[ev["id"]].append((ev["receives"], call["request_id"]))
    return out


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("qbatch", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def calls_with(self, ids):
        return [c for c in get(self.gw, "/seen") if {e["id"] for e in c["events"]} & set(ids)]

    def event_lines(self, request_ids):
        return [l for l in self.gw.log_lines() if l.get("msg") == "event" and l.get("request_id") in request_ids]

    def test_window_makes_one_batch_call(self):
        """Five messages sent 100 ms apart make one call of five (window:
        1m, batch: 5), in batch mode, each event's data as it was sent."""
        bodies = ['{"n": 1}', '[1, 2]', 'plain text', 'hex:00ff41', '"a json string"']
        ids = send(self.gw, "gathered", bodies, gap_ms=100)
        calls = wait_for(lambda: self.calls_with(ids), timeout=60)
        self.assertTrue(calls, self.gw.stderr()[-3000:])
        self.assertEqual(len(calls), 1, calls)
        call = calls[0]
        self.assertEqual(call["content_type"], "application/cloudevents-batch+json")
        self.assertEqual(call["batch_size"], "5")
        self.assertRegex(call["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertEqual([e["id"] for e in call["events"]], ids)
        self.assertEqual([e["data"] for e in call["events"]],
                         [{"text": '{"n":1}'}, {"text": "[1,2]"}, {"text": "plain text"}, {"hex": "00ff41"},
                          {"text": '"a json string"'}])
        for e in call["events"]:
            self.assertEqual(e["type"], "dev.kumo.queue.message")
            self.assertEqual(e["source"], "/kumo/qbatch/queues/gathered")
            self.assertEqual(e["subject"], "gather")
            self.assertEqual(e["content_type"], "application/octet-stream")
            self.assertEqual(e["receives"], 1)
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # acked, all of them: the queue holds none, and the call's line says so
        self.assertTrue(wait_for(lambda: not queue_rows(self.dir, "gathered"), timeout=30),
                        queue_rows(self.dir, "gathered"))
        [line] = wait_for(lambda: self.event_lines({call["request_id"]}), timeout=30)
        self.assertEqual((line["event"], line["status"], line["batch_size"], line["failed"]), ("gather", 200, 5, 0))
        self.assertNotIn("message_id", line)

    def test_partial_failure(self):
        """kumo_event_fail names two of five: only those come back (and
        are dead-lettered after max_receives: 2); the three others are
        acked after their first delivery, whatever calls they came in."""
        bodies = ["ok-1", "fail-2", "ok-3", "fail-4", "ok-5"]
        ids = send(self.gw, "orders", bodies)
        by_body = dict(zip(bodies, ids))
        failed = {by_body["fail-2"], by_body["fail-4"]}
        dead = wait_for(lambda: (lambda rows: rows if len(rows) == 2 else None)(
            [r for r in queue_rows(self.dir, "orders-dead") if str(r[0]) in failed]), timeout=60)
        self.assertTrue(dead, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(r[1] for r in dead), [b"fail-2", b"fail-4"])
        self.assertTrue(wait_for(lambda: not [r for r in queue_rows(self.dir, "orders") if str(r[0]) in ids],
                                 timeout=30), queue_rows(self.dir, "orders"))
        seen = deliveries(self.gw, ids)
        for body, i in by_body.items():
            counts = sorted(c for c, _ in seen[i])
            self.assertEqual(counts, [1, 2] if i in failed else [1], (body, seen))
        # every call was batch mode, and its line counts the failures it reported
        calls = self.calls_with(ids)
        self.assertTrue(all(c["content_type"] == "application/cloudevents-batch+json" for c in calls))
        lines = self.event_lines({c["request_id"] for c in calls})
        self.assertEqual(len(lines), len(calls))
        self.assertEqual(sum(l["batch_size"] for l in lines), 7)  # 5 first receives, 2 second ones
        self.assertEqual(sum(l["failed"] for l in lines), 4)
        self.assertTrue(all(l["status"] == 200 for l in lines), lines)
        warns = [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered" and l["message_id"] in failed]
        self.assertEqual(len(warns), 2, warns)
        for w in warns:
            self.assertIn("batchItemFailures", w["reason"])
            self.assertIn("orders-dead", w["reason"])

    def whole_call_fails(self, first, status, reason):
        """`first` and four ok messages make one call (window); it fails
        as a whole twice, so all five are dead-lettered."""
        bodies = [first, "ok-a", "ok-b", "ok-c", "ok-d"]
        ids = send(self.gw, "gathered", bodies)
        dead = wait_for(lambda: (lambda rows: rows if len(rows) == 5 else None)(
            [r for r in queue_rows(self.dir, "gathered-dead") if str(r[0]) in ids]), timeout=60)
        self.assertTrue(dead, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(r[1] for r in dead), sorted(b.encode() for b in bodies))
        calls = self.calls_with(ids)
        self.assertEqual(len(calls), 2, calls)
        for n, call in enumerate(sorted(calls, key=lambda c: c["events"][0]["receives"]), 1):
            self.assertEqual(sorted(e["id"] for e in call["events"]), sorted(ids))
            self.assertEqual({e["receives"] for e in call["events"]}, {n})
        lines = self.event_lines({c["request_id"] for c in calls})
        self.assertEqual([(l["status"], l["batch_size"], l["failed"]) for l in lines], [(status, 5, 5)] * 2)
        warns = [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered" and l["message_id"] in ids]
        self.assertEqual(len(warns), 5)
        self.assertTrue(all(reason in w["reason"] for w in warns), warns)

    def test_unknown_identifier_fails_the_call(self):
        self.whole_call_fails("unknown-1", 200, "not a message of this call")
        self.assertTrue([l for l in self.gw.log_lines() if "no-such-id" in l.get("msg", "")])

    def test_crash_fails_the_call(self):
        self.whole_call_fails("crash-1", 502, "failed on receive 2")

    def test_error_status_fails_the_call(self):
        self.whole_call_fails("status500-1", 500, "Marked to fail")

    def test_data_schema(self):
        """data: '#/components/schemas/Note': the messages that match reach
        the handler; one that does not (or is not JSON) never does, and is
        dead-lettered with the violations in the warn line."""
        bodies = ['{"title": "ok"}', '{"title": "far too long a title"}', 'not json', '{"title": "fine"}']
        ids = send(self.gw, "notes", bodies)
        good, long_title, not_json, fine = ids
        dead = wait_for(lambda: (lambda rows: rows if len(rows) == 2 else None)(
            [r for r in queue_rows(self.dir, "notes-dead") if str(r[0]) in ids]), timeout=60)
        self.assertTrue(dead, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(str(r[0]) for r in dead), sorted([long_title, not_json]))
        self.assertTrue(wait_for(lambda: not [r for r in queue_rows(self.dir, "notes") if str(r[0]) in ids],
                                 timeout=30), queue_rows(self.dir, "notes"))
        seen = deliveries(self.gw, ids)
        self.assertEqual([c for c, _ in seen[good]], [1])
        self.assertEqual([c for c, _ in seen[fine]], [1])
        self.assertEqual(seen[long_title], [])  # never handed to the handler
        self.assertEqual(seen[not_json], [])
        warns = {l["message_id"]: l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered"
                 and l.get("event") == "checked"}
        self.assertEqual(sorted(warns), sorted([long_title, not_json]))
        self.assertIn("does not match #/components/schemas/Note: /data/title:", warns[long_title]["reason"])
        self.assertIn("at most 10", warns[long_title]["reason"])
        self.assertIn("notes-dead", warns[long_title]["reason"])
        self.assertIn("not JSON", warns[not_json]["reason"])
        self.assertEqual(warns[long_title]["receive_count"], 3)  # max_receives: put back without backoff until then


class DataConfigTest(unittest.TestCase):
    """A data: pointer to nothing is an error at kumo.yaml:line:column,
    naming the schemas there are, for kumo up and kumo lint alike."""

    def test_unknown_schema(self):
        d = copy_project("qbatch", PROJECTS)
        try:
            path = os.path.join(d, "kumo.yaml")
            with open(path) as f:
                text = f.read()
            text = text.replace("'#/components/schemas/Note'", "'#/components/schemas/Nope'")
            with open(path, "w") as f:
                f.write(text)
            lines = text.splitlines()
            [line] = [i + 1 for i, l in enumerate(lines) if "schemas/Nope" in l]
            col = lines[line - 1].index("'#/") + 1
            want = ("kumo.yaml:%d:%d: events.checked.data: nothing at '#/components/schemas/Nope' in openapi.yaml; "
                    "the schemas under #/components/schemas are: Note" % (line, col))
            r = subprocess.run([KUMO, "up", d, "--port", "0", "--admin-port", "0"], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(want, r.stderr)
            r = subprocess.run([KUMO, "lint", d], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(want.replace(": events.checked", ": error: events.checked"), r.stdout + r.stderr)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class ConcurrencyTest(unittest.TestCase):
    """batch: 1 on a unit with max: 3: three messages make three calls
    that overlap (each waits, bounded, until it has seen three running),
    on three workers. With two event loops each loop's pool holds its
    share of max (2 and 1): the consumer spreads its calls over both."""

    def test_calls_overlap_up_to_max(self):
        d = copy_project("qbatch", PROJECTS)
        gw = Gateway(d)  # two loops: loop 0's pool holds 2 of max, loop 1's 1
        try:
            ids = send(gw, "spread", ["w-1", "w-2", "w-3"])
            self.assertEqual(len(ids), 3)
            done = wait_for(lambda: len([l for l in gw.log_lines() if l.get("msg") == "event"
                                         and l.get("event") == "wide"]) >= 3, timeout=90)
            self.assertTrue(done, gw.stderr()[-3000:])
            p = get(gw, "/peak")
            self.assertEqual(p["peak"], 3, p)
            self.assertEqual(p["running"], 0, p)
            lines = [l for l in gw.log_lines() if l.get("msg") == "event" and l.get("event") == "wide"]
            self.assertEqual(len({l["worker_pid"] for l in lines}), 3, lines)
            self.assertEqual(sorted(l["message_id"] for l in lines), sorted(ids))
            self.assertTrue(all(l["status"] == 204 and l["batch_size"] == 1 for l in lines), lines)
            self.assertTrue(wait_for(lambda: not queue_rows(d, "spread"), timeout=30))
        finally:
            rc = gw.stop()
            err = gw.stderr()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertNotIn("ERROR: AddressSanitizer", err)


class StopTest(unittest.TestCase):
    """SIGTERM while a call is still filling its window: kumo stops at
    once (it does not wait for the window), and the messages of the open
    call are back in the queue, undelivered, for the next run."""

    def test_sigterm_with_open_window(self):
        d = copy_project("qbatch", PROJECTS)
        gw = Gateway(d)
        try:
            ids = send(gw, "gathered", ["a", "b"])  # batch: 5, window: 1m: the call stays open
            # received (hidden) by the consumer: their receive count went up
            self.assertTrue(wait_for(lambda: [r for r in queue_rows(d, "gathered") if r[2] >= 1 and str(r[0]) in ids]
                                     if len([r for r in queue_rows(d, "gathered") if r[2] >= 1]) == 2 else None,
                                     timeout=30), gw.stderr()[-3000:])
            rc = gw.stop(timeout=20)
            err = gw.stderr()
            self.assertEqual(rc, 0, err[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", err)
            self.assertEqual(get_calls_recorded(d), 0)
            rows = queue_rows(d, "gathered")
            self.assertEqual(sorted(str(r[0]) for r in rows), sorted(ids))
            self.assertEqual(queue_rows(d, "gathered-dead"), [])
            # put back without delay: visible again at once, not after the 2 min visibility
            db = sqlite3.connect(os.path.join(d, ".kumo", "data", "queue.db"), timeout=10)
            try:
                late = db.execute("SELECT id FROM kumo_queue WHERE queue = 'gathered' AND visible_at > ?",
                                  (int(time.time() * 1000),)).fetchall()
            finally:
                db.close()
            self.assertEqual(late, [])
        finally:
            gw.stop()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


def get_calls_recorded(project_dir):
    """How many calls the handlers recorded (the kv store 'seen', read directly: kumo is stopped)."""
    path = os.path.join(project_dir, ".kumo", "data", "kv.db")
    if not os.path.exists(path):
        return 0
    db = sqlite3.connect(path, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM kumo_kv WHERE store = 'seen' AND CAST(key AS TEXT) LIKE 'call/%'"
                          ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


if __name__ == "__main__":
    unittest.main()
