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
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")


def call(base, method, path, body=b"", headers=None):
    req = urllib.request.Request(base + path, data=body if method != "GET" else None, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read()


class HostPushTest(unittest.TestCase):
    """kumo-host http on projects/pushed: each platform's payload reaches
    pushed.record with kumo's CloudEvents attributes."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("pushed", PROJECTS)
        gw = Gateway(cls.dir, threads=1)  # builds the unit
        if gw.stop() != 0:
            raise AssertionError("kumo up did not stop cleanly:\n" + gw.stderr()[-3000:])
        cls.data = tempfile.mkdtemp(prefix="kumo-pushed-data-")
        cls.port = free_port()
        cls.base = "http://127.0.0.1:%d" % cls.port
        cls.log = open(os.path.join(cls.data, "host.log"), "w+")
        cls.proc = subprocess.Popen([HOST, "http", cls.dir], stdout=cls.log, stderr=cls.log,
                                    env=dict(os.environ, PORT=str(cls.port), KUMO_DATA=cls.data))

        def up():
            try:
                return call(cls.base, "GET", "/seen")[0] == 200
            except OSError:
                return False
        if not wait_for(up, timeout=60):
            cls.proc.kill()
            raise AssertionError("kumo-host did not serve:\n" + cls.host_log())

    @classmethod
    def host_log(cls):
        cls.log.flush()
        with open(cls.log.name) as f:
            return f.read()

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(60)
        text = cls.host_log()
        cls.log.close()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        shutil.rmtree(cls.data, ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in text or "runtime error:" in text:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, text[-4000:]))

    def seen(self, key):
        st, _, body = call(self.base, "GET", "/seen")
        self.assertEqual(st, 200)
        for rec in json.loads(body):
            if rec["key"] == key:
                return rec
        self.fail("no delivery with ce-id %r recorded; kumo-host said:\n%s" % (key, self.host_log()[-3000:]))

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
        self.assertEqual(h["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")

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

    def test_unknown_event_is_404_naming_the_events(self):
        st, hd, body = call(self.base, "POST", "/_kumo/events/nope", b"", {})
        self.assertEqual(st, 404)
        self.assertEqual(hd["content-type"], "application/problem+json")
        self.assertIn("the events are: nightly, work", json.loads(body)["detail"])


if __name__ == "__main__":
    unittest.main()
