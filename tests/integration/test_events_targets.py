"""Events on the vendor targets (issue 13): what `kumo deploy --target T
--dry-run` generates for each event kind on gcp, azure, knative,
kubernetes and openfaas, the refusals at kumo.yaml:line:column, and
kumo-host http taking what each platform pushes (an Azure Functions
custom-handler invocation, a Pub/Sub push, a Cloud Scheduler POST, a
Knative PingSource CloudEvent, an Eventarc Cloud Storage event) as the
CloudEvents request kumo up would send, observed in the handler's kv
store for real."""
import base64
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import yaml

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")


def call(base, method, path, body=b"", headers=None):
    req = urllib.request.Request(base + path, data=body if method != "GET" else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()


class HostCase(unittest.TestCase):
    """One kumo-host http for the class, on a copy of projects/pushed
    (built by kumo up first) with `extra` appended to its kumo.yaml."""
    extra = ""
    stores = None
    env = {}
    rewrite = None  # (old, new) in kumo.yaml
    binary = HOST  # or HTTP_HOST: kumo-http, the images' lean host

    @classmethod
    def setUpClass(cls):
        cls.proc = None
        cls.dir = copy_project("pushed", PROJECTS)
        gw = Gateway(cls.dir, threads=1)  # builds the unit
        if gw.stop() != 0:
            raise AssertionError("kumo up did not stop cleanly:\n" + gw.stderr()[-3000:])
        gw.out.close()
        gw.err.close()
        path = os.path.join(cls.dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        if cls.stores:
            text = text.replace("stores: {kv: [seen], queue: [jobs]}", cls.stores)
        if cls.rewrite:
            text = text.replace(*cls.rewrite)
        with open(path, "w") as f:
            f.write(text + cls.extra)
        cls.data = tempfile.mkdtemp(prefix="kumo-pushed-data-")
        cls.port = free_port()
        cls.base = "http://127.0.0.1:%d" % cls.port
        cls.log = open(os.path.join(cls.data, "host.log"), "w+")
        cls.proc = subprocess.Popen([cls.binary, "http", cls.dir], stdout=cls.log, stderr=cls.log,
                                    env=dict(os.environ, PORT=str(cls.port), KUMO_DATA=cls.data, **cls.env))

        def up():
            if cls.proc.poll() is not None:
                return True
            try:
                return call(cls.base, "GET", "/seen")[0] == 200
            except OSError:
                return False
        wait_for(up, timeout=60)
        if cls.proc.poll() is not None:
            text = cls.host_log()
            cls.cleanup()
            if "not implemented yet" in text:
                raise unittest.SkipTest("SKIPPED: the kumo.yaml loader on this branch refuses blob/topic/cloudevent "
                                        "events until they run under kumo up: " + text.strip()[-300:])
            raise AssertionError("kumo-host did not serve:\n" + text)

    @classmethod
    def host_log(cls):
        cls.log.flush()
        with open(cls.log.name) as f:
            return f.read()

    @classmethod
    def cleanup(cls):
        cls.log.close()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        shutil.rmtree(cls.data, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(60)
        text = cls.host_log()
        cls.cleanup()
        if rc != 0 or "ERROR: AddressSanitizer" in text or "runtime error:" in text:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, text[-4000:]))

    def seen(self, key):
        st, _, body = call(self.base, "GET", "/seen")
        self.assertEqual(st, 200)
        for rec in json.loads(body):
            if rec["key"] == key:
                return rec
        self.fail("no delivery with ce-id %r recorded; kumo-host said:\n%s" % (key, self.host_log()[-3000:]))


class HostPushTest(HostCase):
    """kumo-host http on projects/pushed: each platform's payload reaches
    pushed.record with kumo's CloudEvents attributes."""

    # ---- Azure Functions custom handler -----------------------------------

    def test_azure_queue_invocation(self):
        inv = {"Data": {"message": "hello from azure"},
               "Metadata": {"DequeueCount": 2, "Id": "az-msg-1", "InsertionTime": "2026-12-05T08:00:00+00:00",
                            "sys": {"MethodName": "work", "UtcNow": "2026-12-05T08:00:01Z"}}}
        st, hd, body = call(self.base, "POST", "/work", json.dumps(inv).encode(),
                            {"Content-Type": "application/json", "X-Azure-Functions-InvocationId": "inv-1"})
        self.assertEqual(st, 200, body)
        out = json.loads(body)
        self.assertEqual(out, {"Outputs": {}, "Logs": [], "ReturnValue": {"status": 204}})
        rec = self.seen("az-msg-1")
        h = rec["headers"]
        self.assertEqual(rec["body"], "hello from azure")
        self.assertEqual(rec["path"], "/work")
        self.assertEqual(h["ce-specversion"], "1.0")
        self.assertEqual(h["ce-type"], "dev.kumo.queue.message")
        self.assertEqual(h["ce-source"], "/kumo/pushed/queues/jobs")
        self.assertEqual(h["ce-subject"], "work")
        self.assertEqual(h["ce-time"], "2026-12-05T08:00:00+00:00")
        self.assertEqual(h["kumo-receive-count"], "2")
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertRegex(h["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")

    def test_azure_failure_is_500_with_logs(self):
        inv = {"Data": {"message": "fail: please"}, "Metadata": {"DequeueCount": 1, "Id": "az-msg-fail"}}
        st, _, body = call(self.base, "POST", "/work", json.dumps(inv).encode(),
                           {"Content-Type": "application/json"})
        self.assertEqual(st, 500, body)
        out = json.loads(body)
        self.assertEqual(out["ReturnValue"], {"status": 500})
        self.assertEqual(out["Outputs"], {})
        self.assertIn("the handler answered 500", out["Logs"][0])
        self.seen("az-msg-fail")

    def test_azure_timer_invocation(self):
        inv = {"Data": {"timer": {"Schedule": {"AdjustForDST": True}, "IsPastDue": False}},
               "Metadata": {"sys": {"MethodName": "nightly", "UtcNow": "2026-12-05T01:30:00.0000000Z"}}}
        st, _, body = call(self.base, "POST", "/nightly", json.dumps(inv).encode(),
                           {"Content-Type": "application/json", "X-Azure-Functions-InvocationId": "inv-timer"})
        self.assertEqual(st, 200, body)
        rec = self.seen("inv-timer")
        h = rec["headers"]
        self.assertEqual(h["ce-type"], "dev.kumo.schedule.tick")
        self.assertEqual(h["ce-source"], "/kumo/pushed/events/nightly")
        self.assertEqual(h["ce-time"], "2026-12-05T01:30:00.0000000Z")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(rec["body"]), {"schedule": "30 2 * * *", "planned": "2026-12-05T01:30:00.0000000Z",
                                                   "timezone": "Europe/Zurich"})
        self.assertNotIn("kumo-receive-count", h)

    def test_api_request_on_the_same_path_is_not_an_event(self):
        st, _, body = call(self.base, "POST", "/work", b"", {})
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"answered": "as an API request"})
        # JSON that is no invocation goes to the API too (which takes no body here)
        st, _, body = call(self.base, "POST", "/work", b'{"Other": 1}', {"Content-Type": "application/json"})
        self.assertEqual(st, 415, body)
        self.assertIn("POST /work takes no request body", json.loads(body)["detail"])

    # ---- Google Cloud -------------------------------------------------------

    def test_pubsub_push(self):
        env = {"message": {"data": base64.b64encode(b'{"n": 1}').decode(),
                           "attributes": {"content-type": "application/json"},
                           "messageId": "ps-123", "publishTime": "2026-12-05T08:01:02.345Z"},
               "subscription": "projects/p/subscriptions/kumo-pushed-work", "deliveryAttempt": 3}
        st, _, body = call(self.base, "POST", "/_kumo/events/work", json.dumps(env).encode(),
                           {"Content-Type": "application/json"})
        self.assertEqual(st, 204, body)
        rec = self.seen("ps-123")
        h = rec["headers"]
        self.assertEqual(rec["body"], '{"n": 1}')
        self.assertEqual(h["ce-type"], "dev.kumo.queue.message")
        self.assertEqual(h["ce-source"], "/kumo/pushed/queues/jobs")
        self.assertEqual(h["ce-time"], "2026-12-05T08:01:02.345Z")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["kumo-receive-count"], "3")

    def test_pubsub_push_failure_is_not_acked(self):
        env = {"message": {"data": base64.b64encode(b"fail now").decode(), "messageId": "ps-fail"},
               "subscription": "projects/p/subscriptions/s"}
        st, _, _ = call(self.base, "POST", "/_kumo/events/work", json.dumps(env).encode(),
                        {"Content-Type": "application/json"})
        self.assertEqual(st, 500)  # Pub/Sub redelivers anything but 102, 200, 201, 202, 204
        self.assertEqual(self.seen("ps-fail")["headers"]["kumo-receive-count"], "1")

    def test_pubsub_bad_base64_is_400(self):
        env = {"message": {"data": "***", "messageId": "x"}, "subscription": "s"}
        st, hd, body = call(self.base, "POST", "/_kumo/events/work", json.dumps(env).encode(),
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400, body)
        self.assertEqual(hd["content-type"], "application/problem+json")
        self.assertIn("not base64", json.loads(body)["detail"])

    def test_cloud_scheduler_post(self):
        st, _, body = call(self.base, "POST", "/_kumo/events/nightly", b"",
                           {"X-CloudScheduler-ScheduleTime": "2026-12-06T01:30:00Z", "ce-id": "sched-1",
                            "ce-specversion": "1.0", "ce-type": "dev.kumo.schedule.tick",
                            "ce-source": "//cloudscheduler.googleapis.com"})
        self.assertEqual(st, 204, body)
        rec = self.seen("sched-1")
        self.assertEqual(rec["headers"]["ce-source"], "/kumo/pushed/events/nightly")
        self.assertEqual(json.loads(rec["body"])["schedule"], "30 2 * * *")

    def test_cloud_scheduler_plain_post_takes_its_schedule_time(self):
        st, hd, body = call(self.base, "POST", "/_kumo/events/nightly", b"",
                            {"X-CloudScheduler-ScheduleTime": "2026-12-07T01:30:00Z"})
        self.assertEqual(st, 204, body)
        st, _, body = call(self.base, "GET", "/seen")
        recs = [r for r in json.loads(body) if '"planned":"2026-12-07T01:30:00Z"' in r["body"]]
        self.assertEqual(len(recs), 1, body)
        self.assertEqual(recs[0]["headers"]["ce-time"], "2026-12-07T01:30:00Z")
        self.assertEqual(recs[0]["key"], hd["x-request-id"])  # a fresh id: the request's

    # ---- Knative ------------------------------------------------------------

    def test_pingsource_cloudevent(self):
        st, _, body = call(self.base, "POST", "/_kumo/events/nightly", b'{"ignored": true}',
                           {"ce-specversion": "1.0", "ce-id": "ping-1", "ce-type": "dev.knative.sources.ping",
                            "ce-source": "/apis/v1/namespaces/default/pingsources/pushed-nightly",
                            "ce-time": "2026-12-05T01:30:00Z", "Content-Type": "application/json",
                            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
        self.assertEqual(st, 204, body)
        h = self.seen("ping-1")["headers"]
        self.assertEqual(h["ce-type"], "dev.kumo.schedule.tick")
        self.assertEqual(h["ce-time"], "2026-12-05T01:30:00Z")
        # the producer's trace goes on, under the invocation's own span (docs/traces.md)
        self.assertRegex(h["traceparent"], r"^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$")
        self.assertNotIn("b7ad6b7169203331", h["traceparent"])

    def test_structured_cloudevent(self):
        ev = {"specversion": "1.0", "id": "structured-1", "type": "x", "source": "/y",
              "time": "2026-12-05T09:00:00Z", "data": {"hello": "world"}}
        st, _, body = call(self.base, "POST", "/_kumo/events/work", json.dumps(ev).encode(),
                           {"Content-Type": "application/cloudevents+json"})
        self.assertEqual(st, 204, body)
        rec = self.seen("structured-1")
        self.assertEqual(json.loads(rec["body"]), {"hello": "world"})
        self.assertEqual(rec["headers"]["content-type"], "application/json")
        self.assertEqual(rec["headers"]["ce-type"], "dev.kumo.queue.message")

    # ---- Kubernetes CronJob, OpenFaaS cron-connector ---------------------------

    def test_kumo_fire_fires_once_and_exits(self):
        env = dict(os.environ, KUMO_DATA=self.data, KUMO_FIRE="nightly", PORT=str(free_port()))
        r = subprocess.run([self.binary, "http", self.dir], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"event nightly fired: status 204, request id (\S+)", r.stderr)
        self.assertTrue(m, r.stderr)
        rec = self.seen(m.group(1))
        self.assertEqual(rec["headers"]["ce-type"], "dev.kumo.schedule.tick")
        self.assertEqual(rec["path"], "/nightly")
        env["KUMO_FIRE"] = "nope"
        r = subprocess.run([self.binary, "http", self.dir], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("KUMO_FIRE=nope: no such event in kumo.yaml", r.stderr)

    def test_kumo_event_takes_posts_to_the_root(self):
        port = free_port()
        proc = subprocess.Popen([self.binary, "http", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=dict(os.environ, KUMO_DATA=self.data, KUMO_EVENT="nightly", PORT=str(port)))
        base = "http://127.0.0.1:%d" % port
        try:
            def posted():
                try:
                    return call(base, "POST", "/", b"", {"ce-specversion": "1.0", "ce-id": "faas-1",
                                                        "ce-type": "x", "ce-source": "/y"})
                except OSError:
                    return None
            got = wait_for(posted, timeout=60)
            self.assertTrue(got)
            self.assertEqual(got[0], 204, got[2])
            self.assertEqual(self.seen("faas-1")["headers"]["ce-type"], "dev.kumo.schedule.tick")
            self.assertEqual(call(base, "GET", "/seen")[0], 200)  # the API still answers
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(60), 0)
            proc.stderr.close()

    def test_unknown_event_is_404_naming_the_events(self):
        st, hd, body = call(self.base, "POST", "/_kumo/events/nope", b"", {})
        self.assertEqual(st, 404)
        self.assertEqual(hd["content-type"], "application/problem+json")
        self.assertIn("the events are: nightly, work", json.loads(body)["detail"])


class HostConsumeTest(HostCase):
    """kumo-host http with KUMO_CONSUME=1 (the kubernetes and knative
    targets set it): the instance consumes its queue events itself, from
    the store its handlers send to; a failing message is retried with
    backoff and moved to jobs-dead after max_receives."""
    env = {"KUMO_CONSUME": "1"}
    rewrite = ("max_receives: 5, backoff: 2s", "max_receives: 2, backoff: 100ms")

    def send(self, body):
        st, _, out = call(self.base, "POST", "/send?body=" + body)
        self.assertEqual(st, 200, out)
        return json.loads(out)["id"]

    def records(self):
        st, _, body = call(self.base, "GET", "/seen")
        self.assertEqual(st, 200)
        return {r["key"]: r for r in json.loads(body)}

    def test_messages_reach_the_handler(self):
        ids = [self.send("job-%d" % i) for i in range(3)]
        got = wait_for(lambda: all(i in self.records() for i in ids), timeout=60)
        self.assertTrue(got, self.host_log()[-3000:])
        recs = self.records()
        for n, i in enumerate(ids):
            h = recs[i]["headers"]
            self.assertEqual(recs[i]["body"], "job-%d" % n)
            self.assertEqual(recs[i]["path"], "/work")
            self.assertEqual(h["ce-type"], "dev.kumo.queue.message")
            self.assertEqual(h["ce-source"], "/kumo/pushed/queues/jobs")
            self.assertEqual(h["ce-subject"], "work")
            self.assertEqual(h["kumo-receive-count"], "1")

    def test_message_continues_the_senders_trace(self):
        # the message carries the send's context: its delivery is in the
        # trace of the request that sent it (issue 14)
        trace_id = "8" * 32
        st, _, out = call(self.base, "POST", "/send?body=traced",
                          headers={"traceparent": "00-%s-00f067aa0ba902b7-01" % trace_id})
        self.assertEqual(st, 200, out)
        mid = json.loads(out)["id"]
        got = wait_for(lambda: mid in self.records(), timeout=60)
        self.assertTrue(got, self.host_log()[-3000:])
        tp = self.records()[mid]["headers"].get("traceparent", "")
        self.assertTrue(tp.startswith("00-%s-" % trace_id), tp)
        self.assertNotIn("-00f067aa0ba902b7-", tp)

    def test_failure_retried_then_dead_lettered(self):
        mid = self.send("fail-me")

        def dead():
            db = sqlite3.connect(os.path.join(self.data, "queue.db"), timeout=10)
            try:
                return db.execute("SELECT body FROM kumo_queue WHERE queue = 'jobs-dead'").fetchall()
            finally:
                db.close()
        got = wait_for(lambda: mid in self.records() and self.records()[mid]["headers"]["kumo-receive-count"] == "2"
                       and dead(), timeout=60)
        self.assertTrue(got, self.host_log()[-3000:])
        self.assertIn("fail-me", [bytes(b).decode() if isinstance(b, (bytes, memoryview)) else b for (b,) in dead()])
        self.assertIn("moves to the queue jobs-dead", self.host_log())


KINDS = """
  thumbs: {blob: files, on: [created], prefix: img/, handler: pushed.record}
  billing: {topic: orders, handler: pushed.record}
  external: {cloudevent: {type: com.example.order.created, source: /shop}, handler: pushed.record}
"""


class HostPushKindsTest(HostCase):
    """kumo-host http with blob, topic and cloudevent events: an Eventarc
    Cloud Storage event, an Azure blob trigger, a Pub/Sub push of a topic
    subscription and a CloudEvent routed to its event."""
    extra = KINDS
    stores = "stores: {kv: [seen], queue: [jobs], blob: [files], topic: [orders]}"

    def test_eventarc_storage_event(self):
        data = {"name": "img/a.png", "bucket": "kumo-pushed-files", "size": "123", "etag": "e1",
                "contentType": "image/png"}
        st, _, body = call(self.base, "POST", "/_kumo/events/thumbs", json.dumps(data).encode(),
                           {"ce-specversion": "1.0", "ce-id": "gcs-1", "Content-Type": "application/json",
                            "ce-type": "google.cloud.storage.object.v1.finalized",
                            "ce-source": "//storage.googleapis.com/projects/_/buckets/kumo-pushed-files",
                            "ce-subject": "objects/img/a.png", "ce-time": "2026-12-05T08:10:00Z"})
        self.assertEqual(st, 204, body)
        rec = self.seen("gcs-1")
        h = rec["headers"]
        self.assertEqual(h["ce-type"], "dev.kumo.blob.created")
        self.assertEqual(h["ce-source"], "/kumo/pushed/blobs/files")
        self.assertEqual(h["ce-subject"], "img/a.png")
        self.assertEqual(h["ce-time"], "2026-12-05T08:10:00Z")
        self.assertEqual(json.loads(rec["body"]), {"store": "files", "key": "img/a.png", "size": 123, "etag": "e1",
                                                   "content_type": "image/png", "event": "created"})

    def test_filters_leave_events_out(self):
        for typ, name in [("google.cloud.storage.object.v1.finalized", "doc/x.txt"),
                          ("google.cloud.storage.object.v1.deleted", "img/b.png")]:  # on: [created]
            st, _, body = call(self.base, "POST", "/_kumo/events/thumbs", json.dumps({"name": name}).encode(),
                               {"ce-specversion": "1.0", "ce-id": "gcs-left-out", "ce-type": typ, "ce-source": "/s",
                                "Content-Type": "application/json"})
            self.assertEqual(st, 204, body)
        st, _, body = call(self.base, "GET", "/seen")
        self.assertNotIn("gcs-left-out", [r["key"] for r in json.loads(body)])

    def test_azure_blob_trigger(self):
        inv = {"Data": {"blob": "aGVsbG8="},
               "Metadata": {"BlobTrigger": "files/img/c.png", "name": "c",
                            "Properties": {"Length": 5, "ETag": "\"0x8D\"", "ContentType": "image/png"},
                            "sys": {"UtcNow": "2026-12-05T08:20:00Z"}}}
        st, _, body = call(self.base, "POST", "/thumbs", json.dumps(inv).encode(),
                           {"Content-Type": "application/json", "X-Azure-Functions-InvocationId": "az-blob-1"})
        self.assertEqual(st, 200, body)
        rec = self.seen("az-blob-1")
        self.assertEqual(rec["headers"]["ce-type"], "dev.kumo.blob.created")
        self.assertEqual(json.loads(rec["body"]), {"store": "files", "key": "img/c.png", "size": 5, "etag": '"0x8D"',
                                                   "content_type": "image/png", "event": "created"})

    def test_topic_pubsub_push(self):
        env = {"message": {"data": base64.b64encode(b"order 7").decode(), "messageId": "ps-topic-1",
                           "publishTime": "2026-12-05T08:30:00Z"}, "subscription": "s", "deliveryAttempt": 1}
        st, _, body = call(self.base, "POST", "/_kumo/events/billing", json.dumps(env).encode(),
                           {"Content-Type": "application/json"})
        self.assertEqual(st, 204, body)
        rec = self.seen("ps-topic-1")
        self.assertEqual(rec["headers"]["ce-type"], "dev.kumo.topic.message")
        self.assertEqual(rec["headers"]["ce-source"], "/kumo/pushed/topics/orders")
        self.assertEqual(rec["body"], "order 7")

    def test_cloudevent_routed_with_its_own_attributes(self):
        st, _, body = call(self.base, "POST", "/_kumo/events/external", b'{"order": 9}',
                           {"ce-specversion": "1.0", "ce-id": "ext-1", "ce-type": "com.example.order.created",
                            "ce-source": "/shop", "ce-subject": "order/9", "Content-Type": "application/json"})
        self.assertEqual(st, 204, body)
        h = self.seen("ext-1")["headers"]
        self.assertEqual((h["ce-type"], h["ce-source"], h["ce-subject"]),
                         ("com.example.order.created", "/shop", "order/9"))
        st, hd, body = call(self.base, "POST", "/_kumo/events/external", b"{}",
                            {"ce-specversion": "1.0", "ce-id": "ext-2", "ce-type": "com.example.other",
                             "ce-source": "/shop"})
        self.assertEqual(st, 404, body)
        self.assertIn("takes type 'com.example.order.created'", json.loads(body)["detail"])


# ---- kumo deploy --target T --dry-run ------------------------------------------

HEAD = """name: pushed
api: openapi.yaml
defaults:
  timeout: 5s
functions:
  pushed: {sources: [functions/pushed.c]}
stores: {kv: [seen], queue: [jobs], blob: [files], topic: [orders]}
events:
"""


def position(text, line_has, key):
    """kumo.yaml:L:C of `key` on the first line containing line_has."""
    for n, line in enumerate(text.splitlines(), 1):
        if line_has in line:
            return "kumo.yaml:%d:%d:" % (n, line.index(key, line.index(line_has)) + 1)
    raise AssertionError("no line with %r" % line_has)


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanPushTest(HostPushTest):
    """The same under kumo-http, which the images and the Azure app carry."""
    binary = HTTP_HOST


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanConsumeTest(HostConsumeTest):
    binary = HTTP_HOST


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanPushKindsTest(HostPushKindsTest):
    binary = HTTP_HOST


class DryRunTest(unittest.TestCase):
    """Each target on projects/pushed with its events rewritten: the files
    and commands `kumo deploy --target T --dry-run` writes, and what each
    target refuses, at the key's line and column."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("pushed", PROJECTS)
        with open(os.path.join(cls.dir, "kumo.yaml")) as f:
            cls.original = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def deploy(self, target, events, stores=None, build=False):
        text = HEAD + events
        if stores is not None:
            text = text.replace("stores: {kv: [seen], queue: [jobs], blob: [files], topic: [orders]}", stores)
        # every store on its embedded default, accepted (one copy per replica:
        # these tests look at events, not at where the data lives)
        line = [l for l in text.splitlines() if l.startswith("stores:")][0]
        names = ", ".join(n.strip() for group in re.findall(r"\[([^\]]*)\]", line) for n in group.split(","))
        text += "environments:\n  dev: {embedded: [%s]}\n" % names
        with open(os.path.join(self.dir, "kumo.yaml"), "w") as f:
            f.write(text)
        env = dict(os.environ, GOOGLE_CLOUD_PROJECT="demo-project", KUMO_REGISTRY="registry.test:5000")
        args = [KUMO, "build", "--target", target, self.dir] if build else \
            [KUMO, "deploy", "--target", target, "--dry-run", self.dir]
        r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
        return r, text

    def loader_refuses(self, r):
        """main's kumo.yaml loader refuses sources that do not run under
        kumo up yet (topic, blob, cloudevent: other helpers' parts of issue
        13); the target's part cannot be reached until they land."""
        return "events are not implemented yet" in r.stderr or "topics are not implemented yet" in r.stderr

    def out_file(self, target, name):
        return os.path.join(self.dir, ".kumo", "deploy", target, name)

    def assertRefused(self, r, text, line_has, key, message):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        where = position(text, line_has, key)
        self.assertIn(where, r.stderr)
        self.assertIn(message, r.stderr)
        self.assertRegex(r.stderr, r"kumo\.yaml:\d+:\d+: events\.")

    # ---- gcp ---------------------------------------------------------------

    def test_gcp_schedule_and_queue(self):
        r, _ = self.deploy("gcp", "  nightly: {schedule: \"30 2 * * *\", timezone: Europe/Zurich, handler: pushed.record}\n"
                                  "  tick: {schedule: \"every 15m\", handler: pushed.record}\n"
                                  "  work: {queue: jobs, handler: pushed.record, visibility: 45s, max_receives: 7, "
                                  "backoff: 3s}\n",
                           stores="stores: {kv: [seen], queue: [jobs]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("gcp", "deploy.sh")) as f:
            sh = f.read()
        self.assertIn("gcloud services enable cloudscheduler.googleapis.com pubsub.googleapis.com", sh)
        job = [l for l in sh.splitlines() if l.startswith('gcloud scheduler jobs "$JOB" http kumo-pushed-nightly ')]
        self.assertEqual(len(job), 1, sh)
        for want in ["--schedule='30 2 * * *'", "--time-zone=Europe/Zurich",
                     '--uri="$KUMO_URL_PUSHED/_kumo/events/nightly"', "--http-method=POST",
                     "--oidc-service-account-email=", '--oidc-token-audience="$KUMO_URL_PUSHED"']:
            self.assertIn(want, job[0])
        tick = [l for l in sh.splitlines() if "http kumo-pushed-tick " in l][0]
        self.assertIn("--schedule='*/15 * * * *' --time-zone=UTC", tick)  # every: elapsed time, in UTC
        sub = [l for l in sh.splitlines() if l.startswith("gcloud pubsub subscriptions $SUB")]
        self.assertEqual(len(sub), 1, sh)
        for want in ['--push-endpoint="$KUMO_URL_PUSHED/_kumo/events/work"', "--ack-deadline=45",
                     "--dead-letter-topic=kumo-pushed-jobs-dead", "--max-delivery-attempts=7",
                     "--min-retry-delay=3s", "--max-retry-delay=300s", "--push-auth-service-account="]:
            self.assertIn(want, sub[0])
        self.assertIn('SUB="create kumo-pushed-work --topic=kumo-pushed-jobs"', sh)
        self.assertIn("gcloud pubsub topics add-iam-policy-binding kumo-pushed-jobs-dead", sh)
        # the URL is read before the events use it
        self.assertLess(sh.index("KUMO_URL_PUSHED=$("), sh.index("gcloud scheduler jobs"))
        self.assertIn("the Pub/Sub topic kumo-pushed-jobs feeds it", r.stdout)

    def test_gcp_blob_topic_cloudevent(self):
        r, _ = self.deploy("gcp", "  thumbs: {blob: files, on: [created, deleted], prefix: img/, handler: pushed.record}\n"
                                  "  billing: {topic: orders, handler: pushed.record}\n"
                                  "  external: {cloudevent: {type: com.example.order.created}, handler: pushed.record}\n")
        if self.loader_refuses(r):
            self.skipTest("SKIPPED: the kumo.yaml loader on this branch refuses blob/topic/cloudevent events "
                          "until they run under kumo up: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("gcp", "deploy.sh")) as f:
            sh = f.read()
        for kind, typ in [("created", "google.cloud.storage.object.v1.finalized"),
                          ("deleted", "google.cloud.storage.object.v1.deleted")]:
            line = [l for l in sh.splitlines() if "gcloud eventarc triggers create kumo-pushed-thumbs-" + kind in l]
            self.assertEqual(len(line), 1, sh)
            self.assertIn("--event-filters=type=" + typ, line[0])
            self.assertIn("--event-filters=bucket=kumo-pushed-files", line[0])
            self.assertIn("--destination-run-service=pushed-pushed", line[0])
            self.assertIn("--destination-run-path=/_kumo/events/thumbs", line[0])
        self.assertIn("--dead-letter-topic=kumo-pushed-orders-billing-dead", sh)
        self.assertIn('SUB="create kumo-pushed-billing --topic=kumo-pushed-orders"', sh)
        self.assertIn("kumo-host applies prefix:/suffix:", r.stdout)
        self.assertIn("events.external: CloudEvents of type com.example.order.created", r.stdout)

    def test_gcp_refusals(self):
        cases = [
            ('  fast: {schedule: "*/10 * * * * *", handler: pushed.record}\n', "fast:", "schedule",
             "has a seconds field"),
            ('  odd: {schedule: "every 7m", handler: pushed.record}\n', "odd:", "schedule",
             "no cron line repeats evenly"),
            ('  late: {schedule: "0 3 * * *", missed: once, handler: pushed.record}\n', "late:", "missed",
             "Cloud Scheduler never runs a tick it missed"),
            ("  work: {queue: jobs, handler: pushed.record, max_receives: 3}\n", "work:", "max_receives",
             "takes 5 to 100 delivery attempts"),
        ]
        for events, line_has, key, message in cases:
            with self.subTest(key=key):
                r, text = self.deploy("gcp", events, stores="stores: {kv: [seen], queue: [jobs]}")
                self.assertRefused(r, text, line_has, key, message)

    # ---- azure ----------------------------------------------------------------

    def test_azure_functions(self):
        r, _ = self.deploy("azure", "  nightly: {schedule: \"30 2 * * *\", timezone: Europe/Zurich, missed: once, "
                                    "handler: pushed.record}\n"
                                    "  fast: {schedule: \"*/10 * * * * *\", timezone: Europe/Zurich, handler: pushed.record}\n"
                                    "  work: {queue: jobs, handler: pushed.record, batch: 8, max_receives: 4, "
                                    "backoff: 90s}\n",
                           stores="stores: {kv: [seen], queue: [jobs]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        app = os.path.join(self.dir, ".kumo", "build", "azure", "app")

        def fn(name):
            with open(os.path.join(app, name, "function.json")) as f:
                return json.load(f)["bindings"]
        self.assertEqual(fn("nightly"), [{"type": "timerTrigger", "direction": "in", "name": "timer",
                                          "schedule": "0 30 2 * * *", "useMonitor": True, "runOnStartup": False}])
        self.assertEqual(fn("fast")[0]["schedule"], "*/10 * * * * *")
        self.assertFalse(fn("fast")[0]["useMonitor"])
        self.assertEqual(fn("work"), [{"type": "queueTrigger", "direction": "in", "name": "message",
                                       "queueName": "jobs", "connection": "AzureWebJobsStorage"}])
        with open(os.path.join(app, "host.json")) as f:
            host = json.load(f)
        self.assertEqual(host["extensions"]["queues"], {"batchSize": 8, "maxDequeueCount": 4,
                                                        "visibilityTimeout": "00:01:30"})
        self.assertEqual(host["extensionBundle"]["id"], "Microsoft.Azure.Functions.ExtensionBundle")
        self.assertTrue(host["customHandler"]["enableForwardingHttpRequest"])
        # the operations keep their functions
        self.assertTrue(os.path.exists(os.path.join(app, "list_seen", "function.json")))
        with open(self.out_file("azure", "azuredeploy.json")) as f:
            tmpl = json.load(f)
        site = [x for x in tmpl["resources"] if x["type"] == "Microsoft.Web/sites"][0]
        settings = {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}
        self.assertEqual(settings["WEBSITE_TIME_ZONE"], "Europe/Zurich")

    def test_azure_refusals(self):
        cases = [
            ('  a: {schedule: "0 3 * * *", timezone: Europe/Zurich, handler: pushed.record}\n'
             '  b: {schedule: "0 4 * * *", timezone: America/New_York, handler: pushed.record}\n', "  b:", "timezone",
             "an Azure function app has one time zone (WEBSITE_TIME_ZONE)"),
            ('  a: {schedule: "0 3 * * *", overlap: true, handler: pushed.record}\n', "  a:", "overlap",
             "an Azure timer trigger never overlaps"),
            ("  w1: {queue: jobs, handler: pushed.record, max_receives: 3}\n"
             "  w2: {queue: jobs, handler: pushed.record, max_receives: 4}\n", "w2:", "queue",
             "one batchSize, maxDequeueCount and visibilityTimeout"),
        ]
        for events, line_has, key, message in cases:
            with self.subTest(events=events):
                r, text = self.deploy("azure", events, stores="stores: {kv: [seen], queue: [jobs]}")
                self.assertRefused(r, text, line_has, key, message)

    def test_azure_blob(self):
        r, text = self.deploy("azure", "  thumbs: {blob: files, on: [created, deleted], handler: pushed.record}\n",
                              build=True)
        if self.loader_refuses(r):
            self.skipTest("SKIPPED: the kumo.yaml loader on this branch refuses blob events until they run under "
                          "kumo up: " + r.stderr.strip())
        self.assertRefused(r, text, "thumbs:", "on", "there is no deleted trigger")
        r, _ = self.deploy("azure", "  thumbs: {blob: files, on: created, prefix: img/, suffix: .png, "
                                    "handler: pushed.record}\n", build=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.dir, ".kumo", "build", "azure", "app", "thumbs", "function.json")) as f:
            b = json.load(f)["bindings"][0]
        self.assertEqual((b["type"], b["path"]), ("blobTrigger", "files/img/{name}.png"))

    # ---- knative, kubernetes, openfaas --------------------------------------------

    def test_knative_pingsource(self):
        r, _ = self.deploy("knative", "  nightly: {schedule: \"@daily\", timezone: Asia/Kolkata, handler: pushed.record}\n",
                           stores="stores: {kv: [seen]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("knative", "events.yaml")) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        self.assertEqual(len(docs), 1)
        ps = docs[0]
        self.assertEqual((ps["apiVersion"], ps["kind"]), ("sources.knative.dev/v1", "PingSource"))
        self.assertEqual(ps["spec"]["schedule"], "0 0 * * *")
        self.assertEqual(ps["spec"]["timezone"], "Asia/Kolkata")
        self.assertEqual(ps["spec"]["sink"], {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                                      "name": "pushed-pushed"}, "uri": "/_kumo/events/nightly"})
        self.assertIn("kubectl apply -f " + self.out_file("knative", "events.yaml"), r.stdout)

    def test_knative_trigger(self):
        r, _ = self.deploy("knative", "  external: {cloudevent: {type: com.example.order.created, source: /shop}, "
                                      "handler: pushed.record}\n", stores="stores: {kv: [seen]}")
        if self.loader_refuses(r):
            self.skipTest("SKIPPED: the kumo.yaml loader on this branch refuses cloudevent events until they run "
                          "under kumo up: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("knative", "events.yaml")) as f:
            tr = [d for d in yaml.safe_load_all(f) if d][0]
        self.assertEqual((tr["apiVersion"], tr["kind"]), ("eventing.knative.dev/v1", "Trigger"))
        self.assertEqual(tr["spec"]["broker"], "default")
        self.assertEqual(tr["spec"]["filter"], {"attributes": {"type": "com.example.order.created", "source": "/shop"}})
        self.assertEqual(tr["spec"]["subscriber"]["uri"], "/_kumo/events/external")

    def test_cluster_targets_consume_queues_in_kumo_host(self):
        for target, files in [("kubernetes", ["pushed.yaml"]), ("knative", ["service-pushed.yaml"]),
                              ("openfaas", ["stack.yml"])]:
            with self.subTest(target=target):
                r, _ = self.deploy(target, "  work: {queue: jobs, handler: pushed.record}\n",
                                   stores="stores: {kv: [seen], queue: [jobs]}")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("consume the queue jobs themselves (KUMO_CONSUME=1", r.stdout)
                with open(self.out_file(target, files[0])) as f:
                    docs = [d for d in yaml.safe_load_all(f) if d]
                if target == "openfaas":
                    fn = docs[0]["functions"]["pushed-pushed"]
                    self.assertEqual(fn["environment"]["KUMO_CONSUME"], "1")
                    self.assertNotIn("com.openfaas.scale.zero", fn["labels"])
                    continue
                spec = docs[0]["spec"]["template"]["spec"]
                self.assertIn({"name": "KUMO_CONSUME", "value": "1"}, spec["containers"][0]["env"])
                if target == "knative":
                    ann = docs[0]["spec"]["template"]["metadata"]["annotations"]
                    self.assertEqual(ann["autoscaling.knative.dev/min-scale"], "1")

    def test_data_schema_refused_where_kumo_host_does_not_check_it(self):
        events = "  work: {queue: jobs, handler: pushed.record, max_receives: 5, data: '#/components/schemas/Job'}\n"
        for target in ["gcp", "azure", "knative", "kubernetes", "openfaas"]:
            with self.subTest(target=target):
                r, text = self.deploy(target, events, stores="stores: {kv: [seen], queue: [jobs]}")
                self.assertRefused(r, text, "work:", "data", "data: is not checked on %s yet" % target)

    def test_cluster_targets_refuse_topics_and_blobs(self):
        for target in ["knative", "kubernetes", "openfaas"]:
            for events, key, message in [("  billing: {topic: orders, handler: pushed.record}\n", "topic",
                                          "topic events are not carried to " + target),
                                         ("  thumbs: {blob: files, handler: pushed.record}\n", "blob",
                                          "blob events are not carried to " + target)]:
                with self.subTest(target=target, key=key):
                    r, text = self.deploy(target, events)
                    if self.loader_refuses(r):
                        self.skipTest("SKIPPED: the kumo.yaml loader on this branch refuses topic and blob events "
                                      "until they run under kumo up: " + r.stderr.strip())
                    self.assertRefused(r, text, events.split(":")[0], key, message)

    def test_kubernetes_cronjob(self):
        r, _ = self.deploy("kubernetes", "  nightly: {schedule: \"30 2 * * 1-5\", timezone: Europe/Zurich, "
                                         "handler: pushed.record}\n"
                                         "  often: {schedule: \"every 2h\", overlap: true, missed: once, "
                                         "handler: pushed.record}\n", stores="stores: {kv: [seen]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("kubernetes", "events.yaml")) as f:
            jobs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(f) if d}
        n = jobs["pushed-nightly"]
        self.assertEqual((n["apiVersion"], n["kind"]), ("batch/v1", "CronJob"))
        self.assertEqual(n["spec"]["schedule"], "30 2 * * 1-5")
        self.assertEqual(n["spec"]["timeZone"], "Europe/Zurich")
        self.assertEqual(n["spec"]["concurrencyPolicy"], "Forbid")
        self.assertEqual(n["spec"]["startingDeadlineSeconds"], 60)
        pod = n["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        self.assertEqual(n["spec"]["jobTemplate"]["spec"]["backoffLimit"], 0)
        self.assertEqual(pod["restartPolicy"], "Never")
        c = pod["containers"][0]
        self.assertRegex(c["image"], r"^registry\.test:5000/pushed-pushed@sha256:[0-9a-f]{64}$")
        self.assertIn({"name": "KUMO_FIRE", "value": "nightly"}, c["env"])
        o = jobs["pushed-often"]
        self.assertEqual((o["spec"]["schedule"], o["spec"]["timeZone"]), ("0 */2 * * *", "UTC"))
        self.assertEqual(o["spec"]["concurrencyPolicy"], "Allow")
        self.assertNotIn("startingDeadlineSeconds", o["spec"])

    def test_openfaas_cron_connector(self):
        r, text = self.deploy("openfaas", "  nightly: {schedule: \"30 2 * * *\", handler: pushed.record}\n",
                              stores="stores: {kv: [seen]}")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out_file("openfaas", "stack.yml")) as f:
            stack = yaml.safe_load(f)
        fn = stack["functions"]["pushed-nightly"]
        self.assertEqual(fn["annotations"]["topic"], "cron-function")
        self.assertEqual(fn["annotations"]["schedule"], "30 2 * * *")
        self.assertEqual(fn["environment"]["KUMO_EVENT"], "nightly")
        self.assertEqual(fn["image"], stack["functions"]["pushed-pushed"]["image"])
        self.assertNotIn("KUMO_EVENT", stack["functions"]["pushed-pushed"]["environment"] or {})
        r, text = self.deploy("openfaas", "  nightly: {schedule: \"30 2 * * *\", timezone: Europe/Zurich, "
                                          "handler: pushed.record}\n", stores="stores: {kv: [seen]}")
        self.assertRefused(r, text, "nightly:", "timezone", "the OpenFaaS cron-connector reads every schedule in UTC")


if __name__ == "__main__":
    unittest.main()
