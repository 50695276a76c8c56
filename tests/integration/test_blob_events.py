"""Blob storage events under `kumo up` (issue 13): a put through an HTTP
operation fires `created` (prefix and suffix filters respected: a key
that matches no event fires nothing), a delete fires `deleted`, a streamed
write fires once; each reaches its handler as a CloudEvents 1.0
binary-mode request (ce-type dev.kumo.blob.created/deleted, ce-source
/kumo/PROJECT/blobs/STORE, ce-subject the key, ce-time, the event data as
JSON). A handler that fails is retried, then the event moves to
STORE.EVENT-dead. Crash safety: an event recorded for an object that never
came (a writer killed between the record and the rename, recorded here by
hand with sqlite3) is dropped with an info line once older than the
visibility, and delivered when the object is there; kumo killed with
SIGKILL with events pending delivers them after a restart.

The handlers (projects/blobevents) record what they received in a kv
store, read back with GET /seen; the tests wait (bounded) for records and
check what was recorded, never how fast."""
import json
import os
import shutil
import sqlite3
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def call(gw, path, body=b"", content_type="text/plain"):
    req = urllib.request.Request(gw.base + path, data=body, method="POST",
                                 headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def seen(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return json.loads(r.read())


def of(gw, subject):
    return [r for r in seen(gw) if r["headers"].get("ce-subject") == subject]


def outbox(project_dir):
    return os.path.join(project_dir, ".kumo", "data", "blob", ".kumo-events.db")


def rows(project_dir, queue):
    db = sqlite3.connect(outbox(project_dir), timeout=10)
    try:
        return db.execute("SELECT id, body, receives FROM kumo_queue WHERE queue = ?", (queue,)).fetchall()
    finally:
        db.close()


def put_back(project_dir, msg_id):
    db = sqlite3.connect(outbox(project_dir), timeout=10)
    try:
        return db.execute("SELECT id FROM kumo_queue WHERE id = ? AND receives >= 1 AND receipt IS NULL",
                          (int(msg_id),)).fetchall()
    finally:
        db.close()


def record_by_hand(project_dir, queue, data):
    """What a writer killed between the record and the rename leaves."""
    db = sqlite3.connect(outbox(project_dir), timeout=10)
    try:
        now = int(time.time() * 1000)
        cur = db.execute("INSERT INTO kumo_queue (queue, body, visible_at, receives, sent_at) VALUES (?, ?, ?, 0, ?)",
                         (queue, json.dumps(data).encode(), now, now))
        db.commit()
        return str(cur.lastrowid)
    finally:
        db.close()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def stop_clean(test, gw):
    rc = gw.stop()
    err = gw.stderr()
    test.assertEqual(rc, 0, err[-3000:])
    test.assertNotIn("ERROR: AddressSanitizer", err)
    test.assertNotIn("runtime error:", err)
    return err


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("blobevents", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_created_and_deleted(self):
        self.assertEqual(call(self.gw, "/put?key=img/a.png", b"12345", "image/png"), 204)
        [r] = wait_for(lambda: of(self.gw, "img/a.png") or None, timeout=60) or [None]
        self.assertTrue(r, self.gw.stderr()[-3000:])
        h = r["headers"]
        self.assertEqual(h["ce-specversion"], "1.0")
        self.assertEqual(h["ce-type"], "dev.kumo.blob.created")
        self.assertEqual(h["ce-source"], "/kumo/blobevents/blobs/files")
        self.assertEqual(h["ce-subject"], "img/a.png")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["kumo-receive-count"], "1")
        self.assertEqual(r["path"], "/thumbs")
        data = json.loads(r["body"])
        self.assertEqual({k: data[k] for k in ("store", "key", "size", "content_type", "event")},
                         {"store": "files", "key": "img/a.png", "size": 5, "content_type": "image/png",
                          "event": "created"})
        self.assertTrue(data["etag"])
        self.assertEqual(h["ce-time"], data["time"])
        # the write's time: before the handler ran, within this test
        self.assertLess(abs(time.mktime(time.strptime(data["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.mktime(
            time.gmtime())), 120)

        self.assertEqual(call(self.gw, "/delete?key=img/a.png"), 204)
        d = wait_for(lambda: [x for x in of(self.gw, "img/a.png") if x["path"] == "/gone"] or None, timeout=60)
        self.assertTrue(d, self.gw.stderr()[-3000:])
        self.assertEqual(d[0]["headers"]["ce-type"], "dev.kumo.blob.deleted")
        self.assertEqual(json.loads(d[0]["body"]), {"store": "files", "key": "img/a.png", "event": "deleted",
                                                    "time": d[0]["headers"]["ce-time"]})
        # thumbs (created only) saw one event of it, gone (deleted only) one
        self.assertEqual(sorted(x["path"] for x in of(self.gw, "img/a.png")), ["/gone", "/thumbs"])

    def test_deleted_then_created_again(self):
        """A deleted event is delivered even when the key exists again."""
        self.assertEqual(call(self.gw, "/put?key=doc/again.txt", b"1"), 204)
        self.assertEqual(call(self.gw, "/delete?key=doc/again.txt"), 204)
        self.assertEqual(call(self.gw, "/put?key=doc/again.txt", b"2"), 204)
        d = wait_for(lambda: of(self.gw, "doc/again.txt"), timeout=60)
        self.assertTrue(d, self.gw.stderr()[-3000:])
        self.assertEqual([(x["path"], x["headers"]["ce-type"]) for x in d], [("/gone", "dev.kumo.blob.deleted")])

    def test_filters(self):
        # thumbs wants img/*.png; gone wants every delete
        for key in ("img/b.jpg", "doc/b.png", "imgb.png"):
            self.assertEqual(call(self.gw, "/put?key=" + key, b"x"), 204)
        self.assertEqual(call(self.gw, "/put?key=img/last.png", b"x"), 204)
        self.assertTrue(wait_for(lambda: of(self.gw, "img/last.png"), timeout=60), self.gw.stderr()[-3000:])
        for key in ("img/b.jpg", "doc/b.png", "imgb.png"):
            self.assertEqual(of(self.gw, key), [], key)
        # nothing was even recorded for them
        for q in ("files.thumbs", "files.gone"):
            for _, body, _ in rows(self.dir, q):
                self.assertNotIn(json.loads(body)["key"], ("img/b.jpg", "doc/b.png", "imgb.png"))
        # a delete of a missing key fires nothing
        self.assertEqual(call(self.gw, "/delete?key=img/never.png"), 404)
        self.assertEqual(call(self.gw, "/delete?key=doc/b.png"), 204)
        self.assertTrue(wait_for(lambda: of(self.gw, "doc/b.png"), timeout=60))
        self.assertEqual(of(self.gw, "img/never.png"), [])

    def test_streamed_write_fires_once(self):
        body = b"0123456789" * 10
        self.assertEqual(call(self.gw, "/put?key=img/stream.png&stream=1", body, "image/png"), 204)
        r = wait_for(lambda: of(self.gw, "img/stream.png"), timeout=60)
        self.assertTrue(r, self.gw.stderr()[-3000:])
        # a later event proves no second one is coming for the stream
        self.assertEqual(call(self.gw, "/put?key=img/after-stream.png", b"x"), 204)
        self.assertTrue(wait_for(lambda: of(self.gw, "img/after-stream.png"), timeout=60))
        r = of(self.gw, "img/stream.png")
        self.assertEqual(len(r), 1, r)
        self.assertEqual(json.loads(r[0]["body"])["size"], 100)

    def test_failure_retried_then_dead_lettered(self):
        self.assertEqual(call(self.gw, "/put?key=img/fail.png", b"x"), 204)
        a = wait_for(lambda: (lambda l: l if len(l) >= 3 else None)(of(self.gw, "img/fail.png")), timeout=60)
        self.assertTrue(a, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(x["headers"]["kumo-receive-count"] for x in a), ["1", "2", "3"])
        dead = wait_for(lambda: rows(self.dir, "files.thumbs-dead"), timeout=30)
        self.assertTrue(dead, rows(self.dir, "files.thumbs"))
        self.assertEqual(json.loads(dead[0][1])["key"], "img/fail.png")
        self.assertEqual(str(dead[0][0]), a[0]["headers"]["ce-id"])
        warn = [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered"]
        self.assertEqual(len(warn), 1, warn)
        self.assertEqual(warn[0]["event"], "thumbs")
        self.assertIn("files.thumbs-dead", warn[0]["reason"])
        self.assertEqual(len(of(self.gw, "img/fail.png")), 3)

    def test_recorded_but_never_written(self):
        """The recovery rule, with events recorded by hand: for an object
        that does not exist and older than the visibility (10 s): dropped
        with an info line; for one that exists: delivered; for one not
        there yet and young: put back, and delivered once the object
        comes."""
        old = iso(int(time.time() * 1000) - 60000)
        gone = record_by_hand(self.dir, "files.thumbs", {"store": "files", "key": "img/crashed.png", "size": 1,
                                                         "etag": "\"x\"", "content_type": "image/png",
                                                         "event": "created", "time": old})
        self.assertEqual(call(self.gw, "/put?key=img/there.png", b"x"), 204)
        there = record_by_hand(self.dir, "files.thumbs", {"store": "files", "key": "img/there.png", "size": 1,
                                                          "etag": "\"x\"", "content_type": "image/png",
                                                          "event": "created", "time": old})
        young = record_by_hand(self.dir, "files.thumbs", {"store": "files", "key": "img/late.png", "size": 1,
                                                          "etag": "\"x\"", "content_type": "image/png",
                                                          "event": "created",
                                                          "time": iso(int(time.time() * 1000))})
        drop = wait_for(lambda: [l for l in self.gw.log_lines() if "img/crashed.png" in l.get("msg", "")],
                        timeout=60)
        self.assertTrue(drop, self.gw.stderr()[-3000:])
        self.assertEqual(drop[0]["level"], "info")
        self.assertIn("event thumbs: dropped the created event of blob 'img/crashed.png' (message %s" % gone,
                      drop[0]["msg"])
        self.assertIn("the object is not there: it never came", drop[0]["msg"])
        self.assertTrue(wait_for(lambda: [x for x in of(self.gw, "img/there.png") if x["headers"]["ce-id"] == there],
                                 timeout=60))
        # the young one was received, found no object, and was put back
        # (received once, and its receipt cleared by the nack)
        self.assertTrue(wait_for(lambda: put_back(self.dir, young), timeout=60), rows(self.dir, "files.thumbs"))
        self.assertEqual(of(self.gw, "img/late.png"), [])
        self.assertEqual(call(self.gw, "/put?key=img/late.png", b"x"), 204)
        # it comes back after its visibility and finds the object
        late = wait_for(lambda: [x for x in of(self.gw, "img/late.png") if x["headers"]["ce-id"] == young],
                        timeout=60)
        self.assertTrue(late, self.gw.stderr()[-3000:])
        self.assertEqual(of(self.gw, "img/crashed.png"), [])
        self.assertTrue(wait_for(lambda: not [r for r in rows(self.dir, "files.thumbs") if str(r[0]) in (gone, young)],
                                 timeout=30))
        self.assertEqual([r for r in rows(self.dir, "files.thumbs-dead") if str(r[0]) in (gone, young, there)], [])


class KillTest(unittest.TestCase):
    def test_sigkill_then_restart(self):
        """kumo killed (SIGKILL) with events pending (slow handlers): none
        was acked, so after a restart every one is delivered."""
        d = copy_project("blobevents", PROJECTS)
        try:
            gw = Gateway(d)
            keys = ["img/slow-%d.png" % i for i in range(6)]
            for k in keys:
                self.assertEqual(call(gw, "/put?key=" + k, b"x"), 204)
            self.assertTrue(wait_for(lambda: [l for l in gw.log_lines() if l.get("msg") == "event"], timeout=60),
                            gw.stderr()[-3000:])
            gw.proc.kill()
            gw.proc.wait()
            self.assertTrue(rows(d, "files.thumbs"))  # left for the next run
            gw = Gateway(d)
            self.assertTrue(wait_for(lambda: set(keys) <= {r["headers"]["ce-subject"] for r in seen(gw)}, timeout=90),
                            gw.stderr()[-3000:])
            self.assertTrue(wait_for(lambda: not rows(d, "files.thumbs"), timeout=30), rows(d, "files.thumbs"))
            self.assertEqual(rows(d, "files.thumbs-dead"), [])
            stop_clean(self, gw)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class ReloadTest(unittest.TestCase):
    def test_reload_changes_events(self):
        """A reload that adds a blob event and drops another: the store
        stays where it is, the new generation's writes record the new
        set, and the new event fires."""
        d = copy_project("blobevents", PROJECTS)
        try:
            gw = Gateway(d)
            yaml = os.path.join(d, "kumo.yaml")
            with open(yaml) as f:
                text = f.read()
            old = "  gone: {blob: files, on: deleted, handler: blobs.record, visibility: 10s}\n"
            self.assertIn(old, text)
            with open(yaml, "w") as f:
                f.write(text.replace(old, "  audit: {blob: files, prefix: doc/, handler: blobs.record}\n"))
            r = subprocess.run([KUMO, "reload", "--admin-port", str(gw.admin_port)], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # a request already on its way may still be served by generation 1,
            # whose workers record the old set: write probes until one is audit's
            def probe():
                self.assertEqual(call(gw, "/put?key=doc/probe.txt", b"p"), 204)
                return of(gw, "doc/probe.txt")
            self.assertTrue(wait_for(probe, timeout=30), gw.stderr()[-3000:])
            self.assertEqual(call(gw, "/put?key=doc/r.txt", b"x"), 204)
            # a created event whose object is gone by delivery is dropped (the
            # recovery rule): delete only once created was delivered
            self.assertTrue(wait_for(lambda: of(gw, "doc/r.txt"), timeout=30), gw.stderr()[-3000:])
            self.assertEqual(call(gw, "/delete?key=doc/r.txt"), 204)
            got = wait_for(lambda: (lambda l: l if len(l) >= 2 else None)(of(gw, "doc/r.txt")), timeout=60)
            self.assertTrue(got, gw.stderr()[-3000:])
            self.assertEqual(sorted((x["path"], x["headers"]["ce-type"]) for x in got),
                             [("/audit", "dev.kumo.blob.created"), ("/audit", "dev.kumo.blob.deleted")])
            # gone is no more: its queue got nothing of it
            self.assertEqual([r for r in rows(d, "files.gone") if b"doc/r.txt" in r[1]], [])
            self.assertFalse([l for l in gw.log_lines() if "a reload does not move a store" in l.get("msg", "")])
            stop_clean(self, gw)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class ConfigTest(unittest.TestCase):
    """kumo up shows the store's events= in its start-up lines; refuses
    blob events on a store that is not file:, at the event's line."""

    def setUp(self):
        self.dir = copy_project("blobevents", PROJECTS)
        self.yaml = os.path.join(self.dir, "kumo.yaml")

    def tearDown(self):
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)

    def test_startup_line(self):
        gw = Gateway(self.dir)
        try:
            self.assertIn("store    blob 'files' -> file:%s/.kumo/data/blob?events=thumbs:created:img/:.png;"
                          "gone:deleted::" % self.dir, gw.stdout())
        finally:
            stop_clean(self, gw)

    def test_events_lists_blob_events(self):
        r = subprocess.run([KUMO, "events", self.dir, "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), [
            {"name": "thumbs", "handler": "blobs.record", "kind": "blob", "blob": "files", "on": ["created"],
             "prefix": "img/", "suffix": ".png", "queue": "files.thumbs", "visibility_ms": 10000, "max_receives": 3,
             "backoff_ms": 100},
            {"name": "gone", "handler": "blobs.record", "kind": "blob", "blob": "files", "on": ["deleted"],
             "prefix": None, "suffix": None, "queue": "files.gone", "visibility_ms": 10000, "max_receives": 5,
             "backoff_ms": 1000}])
        r = subprocess.run([KUMO, "events", self.dir], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('thumbs  blobs.record  blob files  on: [created]  prefix: "img/"  suffix: ".png"  '
                      'visibility: 10s  max_receives: 3  backoff: 0.1s', r.stdout)

    def test_refused_on_s3(self):
        env = dict(os.environ, KUMO_STORE_FILES="s3://bucket?endpoint=http://127.0.0.1:9&region=us-east-1")
        r = subprocess.run([KUMO, "up", self.dir, "--port", "0", "--admin-port", "0"], capture_output=True,
                           text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("kumo.yaml:16:3: events.thumbs: blob events run under kumo up on the embedded file: blob "
                      "store only, and store 'files' is at s3://bucket", r.stderr)
        self.assertIn("fix KUMO_STORE_FILES in kumo's environment", r.stderr)

    def test_own_events_param_refused(self):
        env = dict(os.environ, KUMO_STORE_FILES="file:%s/elsewhere?events=x:created::" % self.dir)
        r = subprocess.run([KUMO, "up", self.dir, "--port", "0", "--admin-port", "0"], capture_output=True,
                           text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("blob store 'files': its URL sets events=", r.stderr)


if __name__ == "__main__":
    unittest.main()
