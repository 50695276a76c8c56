"""CloudEvents in over HTTP (issue 13): POST /_kumo/events on the API port,
under `kumo up` and under `kumo-host http` alike. Binary mode (ce-*
headers, as a Knative Broker's Trigger pushes), structured mode
(application/cloudevents+json) and batch mode
(application/cloudevents-batch+json) reach the event whose type (and
source) match, as a binary-mode request; what matches nothing is 404,
what is malformed 400, data that breaks `data:` 400 with the violations,
and a failing handler's status comes back as a problem.

The handlers (projects/cloudevents) record every delivery in a kv store,
read back with GET /seen; deliveries are synchronous (the answer comes
once the handler answered), so nothing here waits on timing."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for
from test_parity import HOST, Server, send

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
PATH = "/_kumo/events"
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def new_id(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def binary(id, type, source, body=b"", content_type=None, extra=None):
    h = {"ce-specversion": "1.0", "ce-id": id, "ce-type": type, "ce-source": source}
    if content_type:
        h["content-type"] = content_type
    h.update(extra or {})
    return h, body


class Cases:
    """The checks, run against self.base (kumo up or kumo-host)."""

    def post(self, headers, body):
        return send(self.base, "POST", PATH, headers, body)

    def seen(self):
        status, _, body = send(self.base, "GET", "/seen", {}, None)
        self.assertEqual(status, 200, body)
        return {r["key"]: r for r in json.loads(body)}

    def delivery(self, event, id):
        return self.seen().get("/%s/%s" % (event, id))

    def test_binary_mode(self):
        id = new_id("bin")
        status, hdrs, body = self.post(*binary(id, "com.example.order.created", "/anywhere", b'{"order": 7}',
                                               "application/json", {"ce-time": "2026-12-05T08:00:00Z"}))
        self.assertEqual(status, 202, body)
        self.assertEqual(body, b"")
        self.assertIn("x-request-id", hdrs)
        d = self.delivery("orders", id)
        self.assertIsNotNone(d, self.seen())
        self.assertEqual(d["method"], "POST")
        self.assertEqual(d["path"], "/orders")
        self.assertEqual((d["id"], d["type"], d["source"]), (id, "com.example.order.created", "/anywhere"))
        self.assertEqual(d["headers"]["ce-specversion"], "1.0")
        self.assertEqual(d["headers"]["ce-time"], "2026-12-05T08:00:00Z")
        self.assertEqual(d["headers"]["content-type"], "application/json")
        self.assertRegex(d["headers"]["traceparent"], TRACEPARENT)  # a new trace: the producer sent none
        self.assertEqual(d["body"], '{"order": 7}')  # the data as sent

    def test_knative_trigger_push(self):
        """A request exactly as a Knative Broker's Trigger delivers it:
        capitalised Ce-* headers, an extension, the producer's trace, a
        percent-encoded value, Content-Type and the data."""
        id = new_id("kn")
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        headers = {
            "Ce-Id": id,
            "Ce-Specversion": "1.0",
            "Ce-Source": "/apis/v1/namespaces/default/pingsources/test-ping",
            "Ce-Type": "dev.knative.sources.ping",
            "Ce-Time": "2026-12-05T08:00:00.123456Z",
            "Ce-Subject": "every%20minute",
            "Ce-Knativearrivaltime": "2026-12-05T08:00:00.2Z",
            "Traceparent": trace,
            "Prefer": "reply",
            "Content-Type": "application/json",
            "User-Agent": "Go-http-client/1.1",
        }
        status, _, body = self.post(headers, b'{"message": "Hello world!"}')
        self.assertEqual(status, 202, body)
        d = self.delivery("ping", id)
        self.assertIsNotNone(d, self.seen())
        h = d["headers"]
        self.assertEqual(h["ce-source"], "/apis/v1/namespaces/default/pingsources/test-ping")
        self.assertEqual(h["ce-subject"], "every minute")  # the binding's percent-encoding, decoded
        self.assertEqual(h["ce-knativearrivaltime"], "2026-12-05T08:00:00.2Z")
        # the producer's trace goes on (under kumo up the parent span is the
        # invocation's own, docs/traces.md)
        self.assertEqual(h["traceparent"][:36], trace[:36])
        self.assertEqual(h["traceparent"][-3:], trace[-3:])
        self.assertEqual(d["body"], '{"message": "Hello world!"}')
        # a PingSource without data: no body, no Content-Type
        id = new_id("kn")
        bare = {k: v for k, v in headers.items() if k != "Content-Type"}
        bare["Ce-Id"] = id
        status, _, body = self.post(bare, None)
        self.assertEqual(status, 202, body)
        d = self.delivery("ping", id)
        self.assertIsNotNone(d, self.seen())
        self.assertEqual(d["body"], "")
        self.assertNotIn("content-type", d["headers"])

    def test_structured_mode(self):
        id = new_id("st")
        event = {"specversion": "1.0", "id": id, "type": "com.example.order.created", "source": "/shop",
                 "subject": "order 9", "exint": 3, "exbool": True, "data": {"order": 9, "note": "caf\u00e9"}}
        status, _, body = self.post({"content-type": "application/cloudevents+json; charset=utf-8"},
                                    json.dumps(event).encode())
        self.assertEqual(status, 202, body)
        d = self.delivery("orders", id)
        self.assertIsNotNone(d, self.seen())
        h = d["headers"]
        self.assertEqual((h["ce-id"], h["ce-source"], h["ce-subject"]), (id, "/shop", "order 9"))
        self.assertEqual((h["ce-exint"], h["ce-exbool"]), ("3", "true"))
        self.assertEqual(h["content-type"], "application/json")  # no datacontenttype: JSON data
        self.assertEqual(json.loads(d["body"]), {"order": 9, "note": "caf\u00e9"})

    def test_structured_base64_and_source_filter(self):
        id = new_id("b64")
        event = {"specversion": "1.0", "id": id, "type": "com.example.shop.opened", "source": "/shop",
                 "datacontenttype": "text/plain", "data_base64": "b3BlbiBhdCA5"}
        status, _, body = self.post({"content-type": "application/cloudevents+json"}, json.dumps(event).encode())
        self.assertEqual(status, 202, body)
        d = self.delivery("shop", id)
        self.assertIsNotNone(d, self.seen())
        self.assertEqual(d["body"], "open at 9")
        self.assertEqual(d["headers"]["content-type"], "text/plain")
        # the same type from another source: the event "shop" takes /shop only
        other = new_id("b64")
        event.update(id=other, source="/elsewhere")
        status, hdrs, body = self.post({"content-type": "application/cloudevents+json"}, json.dumps(event).encode())
        self.assertEqual(status, 404, body)
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        p = json.loads(body)
        self.assertIn("'com.example.shop.opened'", p["detail"])
        self.assertIn("'/elsewhere'", p["detail"])
        self.assertIn("com.example.shop.opened (source /shop)", p["detail"])  # what the project takes
        self.assertIsNone(self.delivery("shop", other))

    def test_unknown_type(self):
        id = new_id("unk")
        status, _, body = self.post(*binary(id, "com.example.nobody", "/x", b"hi", "text/plain"))
        self.assertEqual(status, 404, body)
        p = json.loads(body)
        self.assertEqual(p["status"], 404)
        self.assertEqual(p["instance"], PATH)
        self.assertIn("'com.example.nobody'", p["detail"])
        self.assertIn("com.example.order.created", p["detail"])
        self.assertIn("dev.knative.sources.ping", p["detail"])
        self.assertFalse([k for k in self.seen() if k.endswith("/" + id)])

    def test_malformed(self):
        h, b = binary("x", "com.example.order.created", "/x", b'{"order":1}', "application/json")
        del h["ce-id"]
        status, hdrs, body = self.post(h, b)
        self.assertEqual(status, 400, body)
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        self.assertIn("no id", json.loads(body)["detail"])
        h, b = binary(new_id("v"), "com.example.order.created", "/x", b'{"order":1}', "application/json")
        h["ce-specversion"] = "0.3"
        status, _, body = self.post(h, b)
        self.assertEqual(status, 400, body)
        self.assertIn("specversion '0.3' is not 1.0", json.loads(body)["detail"])
        status, _, body = self.post({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0",')
        self.assertEqual(status, 400, body)
        self.assertIn("not JSON", json.loads(body)["detail"])
        status, _, body = self.post({"content-type": "text/plain"}, b"hello")
        self.assertEqual(status, 415, body)
        self.assertIn("no CloudEvent", json.loads(body)["detail"])
        status, hdrs, body = send(self.base, "GET", PATH, {}, None)
        self.assertEqual(status, 405, body)
        self.assertEqual(hdrs.get("allow"), "POST, OPTIONS")

    def test_webhook_handshake(self):
        """The CloudEvents webhook spec's abuse protection, as Azure Event
        Grid sends it before delivering."""
        status, hdrs, body = send(self.base, "OPTIONS", PATH, {"webhook-request-origin": "eventgrid.azure.net"}, None)
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs.get("webhook-allowed-origin"), "eventgrid.azure.net")
        self.assertEqual(hdrs.get("webhook-allowed-rate"), "*")
        self.assertIn("POST", hdrs.get("allow"))
        status, hdrs, _ = send(self.base, "OPTIONS", PATH, {}, None)
        self.assertEqual(status, 204)
        self.assertEqual(hdrs.get("allow"), "POST, OPTIONS")
        self.assertNotIn("webhook-allowed-origin", hdrs)

    def test_data_validated(self):
        id = new_id("bad")
        status, _, body = self.post(*binary(id, "com.example.order.created", "/x", b'{"order": "seven"}',
                                            "application/json"))
        self.assertEqual(status, 400, body)
        p = json.loads(body)
        self.assertIn("#/components/schemas/Order", p["detail"])
        self.assertEqual([e["pointer"] for e in p["errors"]], ["/order"])
        self.assertIsNone(self.delivery("orders", id))
        status, _, body = self.post(*binary(id, "com.example.order.created", "/x", b"seven", "text/plain"))
        self.assertEqual(status, 400, body)
        self.assertIn("takes JSON", json.loads(body)["detail"])
        self.assertIsNone(self.delivery("orders", id))

    def test_batch(self):
        ids = [new_id("batch") for _ in range(3)]
        events = [
            {"specversion": "1.0", "id": ids[0], "type": "com.example.order.created", "source": "/b",
             "data": {"order": 1}},
            {"specversion": "1.0", "id": ids[1], "type": "com.example.shop.opened", "source": "/shop"},
            {"specversion": "1.0", "id": ids[2], "type": "com.example.nobody", "source": "/b"},
        ]
        ct = {"content-type": "application/cloudevents-batch+json"}
        status, hdrs, body = self.post(ct, json.dumps(events).encode())
        self.assertEqual(status, 404, body)  # the worst event's status
        self.assertEqual(hdrs["content-type"], "application/problem+json")
        p = json.loads(body)
        self.assertEqual([(e["id"], e["status"]) for e in p["events"]], [(ids[0], 202), (ids[1], 202), (ids[2], 404)])
        self.assertIn("com.example.nobody", p["events"][2]["detail"])
        self.assertIsNotNone(self.delivery("orders", ids[0]))
        self.assertIsNotNone(self.delivery("shop", ids[1]))
        self.assertEqual(json.loads(self.delivery("orders", ids[0])["body"]), {"order": 1})
        # every event handled: 200 with each id and its status
        ok = [new_id("batch"), new_id("batch")]
        events = [dict(events[0], id=ok[0]), dict(events[1], id=ok[1])]
        status, hdrs, body = self.post(ct, json.dumps(events).encode())
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"events": [{"id": ok[0], "status": 202}, {"id": ok[1], "status": 202}]})
        # a malformed event refuses the whole batch before anything is delivered
        bad = [dict(events[0], id=new_id("batch")), {"specversion": "1.0", "type": "t", "source": "/s"}]
        status, _, body = self.post(ct, json.dumps(bad).encode())
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["errors"], [{"index": 1, "message": "has no id (attribute id)"}])
        self.assertIsNone(self.delivery("orders", bad[0]["id"]))

    def test_full_batch(self):
        """100 events (the most a batch may hold) to a unit of max: 4 and a
        pool queue of 64: none is refused, each is handled once."""
        ids = [new_id("full") for _ in range(100)]
        events = [{"specversion": "1.0", "id": i, "type": "com.example.shop.opened", "source": "/shop"} for i in ids]
        status, _, body = self.post({"content-type": "application/cloudevents-batch+json"},
                                    json.dumps(events).encode())
        self.assertEqual(status, 200, body[:2000])
        self.assertEqual(json.loads(body)["events"], [{"id": i, "status": 202} for i in ids])
        seen = self.seen()
        self.assertEqual([i for i in ids if "/shop/" + i not in seen], [])
        too_many = events + [dict(events[0], id=new_id("full"))]
        status, _, body = self.post({"content-type": "application/cloudevents-batch+json"},
                                    json.dumps(too_many).encode())
        self.assertEqual(status, 413, body)

    def test_handler_failure(self):
        status, hdrs, body = self.post(*binary(new_id("fail"), "com.example.broken", "/x"))
        self.assertEqual(status, 503, body)
        self.assertEqual(hdrs.get("retry-after"), "1")
        p = json.loads(body)
        self.assertIn("ce.fail", p["detail"])
        self.assertIn("the billing service is down", p["detail"])


class KumoUpTest(Cases, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("cloudevents", PROJECTS)
        cls.gw = Gateway(cls.dir)
        cls.base = cls.gw.base

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_log_lines(self):
        id = new_id("log")
        status, hdrs, _ = self.post(*binary(id, "com.example.order.created", "/x", b'{"order":2}',
                                            "application/json"))
        self.assertEqual(status, 202)
        rid = hdrs["x-request-id"]
        # the access log is written in batches: wait (bounded) for the line
        access = wait_for(lambda: [l for l in self.gw.log_lines()
                                   if l.get("msg") == "request" and l.get("request_id") == rid])
        self.assertEqual([(l["path"], l["status"]) for l in access], [(PATH, 202)])
        lines = self.gw.log_lines()
        events = [l for l in lines if l.get("msg") == "event" and l.get("ce_id") == id]
        self.assertEqual([(l["event"], l["status"]) for l in events], [("orders", 202)])


    def test_docs_lists_the_events_not_the_contract(self):
        status, _, page = send(self.base, "GET", "/docs", {}, None)
        self.assertEqual(status, 200)
        m = re.search(rb'<script id="kumo-config" type="application/json">(.*?)</script>', page, re.S)
        by_name = {e["name"]: e for e in json.loads(m.group(1))["events"]["list"]}
        self.assertEqual(by_name["orders"], {"name": "orders", "handler": "ce.record", "kind": "cloudevent",
                                             "type": "com.example.order.created", "source": None,
                                             "data": "#/components/schemas/Order", "endpoint": PATH})
        self.assertEqual(by_name["shop"]["source"], "/shop")
        # kumo's endpoint is not part of the user's contract
        status, _, spec = send(self.base, "GET", "/openapi.json", {}, None)
        self.assertEqual(status, 200)
        self.assertNotIn("_kumo", json.loads(spec)["paths"])


class KumoHostTest(Cases, unittest.TestCase):
    """The same under kumo-host's http adapter (Cloud Run, Knative)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("cloudevents", PROJECTS)
        Gateway(cls.dir).stop()  # builds the unit
        cls.data = tempfile.mkdtemp(prefix="kumo-ce-host-")
        port = free_port()
        cls.srv = Server([HOST, "http", cls.dir], port, env={"PORT": str(port), "KUMO_DATA": cls.data})
        cls.base = cls.srv.base

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        out = cls.srv.output()
        shutil.rmtree(cls.data, ignore_errors=True)
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError(out[-4000:])


class LoadTest(unittest.TestCase):
    """`kumo events` lists the cloudevent events; what is refused when the
    project loads, at file:line:column."""

    def test_kumo_events_lists_them(self):
        d = copy_project("cloudevents", PROJECTS)
        try:
            r = subprocess.run([KUMO, "events", d, "--json"], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            by_name = {e["name"]: e for e in json.loads(r.stdout)}
            self.assertEqual(by_name["shop"], {"name": "shop", "handler": "ce.record", "kind": "cloudevent",
                                               "type": "com.example.shop.opened", "source": "/shop"})
            self.assertEqual(by_name["orders"]["data"], "#/components/schemas/Order")
            r = subprocess.run([KUMO, "events", d], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("shop  ce.record  cloudevent type com.example.shop.opened  source /shop  data: any  "
                          "(POST /_kumo/events)", r.stdout)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def up_fails(self, edit):
        """kumo up refuses the edited project, and kumo lint says the same."""
        d = copy_project("cloudevents", PROJECTS)
        try:
            edit(d)
            r = subprocess.run([KUMO, "up", d, "--port", "0", "--admin-port", "0"], capture_output=True, text=True,
                               timeout=120)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            lint = subprocess.run([KUMO, "lint", d], capture_output=True, text=True, timeout=120)
            self.assertEqual(lint.returncode, 1, lint.stdout + lint.stderr)
            first = r.stderr.split(": ", 1)[1].split(": ", 1)[1]  # past "kumo up: " and the file:line:col
            self.assertIn(first.strip(), lint.stdout)
            return r.stderr
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_kumo_path_in_the_api_refused(self):
        def edit(d):
            text = open(os.path.join(d, "openapi.yaml")).read()
            text = text.replace("paths:\n", "paths:\n  /_kumo/mine:\n    get:\n      operationId: mine\n"
                                "      responses: {\"200\": {description: x}}\n", 1)
            open(os.path.join(d, "openapi.yaml"), "w").write(text)
        err = self.up_fails(edit)
        self.assertRegex(err, r"openapi\.yaml:4:3: paths: '/_kumo/mine' is under /_kumo/")

    def test_unknown_data_schema_refused(self):
        def edit(d):
            text = open(os.path.join(d, "kumo.yaml")).read()
            open(os.path.join(d, "kumo.yaml"), "w").write(text.replace("schemas/Order", "schemas/Nope"))
        err = self.up_fails(edit)
        self.assertRegex(err, r"kumo\.yaml:\d+:\d+: events\.orders\.data")
        self.assertIn("#/components/schemas/Nope", err)


if __name__ == "__main__":
    unittest.main()
