"""Reliability of queue consumers across a crash and a stop (issue 13):

- SIGKILL of `kumo up` while a batch is in flight (the handlers block until
  the test opens a gate), then a restart: every message is delivered again
  (the in-flight ones with kumo-receive-count 2 or more, once their
  visibility ran out), none is lost, none is dead-lettered.
- SIGTERM while handlers run: kumo waits for them, acks what they
  answered and exits 0; after a restart none of those messages is
  delivered again, and the rest are delivered.

Run on the embedded queue and on Redis and PostgreSQL (started here; a
missing server skips its class, loudly). Messages are counted by id in a
kv store the handler writes (projects/qdrivers); every wait is bounded."""
import json
import os
import shutil
import unittest
import urllib.request

import queue_backends
from kumo_harness import Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def post(gw, path, body=b""):
    req = urllib.request.Request(gw.base + path, data=body, method="POST",
                                 headers={"content-type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
        return json.loads(data) if data else None


def records(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return [x for x in json.loads(r.read()) if "phase" in x]


def check_clean(test, gw, rc):
    err = gw.stderr()
    test.assertEqual(rc, 0, err[-3000:])
    test.assertNotIn("ERROR: AddressSanitizer", err)
    test.assertNotIn("runtime error:", err)


class CrashCase:
    BACKEND = None

    def setUp(self):
        if self.BACKEND.missing:
            raise unittest.SkipTest("SKIPPED: " + self.BACKEND.missing)
        self.backend = self.BACKEND()
        url, self.env = self.backend.start("jobs")
        if url:
            self.env["KUMO_STORE_JOBS"] = url
        self.dir = copy_project("qdrivers", PROJECTS)
        self.gws = []

    def tearDown(self):
        for gw in self.gws:
            if gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait()
        self.backend.stop()
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)

    def up(self):
        gw = Gateway(self.dir, env=self.env)
        self.gws.append(gw)
        return gw

    def test_sigkill_with_a_batch_in_flight(self):
        gw = self.up()
        ids = [post(gw, "/send", b"block-%d" % i)["id"] for i in range(8)]
        # max 4: four calls of one message start and block on the gate
        started = wait_for(lambda: {r["headers"]["ce-id"] for r in records(gw) if r["phase"] == "start"}
                           if len([r for r in records(gw) if r["phase"] == "start"]) >= 4 else None, timeout=60)
        self.assertTrue(started, gw.stderr()[-3000:])
        self.assertFalse([r for r in records(gw) if r["phase"] == "done"])
        gw.proc.kill()
        gw.proc.wait()
        gw = self.up()
        post(gw, "/open")

        def all_done():
            return {r["headers"]["ce-id"] for r in records(gw) if r["phase"] == "done"} >= set(ids)
        self.assertTrue(wait_for(all_done, timeout=120), ([r["key"] for r in records(gw)], gw.stderr()[-2000:]))
        recs = records(gw)
        # the ones in flight at the kill were delivered again
        for mid in started:
            again = [r for r in recs if r["headers"]["ce-id"] == mid and r["phase"] == "start"
                     and int(r["headers"]["kumo-receive-count"]) >= 2]
            self.assertTrue(again, (mid, [r["key"] for r in recs]))
        self.assertEqual(self.backend.dead_count(self.dir, "jobs"), 0)
        gw.proc.send_signal(15)
        check_clean(self, gw, gw.proc.wait(60))

    def test_sigterm_drains_and_acks(self):
        gw = self.up()
        ids = [post(gw, "/send", b"slow-%d" % i)["id"] for i in range(8)]
        self.assertTrue(wait_for(lambda: [r for r in records(gw) if r["phase"] == "start"], timeout=60),
                        gw.stderr()[-3000:])
        rc = gw.stop(timeout=60)
        check_clean(self, gw, rc)
        first = [l for l in gw.log_lines() if l.get("msg") == "event" and l.get("message_id") in ids]
        self.assertTrue(first)
        # the drain let every call in flight finish
        self.assertEqual({l["status"] for l in first}, {204}, first)
        handled = {l["message_id"] for l in first}
        gw = self.up()
        self.assertTrue(wait_for(lambda: {r["headers"]["ce-id"] for r in records(gw) if r["phase"] == "done"}
                                 >= set(ids), timeout=120), gw.stderr()[-3000:])
        recs = records(gw)
        # what the first run handled was acked: never delivered again
        for mid in handled:
            self.assertEqual([r["headers"]["kumo-receive-count"] for r in recs
                              if r["headers"]["ce-id"] == mid and r["phase"] == "start"], ["1"], mid)
        second = [l for l in gw.log_lines() if l.get("msg") == "event"]
        self.assertFalse([l for l in second if l.get("message_id") in handled], second)
        self.assertLessEqual({l.get("message_id") for l in second}, set(ids) - handled)
        self.assertEqual(self.backend.dead_count(self.dir, "jobs"), 0)
        check_clean(self, gw, gw.stop(timeout=60))


class SqliteCrashTest(CrashCase, unittest.TestCase):
    BACKEND = queue_backends.Sqlite


class RedisCrashTest(CrashCase, unittest.TestCase):
    BACKEND = queue_backends.Redis


class PostgresCrashTest(CrashCase, unittest.TestCase):
    BACKEND = queue_backends.Postgres


if __name__ == "__main__":
    unittest.main()
