"""The same queue event (projects/qdrivers) under `kumo up` with its queue
on every driver: the embedded SQLite queue, Redis (a redis-server started
here), PostgreSQL (a throwaway initdb cluster) and SQS (moto_server).
On each: every message sent reaches the handler once, byte for byte
(text, binary, empty), with ce-id the id send gave, ce-time (the send
time: RFC 3339 UTC with milliseconds, between the test's clock before the
send and after its answer) and a W3C traceparent, fresh for each
delivery; a message the handler fails is retried until max_receives (3)
and then lands in the dead-letter queue jobs-dead, while the others flow.

The handler records each delivery in a kv store (GET /seen); waits are
bounded and no assertion depends on how fast things happen."""
import datetime
import json
import os
import re
import shutil
import time
import unittest
import urllib.request

import queue_backends
from kumo_harness import Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
CE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

BODIES = [b"hello", "unicode \u00e9\u6771".encode(), b"\x00\x01\x02\xff\xfe binary", b"", b"x" * 5000] + \
    [("m-%d" % i).encode() for i in range(8)]


def post(gw, path, body=b""):
    req = urllib.request.Request(gw.base + path, data=body, method="POST",
                                 headers={"content-type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
        return json.loads(data) if data else None


def seen(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return json.loads(r.read())


def ms(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(round(t.timestamp() * 1000))


class DriverCase:
    """Mixed into one TestCase per driver (BACKEND: a queue_backends class)."""
    BACKEND = None

    @classmethod
    def setUpClass(cls):
        if cls.BACKEND.missing:
            raise unittest.SkipTest("SKIPPED: " + cls.BACKEND.missing)
        cls.backend = cls.BACKEND()
        url, env = cls.backend.start("jobs")
        if url and url.startswith("sqs:"):
            # on SQS the dead-lettering is the queue's own redrive policy, made
            # by whoever creates the queue first (a worker's send, or the
            # consumer): the URL gives every opener the event's max_receives
            url += "&max_receives=3"
        if url:
            env["KUMO_STORE_JOBS"] = url
        cls.dir = copy_project("qdrivers", PROJECTS)
        try:
            cls.gw = Gateway(cls.dir, env=env)
        except Exception:
            cls.backend.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        cls.backend.stop()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_delivered_as_sent(self):
        sent = {}
        for body in BODIES:
            before = int(time.time() * 1000)
            mid = post(self.gw, "/send", body)["id"]
            after = int(time.time() * 1000) + 1
            sent[mid] = (body, before, after)
        self.assertEqual(len(sent), len(BODIES))  # ids are distinct

        def done():
            recs = [r for r in seen(self.gw) if r.get("phase") == "done" and r["headers"].get("ce-id") in sent]
            return recs if len({r["headers"]["ce-id"] for r in recs}) == len(sent) else None
        recs = wait_for(done, timeout=90)
        self.assertTrue(recs, self.gw.stderr()[-3000:])
        self.assertEqual(len(recs), len(sent), [r["key"] for r in recs])  # each once
        traces = set()
        for r in recs:
            h = r["headers"]
            body, before, after = sent[h["ce-id"]]
            self.assertEqual(bytes.fromhex(r["body_hex"]), body)
            self.assertEqual(h["ce-specversion"], "1.0")
            self.assertEqual(h["ce-type"], "dev.kumo.queue.message")
            self.assertEqual(h["ce-source"], "/kumo/qdrivers/queues/jobs")
            self.assertEqual(h["ce-subject"], "work")
            self.assertEqual(h["kumo-receive-count"], "1")
            self.assertRegex(h.get("ce-time", ""), CE_TIME)
            # the send time, on the queue's clock (this machine's): SQS
            # keeps it in whole milliseconds, the others too
            self.assertGreaterEqual(ms(h["ce-time"]), before - 1, (h["ce-time"], before, after))
            self.assertLessEqual(ms(h["ce-time"]), after, (h["ce-time"], before, after))
            m = TRACEPARENT.match(h.get("traceparent", ""))
            self.assertTrue(m, h)
            self.assertNotEqual(m.group(1), "0" * 32)
            traces.add(m.group(1))
        self.assertEqual(len(traces), len(recs))  # a fresh trace per delivery

    def test_failure_retried_then_dead_lettered(self):
        bad = post(self.gw, "/send", b"fail-" + self.BACKEND.name.encode())["id"]
        good = [post(self.gw, "/send", b"after-%d" % i)["id"] for i in range(3)]

        def attempts():
            a = [r for r in seen(self.gw) if r["headers"].get("ce-id") == bad and r["phase"] == "start"]
            return a if len(a) >= 3 else None
        a = wait_for(attempts, timeout=90)
        self.assertTrue(a, self.gw.stderr()[-3000:])
        self.assertEqual(sorted(r["headers"]["kumo-receive-count"] for r in a), ["1", "2", "3"])
        self.assertTrue(wait_for(lambda: {r["headers"].get("ce-id") for r in seen(self.gw)
                                          if r["phase"] == "done"} >= set(good), timeout=60))
        self.assertTrue(wait_for(lambda: self.backend.dead_count(self.dir, "jobs") >= 1, timeout=60),
                        self.gw.stderr()[-3000:])
        self.assertEqual(self.backend.dead_count(self.dir, "jobs"), 1)
        if self.BACKEND.name != "sqs":  # SQS moves it itself: kumo never sees the receive past max_receives
            warn = [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered"]
            self.assertEqual([w["message_id"] for w in warn], [bad])


class SqliteTest(DriverCase, unittest.TestCase):
    BACKEND = queue_backends.Sqlite


class RedisTest(DriverCase, unittest.TestCase):
    BACKEND = queue_backends.Redis


class PostgresTest(DriverCase, unittest.TestCase):
    BACKEND = queue_backends.Postgres


class SqsTest(DriverCase, unittest.TestCase):
    BACKEND = queue_backends.Sqs

    def test_sns_envelope_keeps_the_senders_trace(self):
        # what an SNS topic puts in a queue it delivers to without raw
        # delivery: its envelope, the sender's traceparent among its
        # MessageAttributes; the delivery continues that trace
        import boto3
        sqs = boto3.client("sqs", endpoint_url=self.backend.endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        trace = "5bf92f3577b34da6a3ce929d0e0e4736"
        envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-1:1:news",
                    "Message": "wrapped", "Timestamp": "2026-12-05T08:00:00.000Z",
                    "MessageAttributes": {"traceparent": {"Type": "String",
                                                          "Value": "00-%s-00f067aa0ba902b7-01" % trace}}}
        mid = sqs.send_message(QueueUrl=url, MessageBody=json.dumps(envelope))["MessageId"]
        rec = wait_for(lambda: next((r for r in seen(self.gw) if r.get("phase") == "done"
                                     and r["headers"].get("ce-id") == mid), None), timeout=90)
        self.assertTrue(rec, self.gw.stderr()[-3000:])
        m = TRACEPARENT.match(rec["headers"].get("traceparent", ""))
        self.assertTrue(m, rec["headers"])
        self.assertEqual(m.group(1), trace)


if __name__ == "__main__":
    unittest.main()
