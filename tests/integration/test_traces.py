"""Traces (issue 14): `kumo up` exports spans over OTLP/HTTP, binary
protobuf by default and JSON when asked, to a real HTTP receiver started by
the test (a small http.server recording each POST /v1/traces, reading
protobuf with otlp_pb.py), and the test reads them back as a collector
would.

- an HTTP request with a W3C traceparent continues its trace: the SERVER
  span's parent is the caller's span, http.route is the OpenAPI template,
  "queue wait" and "invoke UNIT.SYMBOL" are its children, the handler's
  store calls are CLIENT spans under the invoke span, and the handler's
  kumo_ctx_traceparent names the invoke span;
- no traceparent, or a malformed one, starts a new trace; an unsampled
  one (flags 00) records nothing and is passed on unsampled;
- a schedule tick fired by hand and a queue message are CONSUMER spans
  with their handlers' work in the same trace;
- a message carries its sender's trace context: the delivery's CONSUMER
  span is in the sender's trace, the child of its "queue.send" CLIENT
  span, so a tick whose handler sends to a queue, and that message's
  handler, are one trace; a message sent with none (the admin port's
  send, as `kumo invoke` of a queue event does) starts a trace of its own;
- an exporter that is down (a closed port) costs no request: every
  request is answered, and /metrics counts the spans as dropped, none
  exported;
- http/json (OTEL_EXPORTER_OTLP_PROTOCOL or observability.traces.protocol)
  sends the same spans as JSON;
- a protocol kumo does not speak (grpc) is refused at start.
"""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import unittest
import urllib.request

import otlp_pb
from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP receiver: records every POST /v1/traces, JSON or
    protobuf (read into the JSON shape), by its content type."""

    def __init__(self):
        self.bodies = []
        self.paths = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                ctype = self.headers.get("content-type")
                doc = otlp_pb.export_request(body) if ctype == "application/x-protobuf" else json.loads(body)
                with receiver.lock:
                    receiver.paths.append((self.path, ctype))
                    receiver.bodies.append(doc)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def spans(self):
        """Every span received, each with its resource's attributes."""
        out = []
        with self.lock:
            bodies = list(self.bodies)
        for b in bodies:
            for rs in b["resourceSpans"]:
                res = attrs(rs["resource"])
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        s = dict(s)
                        s["resource"] = res
                        out.append(s)
        return out

    def trace(self, trace_id):
        return [s for s in self.spans() if s["traceId"] == trace_id]


def attrs(obj):
    """OTLP attributes as a dict of plain values."""
    out = {}
    for a in obj.get("attributes", []):
        v = a["value"]
        if "stringValue" in v:
            out[a["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[a["key"]] = int(v["intValue"])
        elif "boolValue" in v:
            out[a["key"]] = v["boolValue"]
    return out


def get(gw, path, headers=None):
    req = urllib.request.Request(gw.base + path, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"null")


def post(url, headers=None):
    req = urllib.request.Request(url, data=None, method="POST", headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def metric(gw, name):
    with urllib.request.urlopen(gw.admin + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def stop_clean(test, gw):
    rc = gw.stop()
    err = gw.stderr()
    if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
        raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))


class TracesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        cls.dir = copy_project("traces", PROJECTS)
        with open(os.path.join(cls.dir, "kumo.yaml"), "a") as f:
            f.write("observability:\n  traces:\n    endpoint: http://127.0.0.1:%d\n" % cls.rx.port)
        env = {k: "" for k in os.environ if k.startswith("OTEL_")}
        cls.gw = Gateway(cls.dir, env=env)

    @classmethod
    def tearDownClass(cls):
        try:
            stop_clean(cls, cls.gw)
        finally:
            cls.rx.stop()
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def wait_trace(self, trace_id, n):
        spans = wait_for(lambda: self.rx.trace(trace_id) if len(self.rx.trace(trace_id)) >= n else None, timeout=20)
        self.assertTrue(spans, "spans of %s: %s\n%s" % (trace_id, self.rx.trace(trace_id), self.gw.stderr()[-2000:]))
        return spans

    def test_http_request_continues_the_callers_trace(self):
        tp = "00-%s-%s-01" % (TRACE_ID, CALLER_SPAN)
        status, headers, body = get(self.gw, "/items/a1", {"traceparent": tp, "tracestate": "vendor=abc"})
        self.assertEqual(status, 200)
        # the handler's context: same trace, sampled, its own span
        m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", body["traceparent"] or "")
        self.assertTrue(m, body)
        self.assertEqual(m.group(1), TRACE_ID)
        self.assertNotEqual(m.group(2), CALLER_SPAN)
        invoke_id = m.group(2)

        spans = self.wait_trace(TRACE_ID, 5)
        by_name = {s["name"]: s for s in spans}
        server = by_name.get("GET /items/{id}")
        self.assertIsNotNone(server, [s["name"] for s in spans])
        self.assertEqual(server["kind"], 2)  # SERVER
        self.assertEqual(server["parentSpanId"], CALLER_SPAN)
        a = attrs(server)
        self.assertEqual(a["http.route"], "/items/{id}")
        self.assertEqual(a["url.path"], "/items/a1")
        self.assertEqual(a["http.request.method"], "GET")
        self.assertEqual(a["http.response.status_code"], 200)
        self.assertEqual(a["faas.trigger"], "http")
        self.assertEqual(a["faas.invocation_id"], headers["x-request-id"])
        self.assertIn(a["faas.coldstart"], (True, False))
        self.assertEqual(a["faas.name"], "traces")
        self.assertEqual(a["kumo.operation"], "getItem")
        self.assertEqual(server["resource"]["service.name"], "traces")
        self.assertEqual(server["resource"]["telemetry.sdk.name"], "kumo")
        self.assertLessEqual(int(server["startTimeUnixNano"]), int(server["endTimeUnixNano"]))

        wait = by_name["queue wait"]
        self.assertEqual(wait["parentSpanId"], server["spanId"])
        invoke = by_name["invoke traces.get_item"]
        self.assertEqual(invoke["parentSpanId"], server["spanId"])
        self.assertEqual(invoke["spanId"], invoke_id)
        self.assertGreaterEqual(int(invoke["startTimeUnixNano"]), int(server["startTimeUnixNano"]))
        self.assertLessEqual(int(invoke["endTimeUnixNano"]), int(server["endTimeUnixNano"]))

        clients = [s for s in spans if s["kind"] == 3]
        self.assertEqual(sorted(s["name"] for s in clients), ["kv.get items", "kv.put items"])
        for c in clients:
            self.assertEqual(c["parentSpanId"], invoke_id)
            ca = attrs(c)
            self.assertEqual(ca["kumo.store"], "items")
            self.assertEqual(ca["db.system"], "sqlite")
            self.assertEqual(c.get("status", {}).get("code", 0), 0)
        self.assertEqual(self.rx.paths[0], ("/v1/traces", "application/x-protobuf"))

    def test_no_or_malformed_traceparent_starts_a_trace(self):
        for headers in ({}, {"traceparent": "00-%s-%s-01" % ("0" * 32, CALLER_SPAN)},
                        {"traceparent": "garbage"}):
            status, _, body = get(self.gw, "/items/b2", headers)
            self.assertEqual(status, 200)
            m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", body["traceparent"] or "")
            self.assertTrue(m, body)
            self.assertNotEqual(m.group(1), "0" * 32)
            spans = self.wait_trace(m.group(1), 5)
            server = [s for s in spans if s["kind"] == 2]
            self.assertEqual(len(server), 1)
            self.assertNotIn("parentSpanId", server[0])  # the root

    def test_unsampled_caller_records_nothing(self):
        unsampled = "5" * 32
        _, _, body = get(self.gw, "/items/c3", {"traceparent": "00-%s-%s-00" % (unsampled, CALLER_SPAN)})
        self.assertTrue(body["traceparent"].startswith("00-%s-" % unsampled), body)
        self.assertTrue(body["traceparent"].endswith("-00"), body)
        # a sampled request after it: once its spans are in, the exporter
        # has sent everything buffered before them
        sampled = "6" * 32
        get(self.gw, "/items/c4", {"traceparent": "00-%s-%s-01" % (sampled, CALLER_SPAN)})
        self.wait_trace(sampled, 5)
        self.assertEqual(self.rx.trace(unsampled), [])

    def test_schedule_tick_is_one_trace(self):
        self.assertEqual(post(self.gw.admin + "/events/nightly/fire"), 200)
        consumer = wait_for(lambda: [s for s in self.rx.spans() if s["name"] == "process nightly"], timeout=20)
        self.assertTrue(consumer, self.gw.stderr()[-2000:])
        c = consumer[0]
        self.assertEqual(c["kind"], 5)  # CONSUMER
        self.assertNotIn("parentSpanId", c)
        self.assertEqual(attrs(c)["faas.trigger"], "timer")
        spans = self.wait_trace(c["traceId"], 4)
        invoke = [s for s in spans if s["name"] == "invoke traces.nightly"]
        self.assertEqual(len(invoke), 1)
        self.assertEqual(invoke[0]["parentSpanId"], c["spanId"])
        put = [s for s in spans if s["name"] == "kv.put items"]
        self.assertEqual(len(put), 1)
        self.assertEqual(put[0]["parentSpanId"], invoke[0]["spanId"])

    def test_queue_message_is_a_consumer_span(self):
        trace_id = "7" * 32
        status = post(self.gw.base + "/send", {"traceparent": "00-%s-%s-01" % (trace_id, CALLER_SPAN)})
        self.assertEqual(status, 204)
        spans = self.wait_trace(trace_id, 4)
        send = [s for s in spans if s["name"] == "queue.send jobs"]
        self.assertEqual(len(send), 1, [s["name"] for s in spans])
        self.assertEqual(send[0]["kind"], 3)
        self.assertEqual(attrs(send[0])["messaging.system"], "sqlite")
        self.assertEqual(attrs(send[0])["messaging.destination.name"], "jobs")
        # the delivery continues the sender's trace, under its send span
        consumer = wait_for(lambda: [s for s in self.rx.trace(trace_id) if s["name"] == "process work"], timeout=20)
        self.assertTrue(consumer, "%s\n%s" % ([s["name"] for s in self.rx.trace(trace_id)], self.gw.stderr()[-2000:]))
        c = consumer[0]
        self.assertEqual(c["kind"], 5)
        self.assertEqual(attrs(c)["faas.trigger"], "pubsub")
        self.assertEqual(c["parentSpanId"], send[0]["spanId"])
        work = self.wait_trace(trace_id, 8)
        self.assertEqual(len([s for s in work if s["name"] == "kv.put items"]), 1)

    def test_batch_links_the_other_messages_sends(self):
        # two sends in two traces, delivered in one call (batch: 2): the
        # CONSUMER span continues the first message's trace and links the
        # second's send span
        a, b = "a" * 32, "b" * 32
        for trace_id in (a, b):
            status = post(self.gw.base + "/send-bulk", {"traceparent": "00-%s-%s-01" % (trace_id, CALLER_SPAN)})
            self.assertEqual(status, 204)
        sends = {}
        for trace_id in (a, b):
            spans = self.wait_trace(trace_id, 4)
            send = [s for s in spans if s["name"] == "queue.send bulk"]
            self.assertEqual(len(send), 1, [s["name"] for s in spans])
            sends[trace_id] = send[0]
        consumer = wait_for(lambda: [s for s in self.rx.spans() if s["name"] == "process bulkwork"], timeout=40)
        self.assertTrue(consumer, self.gw.stderr()[-2000:])
        self.assertEqual(len(consumer), 1, "one call for the two messages")
        c = consumer[0]
        first, other = (a, b) if c["traceId"] == a else (b, a)
        self.assertEqual(c["parentSpanId"], sends[first]["spanId"])
        self.assertEqual(attrs(c)["messaging.batch.message_count"], 2)
        self.assertEqual([(l["traceId"], l["spanId"]) for l in c.get("links", [])],
                         [(other, sends[other]["spanId"])], c)

    def test_schedule_tick_and_its_message_are_one_trace(self):
        self.assertEqual(post(self.gw.admin + "/events/chain/fire"), 200)
        tick = wait_for(lambda: [s for s in self.rx.spans() if s["name"] == "process chain"], timeout=20)
        self.assertTrue(tick, self.gw.stderr()[-2000:])
        trace_id = tick[0]["traceId"]
        self.assertNotIn("parentSpanId", tick[0])  # the tick starts the trace
        spans = wait_for(lambda: self.rx.trace(trace_id) if any(
            s["name"] == "kv.put items" for s in self.rx.trace(trace_id)) else None, timeout=20)
        self.assertTrue(spans, "%s\n%s" % ([s["name"] for s in self.rx.trace(trace_id)], self.gw.stderr()[-2000:]))
        by_name = {}
        for s in spans:
            by_name.setdefault(s["name"], []).append(s)
        send = by_name["queue.send jobs"]
        self.assertEqual(len(send), 1)
        self.assertEqual(send[0]["kind"], 3)  # CLIENT
        self.assertEqual(send[0]["parentSpanId"], by_name["invoke traces.chain"][0]["spanId"])
        work = by_name["process work"]
        self.assertEqual(len(work), 1)
        self.assertEqual(work[0]["kind"], 5)  # CONSUMER
        self.assertEqual(work[0]["parentSpanId"], send[0]["spanId"])
        record = by_name["invoke traces.record"]
        self.assertEqual(record[0]["parentSpanId"], work[0]["spanId"])
        self.assertEqual(by_name["kv.put items"][0]["parentSpanId"], record[0]["spanId"])

    def test_message_sent_without_trace_starts_its_own(self):
        req = urllib.request.Request(self.gw.admin + "/events/work/send", data=b"no trace", method="POST",
                                     headers={"content-type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=60) as r:
            answer = json.loads(r.read())
        self.assertEqual(answer.get("status"), 204, answer)
        rid = answer["request_id"]
        consumer = wait_for(lambda: [s for s in self.rx.spans() if s["name"] == "process work" and
                                     attrs(s).get("faas.invocation_id") == rid], timeout=20)
        self.assertTrue(consumer, self.gw.stderr()[-2000:])
        self.assertNotIn("parentSpanId", consumer[0])  # a root: a trace of its own
        work = self.wait_trace(consumer[0]["traceId"], 3)
        self.assertEqual([s["name"] for s in work if s["kind"] == 3], ["kv.put items"])

    def test_metrics_count_exported_spans(self):
        get(self.gw, "/items/d5")
        n = wait_for(lambda: (metric(self.gw, "kumo_trace_spans_exported_total") or 0) >= 5 and
                     metric(self.gw, "kumo_trace_spans_exported_total"), timeout=20)
        self.assertTrue(n)
        self.assertEqual(metric(self.gw, "kumo_trace_spans_dropped_total"), 0)


class HostTracesTest(unittest.TestCase):
    """kumo-host http continues the platform's traceparent and exports the
    same spans (but the queue wait: it runs the handler in process)."""

    def test_host_http(self):
        rx = Receiver()
        d = copy_project("traces", PROJECTS)
        env = {k: "" for k in os.environ if k.startswith("OTEL_")}
        try:
            gw = Gateway(d, env=env)  # builds the unit
            stop_clean(self, gw)
            port = free_port()
            host = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
            env.update({"PORT": str(port), "KUMO_DATA": os.path.join(os.path.dirname(d), "host-data"),
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:%d/v1/traces" % rx.port,
                        "OTEL_SERVICE_NAME": "traces-on-host"})
            e = dict(os.environ)
            e.update(env)
            log = open(os.path.join(os.path.dirname(d), "host.log"), "w+")
            proc = subprocess.Popen([host, "http", d, "traces"], env=e, stdout=log, stderr=log)
            try:
                base = "http://127.0.0.1:%d" % port

                h = type("Host", (), {"base": base})
                ok = wait_for(lambda: proc.poll() is None and _answers(base), timeout=30)
                self.assertTrue(ok, open(log.name).read())
                tp = "00-%s-%s-01" % (TRACE_ID, CALLER_SPAN)
                status, _, body = get(h, "/items/h1", {"traceparent": tp})
                self.assertEqual(status, 200)
                invoke_id = body["traceparent"].split("-")[2]
                self.assertTrue(body["traceparent"].startswith("00-%s-" % TRACE_ID), body)
                spans = wait_for(lambda: rx.trace(TRACE_ID) if len(rx.trace(TRACE_ID)) >= 4 else None, timeout=20)
                self.assertTrue(spans, open(log.name).read()[-3000:])
                server = [s for s in spans if s["kind"] == 2][0]
                self.assertEqual(server["name"], "GET /items/{id}")
                self.assertEqual(server["parentSpanId"], CALLER_SPAN)
                self.assertEqual(server["resource"]["service.name"], "traces-on-host")
                self.assertEqual(attrs(server)["faas.coldstart"], True)  # the instance's first
                invoke = [s for s in spans if s["name"] == "invoke traces.get_item"][0]
                self.assertEqual(invoke["spanId"], invoke_id)
                self.assertEqual(invoke["parentSpanId"], server["spanId"])
                clients = [s for s in spans if s["kind"] == 3]
                self.assertEqual(sorted(s["name"] for s in clients), ["kv.get items", "kv.put items"])
                self.assertTrue(all(c["parentSpanId"] == invoke_id for c in clients))

                # a tick pushed to kumo-host (a Knative PingSource's CloudEvent)
                tick_trace = "8" * 32
                req = urllib.request.Request(base + "/_kumo/events/nightly", data=b"{}", method="POST", headers={
                    "ce-specversion": "1.0", "ce-id": "ping-1", "ce-type": "dev.knative.sources.ping",
                    "ce-source": "/apis/v1/namespaces/default/pingsources/nightly", "content-type": "application/json",
                    "traceparent": "00-%s-%s-01" % (tick_trace, CALLER_SPAN)})
                with urllib.request.urlopen(req, timeout=30) as r:
                    self.assertLess(r.status, 300)
                spans = wait_for(lambda: rx.trace(tick_trace) if len(rx.trace(tick_trace)) >= 3 else None, timeout=20)
                self.assertTrue(spans, open(log.name).read()[-3000:])
                consumer = [s for s in spans if s["kind"] == 5][0]
                self.assertEqual(consumer["name"], "process nightly")
                self.assertEqual(consumer["parentSpanId"], CALLER_SPAN)
                self.assertEqual(attrs(consumer)["faas.trigger"], "timer")
                invoke = [s for s in spans if s["name"] == "invoke traces.nightly"][0]
                put = [s for s in spans if s["name"] == "kv.put items"][0]
                self.assertEqual(put["parentSpanId"], invoke["spanId"])
            finally:
                proc.terminate()
                rc = proc.wait(timeout=20)
                log.close()
            out = open(log.name).read()
            self.assertEqual(rc, 0, out[-3000:])
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error:", out)
        finally:
            rx.stop()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


def _answers(base):
    try:
        urllib.request.urlopen(base + "/openapi.json", timeout=2).read()
        return True
    except OSError:
        return False


class LambdaTraceTest(unittest.TestCase):
    """kumo-host lambda under `kumo emulate lambda`: the invocation's X-Ray
    header (Lambda-Runtime-Trace-Id) becomes the handler's traceparent and
    the SERVER span's parent."""

    def test_xray_header_continued(self):
        from test_emulate_lambda import Emulator, make_zip
        host = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
        rx = Receiver()
        d = copy_project("traces", PROJECTS)
        tmp = os.path.dirname(d)
        env = {k: "" for k in os.environ if k.startswith("OTEL_")}
        try:
            stop_clean(self, Gateway(d, env=env))  # builds the unit
            def read(path):
                with open(path, "rb") as f:
                    return f.read()
            files = {
                "bootstrap": (0o755, '#!/bin/sh\ncd "$(dirname "$0")"\nexec "$KUMO_HOST" lambda app traces\n'),
                "app/kumo.yaml": (0o644, read(os.path.join(d, "kumo.yaml"))),
                "app/openapi.yaml": (0o644, read(os.path.join(d, "openapi.yaml"))),
                "app/.kumo/build/local/traces.so": (0o755, read(os.path.join(d, ".kumo/build/local/traces.so"))),
            }
            zp = os.path.join(tmp, "traces.zip")
            make_zip(zp, files)
            # the emulator's X-Ray header says Sampled=0: always_on records anyway
            env.update({"KUMO_HOST": os.path.abspath(host), "OTEL_TRACES_SAMPLER": "always_on",
                        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % rx.port})
            emu = Emulator(zp, tmp, (), env)
            try:
                status, _, body = emu.request("GET", "/items/l1")
                self.assertEqual(status, 200, body.decode(errors="replace") + emu.stderr())
                tp = json.loads(body)["traceparent"]
                m = re.fullmatch(r"00-([0-9a-f]{8})([0-9a-f]{24})-([0-9a-f]{16})-01", tp)
                self.assertTrue(m, tp)
                # Root=1-<epoch seconds, hex>-<24 hex>: the trace id's first 8 digits are the time
                self.assertLess(abs(int(m.group(1), 16) - time.time()), 300, tp)
                trace_id = m.group(1) + m.group(2)
                spans = wait_for(lambda: rx.trace(trace_id) if len(rx.trace(trace_id)) >= 4 else None, timeout=20)
                self.assertTrue(spans, emu.stderr()[-3000:])
                server = [s for s in spans if s["kind"] == 2][0]
                self.assertRegex(server.get("parentSpanId", ""), r"^[0-9a-f]{16}$")  # X-Ray's Parent
                invoke = [s for s in spans if s["name"] == "invoke traces.get_item"][0]
                self.assertEqual(invoke["spanId"], m.group(3))
            finally:
                rc = emu.stop()
            self.assertEqual(rc, 0, emu.stderr_text[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", emu.stderr_text)
        finally:
            rx.stop()
            shutil.rmtree(tmp, ignore_errors=True)


class ExporterDownTest(unittest.TestCase):
    """The collector is a closed port: requests are answered as ever, and
    the spans are counted as dropped."""

    def test_requests_answered_spans_dropped(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        d = copy_project("traces", PROJECTS)
        env = {k: "" for k in os.environ if k.startswith("OTEL_")}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % closed
        gw = Gateway(d, env=env)
        try:
            self.assertIn("traces   http://127.0.0.1:%d/v1/traces" % closed, gw.stdout())
            for i in range(20):
                status, _, body = get(gw, "/items/e%d" % i)
                self.assertEqual(status, 200)
                self.assertTrue(body["traceparent"])
            # 20 requests, 5 spans each (server, queue wait, invoke, 2 store calls)
            dropped = wait_for(lambda: metric(gw, "kumo_trace_spans_dropped_total") == 100, timeout=30)
            self.assertTrue(dropped, "dropped: %s" % metric(gw, "kumo_trace_spans_dropped_total"))
            self.assertEqual(metric(gw, "kumo_trace_spans_exported_total"), 0)
            warn = [line for line in gw.log_lines() if "spans are dropped until it answers" in line.get("msg", "")]
            self.assertEqual(len(warn), 1, warn)  # said once, not per batch
        finally:
            stop_clean(self, gw)
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


class JsonProtocolTest(unittest.TestCase):
    """http/json, from kumo.yaml or the OpenTelemetry variable: the same
    spans, as OTLP JSON."""

    def run_json(self, env, yaml_extra):
        rx = Receiver()
        d = copy_project("traces", PROJECTS)
        with open(os.path.join(d, "kumo.yaml"), "a") as f:
            f.write("observability:\n  traces:\n    endpoint: http://127.0.0.1:%d\n%s" % (rx.port, yaml_extra))
        e = {k: "" for k in os.environ if k.startswith("OTEL_")}
        e.update(env)
        gw = Gateway(d, env=e)
        try:
            status, _, body = get(gw, "/items/j1")
            self.assertEqual(status, 200)
            trace_id = body["traceparent"].split("-")[1]
            spans = wait_for(lambda: rx.trace(trace_id) if len(rx.trace(trace_id)) >= 3 else None, timeout=20)
            self.assertTrue(spans, rx.spans())
            self.assertIn("GET /items/{id}", [s["name"] for s in spans])
            self.assertEqual({p for p in rx.paths}, {("/v1/traces", "application/json")})
        finally:
            stop_clean(self, gw)
            rx.stop()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_from_kumo_yaml(self):
        self.run_json({}, "    protocol: http/json\n")

    def test_from_the_variable_over_kumo_yaml(self):
        self.run_json({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "    protocol: http/protobuf\n")


def idle_threads(pid):
    """How many threads of process pid run under SCHED_IDLE (policy 5,
    /proc/PID/task/TID/stat's 41st field)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        n += fields[38] == "5"  # field 41, counted from the state (field 3)
    return n


class ExporterPriorityTest(unittest.TestCase):
    """observability.traces.exporter_priority: idle (the default) puts the
    exporter thread under SCHED_IDLE; normal leaves it at the loops'
    priority. Spans arrive either way. The log store (whose writer is idle
    too) is off here, so the exporter is the only candidate."""

    def run_with(self, yaml_extra):
        rx = Receiver()
        d = copy_project("traces", PROJECTS)
        with open(os.path.join(d, "kumo.yaml"), "a") as f:
            f.write("observability:\n  logs: {max_size: 0}\n  traces:\n    endpoint: http://127.0.0.1:%d\n%s"
                    % (rx.port, yaml_extra))
        gw = Gateway(d, env={k: "" for k in os.environ if k.startswith("OTEL_")})
        try:
            status, _, body = get(gw, "/items/p1")
            self.assertEqual(status, 200)
            trace_id = body["traceparent"].split("-")[1]
            self.assertTrue(wait_for(lambda: len(rx.trace(trace_id)) >= 3, timeout=20), rx.spans())
            return idle_threads(gw.proc.pid)
        finally:
            stop_clean(self, gw)
            rx.stop()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_idle_by_default(self):
        self.assertEqual(self.run_with(""), 1)

    def test_normal(self):
        self.assertEqual(self.run_with("    exporter_priority: normal\n"), 0)


class RefusedConfigTest(unittest.TestCase):
    def run_up(self, env, yaml_extra=""):
        d = copy_project("traces", PROJECTS)
        try:
            if yaml_extra:
                with open(os.path.join(d, "kumo.yaml"), "a") as f:
                    f.write(yaml_extra)
            e = dict(os.environ)
            for k in list(e):
                if k.startswith("OTEL_"):
                    del e[k]
            e.update(env)
            p = subprocess.run([KUMO, "up", d, "--port", str(free_port()), "--admin-port", str(free_port())],
                               env=e, capture_output=True, text=True, timeout=120)
            return p.returncode, p.stderr
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_grpc_protocol_is_refused(self):
        rc, err = self.run_up({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
        self.assertNotEqual(rc, 0)
        self.assertIn("OTEL_EXPORTER_OTLP_PROTOCOL=grpc", err)
        self.assertIn("http/json", err)
        self.assertIn("http/protobuf", err)

    def test_grpc_in_kumo_yaml_is_refused(self):
        rc, err = self.run_up({}, "observability:\n  traces:\n    protocol: grpc\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("observability.traces.protocol must be http/protobuf", err)

    def test_unknown_exporter_priority_is_refused(self):
        rc, err = self.run_up({}, "observability:\n  traces:\n    exporter_priority: high\n")
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"kumo\.yaml:\d+:\d+: observability\.traces\.exporter_priority must be idle")

    def test_unknown_sampler_is_refused(self):
        rc, err = self.run_up({"OTEL_TRACES_SAMPLER": "sometimes"})
        self.assertNotEqual(rc, 0)
        self.assertIn("OTEL_TRACES_SAMPLER", err)
        self.assertIn("parentbased_traceidratio", err)


if __name__ == "__main__":
    unittest.main()
