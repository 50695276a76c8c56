"""Events on AWS (issue 13): the template and the Lambda adapter.

TemplateTest: projects/events_aws (a schedule, a queue event with batch 1,
one with batch 5 and a window; plus a topic and a blob event once kumo.yaml
takes them) deployed with `kumo deploy --target aws` to moto's server:
cfn-lint finds no error, the stack is CREATE_COMPLETE, and the aws CLI
finds each event source mapping (batch size, window,
ReportBatchItemFailures) and the queues' visibility and redrive policy.
moto's CloudFormation (5.2) skips AWS::Scheduler::Schedule,
AWS::SNS::Subscription, AWS::SQS::QueuePolicy and a bucket's
NotificationConfiguration, so those are created from the template's own
properties through the aws CLI (scheduler create-schedule, sns subscribe,
s3api put-bucket-notification-configuration) and read back: moto's API
takes exactly what the template says. What EventBridge cannot express is
refused at kumo.yaml's line and column (a seconds field, a window under a
second, a cloudevent event).

ParityTest: the same project under `kumo up` and, built by `kumo build
--target aws`, under `kumo emulate lambda` (the Lambda Invoke API feeds it
SQS, SNS, S3 and EventBridge payloads as those services send them): the
same queue messages and the same tick give the same handler effects (the
records the handlers keep in a kv store: the CloudEvents type, source,
subject, content type and body), a failing message is retried under kumo
up and reported in batchItemFailures on Lambda, and a batch of 3 with one
failing item answers exactly that item, its structured events the ones
kumo up's batch mode sends for the same messages.

BackoffTest: a failed message is backed off on Lambda as under kumo up
(ChangeMessageVisibility to the event's backoff), checked on moto's SQS.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for
from test_traces import Receiver, attrs

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
TOPIC_BLOB = """  billing: {topic: orders, handler: ev.record, visibility: 10s}
  thumbs: {blob: files, on: [created, deleted], prefix: "img/", suffix: ".png", handler: ev.record, max_receives: 2}
"""


def add_topic_blob(project):
    """Adds the topic and blob events; True when kumo.yaml takes them."""
    path = os.path.join(project, "kumo.yaml")
    with open(path) as f:
        text = f.read()
    new = text.replace("stores: {kv: [seen], queue: [jobs, bulk, typed]}",
                       "stores: {kv: [seen], queue: [jobs, bulk, typed], blob: [files], topic: [orders]}") + TOPIC_BLOB
    with open(path, "w") as f:
        f.write(new)
    p = subprocess.run([KUMO, "lint", project], capture_output=True, text=True, timeout=60)
    if p.returncode != 0 and "not implemented yet" in p.stdout + p.stderr:
        with open(path, "w") as f:
            f.write(text)
        return False
    return True


def aws_env():
    env = dict(os.environ)
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"):
        env.pop(k, None)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return env


class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-events-aws-")
        cls.port = free_port()
        cls.endpoint = "http://127.0.0.1:%d" % cls.port
        cls.env = aws_env()
        cls.moto_log = open(os.path.join(cls.tmp, "moto.log"), "w")
        cls.moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(cls.port)],
                                    stdout=cls.moto_log, stderr=subprocess.STDOUT, env=cls.env)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(cls.endpoint + "/moto-api/", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or cls.moto.poll() is not None:
                    cls.tearDownClass()
                    raise RuntimeError("moto_server did not start; see %s/moto.log" % cls.tmp)
                time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        if cls.moto.poll() is None:
            cls.moto.send_signal(signal.SIGTERM)
            try:
                cls.moto.wait(10)
            except subprocess.TimeoutExpired:
                cls.moto.kill()
                cls.moto.wait()
        cls.moto_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kumo(self, *args, check=True, env=None):
        p = subprocess.run([KUMO, *args], capture_output=True, text=True, env=env or self.env, timeout=240)
        if check and p.returncode != 0:
            self.fail("kumo %s: exit %d\n%s\n%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def aws(self, *args):
        p = subprocess.run(["aws", "--endpoint-url", self.endpoint, "--output", "json", *args],
                           capture_output=True, text=True, env=self.env, timeout=60)
        if p.returncode != 0:
            self.fail("aws %s: %s" % (" ".join(args), p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def cfn_lint(self, path):
        p = subprocess.run(["cfn-lint", path], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode & 2, 0, "cfn-lint found errors in %s:\n%s" % (path, p.stdout))

    def project(self):
        src = copy_project("events_aws", PROJECTS)
        dst = os.path.join(self.tmp, "p%d" % len(os.listdir(self.tmp)), "events_aws")
        shutil.move(os.path.dirname(src), os.path.dirname(dst))
        return dst

    def test_template_on_moto(self):
        proj = self.project()
        full = add_topic_blob(proj)
        if not full:
            print("\nSKIPPED IN PART: kumo.yaml does not take topic: and blob: events yet (kumo lint says 'not "
                  "implemented yet'); the template is checked for the schedule and the queue events only")
        p = self.kumo("deploy", "--target", "aws", "--endpoint-url", self.endpoint, proj)
        self.assertIn("stack evaws: CREATE_COMPLETE", p.stdout, p.stdout + p.stderr)
        path = os.path.join(proj, ".kumo", "deploy", "aws", "template.json")
        self.cfn_lint(path)
        with open(path) as f:
            res = json.load(f)["Resources"]

        # the event source mappings, as moto made them
        fn = self.aws("lambda", "get-function", "--function-name", "evaws-ev")["Configuration"]
        env = fn["Environment"]["Variables"]
        esms = self.aws("lambda", "list-event-source-mappings", "--function-name", "evaws-ev")["EventSourceMappings"]
        by_queue = {m["EventSourceArn"].rsplit(":", 1)[1]: m for m in esms}
        events = dict(kv.split("=", 1) for kv in env["KUMO_EVENTS"].split(","))
        self.assertEqual(by_queue[events["work"]]["BatchSize"], 1)
        self.assertEqual(by_queue[events["bulk"]]["BatchSize"], 5)
        self.assertEqual(by_queue[events["bulk"]].get("MaximumBatchingWindowInSeconds"), 1)
        for m in esms:
            self.assertEqual(m["FunctionResponseTypes"], ["ReportBatchItemFailures"])
            self.assertTrue(m["FunctionArn"].endswith(":function:evaws-ev"))
        self.assertEqual(len(esms), 4 if full else 3)
        # the queues: visibility and redrive from the events
        for ev, vis, maxr in (("work", "10", 3), ("bulk", "10", 2)) + ((("billing", "10", 5),) if full else ()):
            url = self.aws("sqs", "get-queue-url", "--queue-name", events[ev])["QueueUrl"]
            attrs = self.aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
            self.assertEqual(attrs["VisibilityTimeout"], vis, ev)
            self.assertEqual(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"], maxr, ev)

        # the schedule: what the template says, created through moto's Scheduler API
        sched = res["ScheduleTick"]["Properties"]
        self.assertEqual(sched["ScheduleExpression"], "cron(30 2 ? * MON-FRI *)")
        self.assertEqual(sched["ScheduleExpressionTimezone"], "Europe/Zurich")
        self.assertEqual(sched["Target"]["RetryPolicy"], {"MaximumRetryAttempts": 0})
        inp = json.loads(sched["Target"]["Input"])
        self.assertEqual(inp["detail"], {"kumo_event": "tick"})
        self.assertEqual(inp["detail-type"], "Scheduled Event")
        target = {"Arn": fn["FunctionArn"], "RoleArn": "arn:aws:iam::123456789012:role/kumo-scheduler",
                  "Input": sched["Target"]["Input"], "RetryPolicy": sched["Target"]["RetryPolicy"]}
        self.aws("scheduler", "create-schedule", "--name", "evaws-tick", "--schedule-expression",
                 sched["ScheduleExpression"], "--schedule-expression-timezone", sched["ScheduleExpressionTimezone"],
                 "--flexible-time-window", json.dumps(sched["FlexibleTimeWindow"]), "--target", json.dumps(target))
        got = self.aws("scheduler", "get-schedule", "--name", "evaws-tick")
        self.assertEqual(got["ScheduleExpression"], "cron(30 2 ? * MON-FRI *)")
        self.assertEqual(got["Target"]["Arn"], fn["FunctionArn"])
        self.assertIn("SchedulerRole", res)

        if not full:
            return
        # the topic's subscription: as the template says, through moto's SNS API
        topics = self.aws("sns", "list-topics")["Topics"]
        self.assertEqual(len(topics), 1)
        sub = res["SubscriptionBilling"]["Properties"]
        self.assertEqual((sub["Protocol"], sub["RawMessageDelivery"]), ("sqs", True))
        qurl = self.aws("sqs", "get-queue-url", "--queue-name", events["billing"])["QueueUrl"]
        qarn = self.aws("sqs", "get-queue-attributes", "--queue-url", qurl, "--attribute-names",
                        "QueueArn")["Attributes"]["QueueArn"]
        self.aws("sns", "subscribe", "--topic-arn", topics[0]["TopicArn"], "--protocol", "sqs",
                 "--notification-endpoint", qarn, "--attributes", "RawMessageDelivery=true")
        self.aws("sns", "publish", "--topic-arn", topics[0]["TopicArn"], "--message", "order-7")
        msgs = self.aws("sqs", "receive-message", "--queue-url", qurl, "--wait-time-seconds", "2")
        self.assertEqual([m["Body"] for m in msgs["Messages"]], ["order-7"])  # raw delivery
        self.assertIn("SubscriptionPolicyBilling", res)

        # the bucket's notification, as the template says, through moto's S3 API
        bucket = res["BucketFiles"]
        name = env["KUMO_STORE_FILES"].split("://", 1)[1].split("?", 1)[0]
        self.assertEqual(name, "evaws-files-123456789012-us-east-1")
        self.assertIn("BlobInvokeThumbs", bucket["DependsOn"])
        confs = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
        self.assertEqual(sorted(c["Event"] for c in confs), ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"])
        api = {"LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": fn["FunctionArn"], "Events": [c["Event"]],
             "Filter": {"Key": {"FilterRules": c["Filter"]["S3Key"]["Rules"]}}} for c in confs]}
        self.aws("s3api", "put-bucket-notification-configuration", "--bucket", name,
                 "--notification-configuration", json.dumps(api))
        got = self.aws("s3api", "get-bucket-notification-configuration", "--bucket", name)
        rules = got["LambdaFunctionConfigurations"][0]["Filter"]["Key"]["FilterRules"]
        self.assertEqual({(r["Name"].lower(), r["Value"]) for r in rules}, {("prefix", "img/"), ("suffix", ".png")})
        perm = res["BlobInvokeThumbs"]["Properties"]
        self.assertEqual(perm["Principal"], "s3.amazonaws.com")
        self.assertEqual(res["EventInvokeConfigEv"]["Properties"]["MaximumRetryAttempts"], 1)

    def refused(self, events, needle):
        proj = self.project()
        path = os.path.join(proj, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        text = text[:text.index("events:\n")] + "events:\n" + events
        with open(path, "w") as f:
            f.write(text)
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}
        p = self.kumo("deploy", "--target", "aws", "--dry-run", proj, check=False, env=env)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stderr, r"kumo\.yaml:\d+:\d+: events\.")
        self.assertIn(needle, p.stderr)
        return p.stderr

    def test_refusals(self):
        err = self.refused('  tick: {schedule: "*/10 * * * * *", handler: ev.record}\n', "seconds field")
        self.assertIn("kumo.yaml:15:", err)  # the schedule's line
        self.refused('  tick: {schedule: "every 30s", handler: ev.record}\n', "whole minutes")
        self.refused('  tick: {schedule: "0 0 13 * 5", handler: ev.record}\n', "split it into two events")
        self.refused("  bulk: {queue: bulk, handler: ev.batch, batch: 5, window: 200ms}\n", "whole seconds")
        self.refused("  bulk: {queue: bulk, handler: ev.batch, batch: 20}\n", "batching window")
        self.refused("  a: {queue: jobs, handler: ev.record}\n  b: {queue: jobs, handler: ev.record}\n",
                     "consumes the queue 'jobs' too")

    def test_cron_translation(self):
        proj = self.project()
        path = os.path.join(proj, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        cases = {"@hourly": "cron(0 * * * ? *)", "*/15 9-17 * * 1-5": "cron(0,15,30,45 9-17 ? * MON-FRI *)",
                 "0 3 1,15 * *": "cron(0 3 1,15 * ? *)", "0 0 * * 0,7": "cron(0 0 ? * SUN *)",
                 "every 5m": "rate(5 minutes)", "every 1h": "rate(1 hour)", "every 2d": "rate(2 days)"}
        lines = "".join('  t%d: {schedule: "%s", handler: ev.record}\n' % (i, s) for i, s in enumerate(cases))
        with open(path, "w") as f:
            f.write(text[:text.index("events:\n")] + "events:\n" + lines)
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}
        self.kumo("deploy", "--target", "aws", "--dry-run", proj, env=env)
        with open(os.path.join(proj, ".kumo", "deploy", "aws", "template.json")) as f:
            res = json.load(f)["Resources"]
        for i, (expr, want) in enumerate(cases.items()):
            props = res["ScheduleT%d" % i]["Properties"]
            self.assertEqual(props["ScheduleExpression"], want, expr)
            self.assertEqual("ScheduleExpressionTimezone" in props, want.startswith("cron"), expr)


def http(method, url, body=None, timeout=30, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data = r.read()
        return r.status, dict(r.getheaders()), data


class Emulator:
    def __init__(self, zip_path, workdir, env):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.out = open(os.path.join(workdir, "emulate.out"), "w+")
        self.err = open(os.path.join(workdir, "emulate.err"), "w+")
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen([KUMO, "emulate", "lambda", "--zip", zip_path, "--port", str(self.port)],
                                     stdout=self.out, stderr=self.err, env=e)
        ok = wait_for(lambda: self.proc.poll() is not None or "kumo emulate: serving" in self.text(self.out),
                      timeout=60)
        if not ok or self.proc.poll() is not None:
            raise AssertionError("kumo emulate did not start:\n" + self.text(self.err))

    @staticmethod
    def text(f):
        f.flush()
        with open(f.name) as g:
            return g.read()

    def invoke(self, event):
        status, headers, data = http("POST", self.base + "/2015-03-31/functions/ev/invocations",
                                     json.dumps(event).encode())
        return status, headers.get("X-Amz-Function-Error"), json.loads(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9
        finally:
            self.out.flush()
            self.err.flush()


def sqs_record(body, mid, queue, receives=1):
    return {"eventSource": "aws:sqs", "messageId": mid, "receiptHandle": "rh-" + mid, "body": body,
            "attributes": {"ApproximateReceiveCount": str(receives), "SentTimestamp": "1764921600000"},
            "messageAttributes": {}, "md5OfBody": "", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + queue}


COMPARED = ("ce-type", "ce-source", "ce-subject", "ce-specversion", "content-type")


class ParityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("events_aws", PROJECTS)
        cls.full = add_topic_blob(cls.dir)
        # kumo-host: the emulator runs it on local stores and exports its spans
        # over OTLP, which kumo-lambda does not do (test_lambda_lean.py)
        p = subprocess.run([KUMO, "build", "--target", "aws", "--host", "kumo-host", cls.dir], capture_output=True,
                           text=True, timeout=240)
        if p.returncode != 0:
            raise AssertionError("kumo build --target aws: %s\n%s" % (p.stdout, p.stderr))
        cls.zip = os.path.join(cls.dir, ".kumo", "build", "aws", "ev.zip")
        work = os.path.dirname(cls.dir)
        cls.rx = Receiver()  # the Lambda function's spans (kumo-host exports them)
        cls.emu = Emulator(cls.zip, work, {"KUMO_DATA": os.path.join(work, "emu-data"),
                                           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % cls.rx.port,
                                           "OTEL_TRACES_SAMPLER": "always_on"})
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        erc = cls.emu.stop()
        cls.rx.stop()
        err = cls.gw.stderr() + Emulator.text(cls.emu.err)
        cls.emu.out.close()
        cls.emu.err.close()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or erc != 0:
            raise AssertionError("kumo up exited %d, kumo emulate %d:\n%s" % (rc, erc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report:\n" + err[-6000:])

    def seen_up(self):
        return json.loads(http("GET", self.gw.base + "/seen")[2])

    def seen_emu(self):
        return json.loads(http("GET", self.emu.base + "/seen")[2])

    def same_effect(self, key, up, emu):
        a, b = up[key], emu[key]
        for h in COMPARED:
            self.assertEqual(a["headers"].get(h), b["headers"].get(h), "%s: %s" % (key, h))
        self.assertRegex(b["headers"]["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")
        if "traceparent" in a["headers"]:  # kumo up sends it once the CloudEvents helper lands
            self.assertRegex(a["headers"]["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")
        for rec in (a, b):
            self.assertTrue(rec["headers"]["ce-id"])
        self.assertEqual(a["path"], b["path"])

    def test_queue_messages(self):
        for body in ("ok-1", "ok-2", "fail-1"):
            http("POST", self.gw.base + "/send?queue=jobs&body=" + body, b"")
        keys = {"work|ok-1", "work|ok-2", "work|fail-1"}
        up = wait_for(lambda: (lambda s: s if keys <= set(s) else None)(self.seen_up()), timeout=60)
        self.assertTrue(up, self.gw.stderr()[-3000:])
        status, ferr, answer = self.emu.invoke({"Records": [sqs_record("ok-1", "m-1", "jobs"),
                                                            sqs_record("ok-2", "m-2", "jobs"),
                                                            sqs_record("fail-1", "m-3", "jobs")]})
        self.assertEqual((status, ferr), (200, None), answer)
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "m-3"}]})
        emu = self.seen_emu()
        self.assertEqual({k for k in up if k.startswith("work|")}, {k for k in emu if k.startswith("work|")})
        for k in keys:
            self.same_effect(k, up, emu)
            self.assertEqual(up[k]["body"], emu[k]["body"])
        self.assertEqual(emu["work|ok-1"]["headers"]["ce-id"], "m-1")
        self.assertEqual(emu["work|ok-1"]["headers"]["kumo-receive-count"], "1")
        self.assertEqual(emu["work|ok-1"]["headers"]["ce-time"], "2025-12-05T08:00:00.000Z")
        self.assertEqual(emu["work|ok-1"]["headers"]["content-type"], "application/octet-stream")
        # kumo up retries the failing message: it is seen again with a higher receive count
        wait_for(lambda: int(self.seen_up()["work|fail-1"]["headers"]["kumo-receive-count"]) >= 2, timeout=60)

    def test_tick(self):
        p = subprocess.run([KUMO, "invoke", "tick", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        status, ferr, answer = self.emu.invoke(
            {"version": "0", "id": "exec-1", "detail-type": "Scheduled Event", "source": "aws.scheduler",
             "account": "123456789012", "time": "2026-12-07T01:30:00Z", "region": "us-east-1",
             "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/evaws-tick"],
             "detail": {"kumo_event": "tick"}})
        self.assertEqual((status, ferr, answer), (200, None, {"status": 204}))
        up, emu = self.seen_up(), self.seen_emu()
        self.same_effect("tick|tick", up, emu)
        a, b = json.loads(up["tick|tick"]["body"]), json.loads(emu["tick|tick"]["body"])
        self.assertEqual((a["schedule"], a["timezone"]), (b["schedule"], b["timezone"]))
        self.assertEqual(b["planned"], "2026-12-07T01:30:00.000Z")
        self.assertEqual(emu["tick|tick"]["headers"]["ce-time"], "2026-12-07T01:30:00.000Z")
        # the EventBridge rule's form, without kumo's detail: the schedule's name
        status, ferr, answer = self.emu.invoke(
            {"version": "0", "id": "e-2", "detail-type": "Scheduled Event", "source": "aws.events",
             "time": "2026-12-08T01:30:00Z", "resources": ["arn:aws:events:us-east-1:1:rule/nope"], "detail": {}})
        self.assertEqual((status, ferr), (200, "Unhandled"))
        self.assertEqual(answer["errorType"], "Runtime.UnsupportedEvent")
        self.assertIn("nope", answer["errorMessage"])

    def test_batch_links_its_records(self):
        # a batch continues its first record's trace and links the others'
        # producers, as kumo up does (test_traces' batch test)
        tps = ["00-%032x-%016x-01" % (0xa0 + i, 0xb0 + i) for i in range(3)]
        recs = []
        for i, tp in enumerate(tps):
            r = sqs_record('{"n":%d}' % (10 + i), "t-%d" % i, "bulk")
            if i != 1:  # the middle record has no context: it is not linked
                r["messageAttributes"]["traceparent"] = {"stringValue": tp, "dataType": "String"}
            recs.append(r)
        status, ferr, answer = self.emu.invoke({"Records": recs})
        self.assertEqual((status, ferr, answer), (200, None, {"batchItemFailures": []}))
        first = tps[0].split("-")
        spans = wait_for(lambda: [s for s in self.rx.trace(first[1]) if s["kind"] == 5] or None, timeout=30)
        self.assertTrue(spans, self.rx.spans())
        c = spans[0]
        self.assertEqual(c["parentSpanId"], first[2])
        self.assertEqual(attrs(c)["messaging.batch.message_count"], 3)
        self.assertEqual([(l["traceId"], l["spanId"]) for l in c.get("links", [])],
                         [tuple(tps[2].split("-")[1:3])])

    def test_batch_partial_failure(self):
        status, ferr, answer = self.emu.invoke({"Records": [
            sqs_record('{"n":1}', "b-1", "bulk"), sqs_record('{"n":2,"fail":true}', "b-2", "bulk", 2),
            sqs_record("not json", "b-3", "bulk")]})
        self.assertEqual((status, ferr), (200, None), answer)
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "b-2"}]})
        emu = self.seen_emu()
        one = emu['bulk|{"n":1}']
        self.assertEqual(one["content-type"], "application/cloudevents-batch+json")
        self.assertEqual(one["batch-size"], "3")
        ev = one["event"]
        self.assertEqual((ev["specversion"], ev["id"], ev["type"], ev["source"], ev["subject"]),
                         ("1.0", "b-1", "dev.kumo.queue.message", "/kumo/evaws/queues/bulk", "bulk"))
        self.assertEqual(ev["kumoreceivecount"], 1)
        self.assertEqual(emu['bulk|{"fail":true,"n":2}']["event"]["kumoreceivecount"], 2)
        raw = [v["event"] for k, v in emu.items() if k.startswith("bulk|") and v["event"]["id"] == "b-3"][0]
        self.assertEqual(raw["data_base64"], "bm90IGpzb24=")
        # kumo up delivers the same messages in batch mode too: the same records
        # (how many calls the window makes of them is timing, not compared)
        for body in ('{"n":1}', '{"n":2,"fail":true}'):
            http("POST", self.gw.base + "/send?queue=bulk&body=" + urllib.request.quote(body), b"")
        keys = {'bulk|{"n":1}', 'bulk|{"fail":true,"n":2}'}
        up = wait_for(lambda: (lambda s: s if keys <= set(s) else None)(self.seen_up()), timeout=60)
        self.assertTrue(up, self.gw.stderr()[-3000:])
        for k in keys:
            a, b = up[k]["event"], emu[k]["event"]
            for f in ("specversion", "type", "source", "subject", "datacontenttype", "data"):
                self.assertEqual(a.get(f), b.get(f), "%s: %s" % (k, f))
            self.assertEqual(up[k]["content-type"], emu[k]["content-type"])
        # an id the batch does not hold fails the whole batch (Lambda's rule): here the
        # handler's answer is checked by the adapter, so a foreign id cannot be forged from
        # outside; a queue that no event consumes is an invocation error naming it
        status, ferr, answer = self.emu.invoke({"Records": [sqs_record("x", "z-1", "elsewhere")]})
        self.assertEqual(ferr, "Unhandled")
        self.assertIn("'elsewhere'", answer["errorMessage"])

    def test_data_schema(self):
        """data: a message that does not match is never handed to the handler,
        under kumo up (dead-lettered) and on Lambda (failed, back at once)."""
        status, ferr, answer = self.emu.invoke({"Records": [sqs_record('{"n":1}', "d-1", "typed"),
                                                            sqs_record("nope", "d-2", "typed")]})
        self.assertEqual((status, ferr), (200, None), answer)
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "d-2"}]})
        emu = self.seen_emu()
        self.assertIn('typed|{"n":1}', emu)
        self.assertNotIn("typed|nope", emu)
        self.assertIn("does not match its data: schema", Emulator.text(self.emu.err))
        for body in ('{"n":1}', "nope"):
            http("POST", self.gw.base + "/send?queue=typed&body=" + urllib.request.quote(body), b"")
        up = wait_for(lambda: (lambda s: s if 'typed|{"n":1}' in s else None)(self.seen_up()), timeout=60)
        self.assertTrue(up, self.gw.stderr()[-3000:])
        self.assertTrue(wait_for(lambda: "dead-letter" in self.gw.stderr() and "nope" not in
                                 json.dumps(list(self.seen_up())), timeout=60), self.gw.stderr()[-3000:])
        self.assertNotIn("typed|nope", self.seen_up())
        self.same_effect('typed|{"n":1}', up, emu)

    def test_topic_and_blob(self):
        if not self.full:
            self.skipTest("SKIPPED: kumo.yaml does not take topic: and blob: events yet ('not implemented yet'); "
                          "the SNS and S3 mappings are covered by tests/unit/sdk/test_lambda_events.c")
        status, ferr, answer = self.emu.invoke({"Records": [
            sqs_record("order-1", "t-1", "orders-billing")]})
        self.assertEqual((status, ferr, answer), (200, None, {"batchItemFailures": []}))
        status, ferr, answer = self.emu.invoke({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-12-05T08:00:00.000Z",
            "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "files"},
                                                     "object": {"key": "img/a.png", "size": 3, "eTag": "e",
                                                                "sequencer": "01"}}}]})
        self.assertEqual((status, ferr), (200, None), answer)
        emu = self.seen_emu()
        self.assertEqual(emu["billing|order-1"]["headers"]["ce-type"], "dev.kumo.topic.message")
        self.assertEqual(emu["billing|order-1"]["headers"]["ce-source"], "/kumo/evaws/topics/orders")
        data = json.loads(emu["thumbs|img/a.png"]["body"])
        self.assertEqual((data["store"], data["key"], data["event"], data["size"]), ("files", "img/a.png", "created", 3))
        self.assertEqual(emu["thumbs|img/a.png"]["headers"]["ce-type"], "dev.kumo.blob.created")
        # kumo up: the same blob write fires the same event
        http("PUT", self.gw.base + "/files/img%2Fa.png", b"abc", headers={"Content-Type": "image/png"})
        up = wait_for(lambda: (lambda s: s if "thumbs|img/a.png" in s else None)(self.seen_up()), timeout=60)
        self.assertTrue(up, self.gw.stderr()[-3000:])
        self.same_effect("thumbs|img/a.png", up, emu)
        a = json.loads(up["thumbs|img/a.png"]["body"])
        self.assertEqual((a["store"], a["key"], a["event"], a["size"]), ("files", "img/a.png", "created", 3))


class BackoffTest(unittest.TestCase):
    """A failed SQS message is backed off as under kumo up: the adapter
    sets its visibility to the event's backoff (1 s for the first receive)
    with ChangeMessageVisibility, on a queue (moto's) whose own visibility
    timeout is 120 s: it is received again well before that. The
    emulator's function finds the queue in KUMO_EVENTS, as the template
    writes it, and moto through AWS_ENDPOINT_URL."""

    def test_failed_message_comes_back_after_the_backoff(self):
        tmp = tempfile.mkdtemp(prefix="kumo-events-backoff-")
        port = free_port()
        endpoint = "http://127.0.0.1:%d" % port
        env = aws_env()
        log = open(os.path.join(tmp, "moto.log"), "w")
        moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        emu = None
        try:
            self.assertTrue(wait_for(lambda: self._up(endpoint), timeout=30), "moto_server did not start")

            def aws(*args):
                p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args],
                                   capture_output=True, text=True, env=env, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                return json.loads(p.stdout) if p.stdout.strip() else {}

            url = aws("sqs", "create-queue", "--queue-name", "evaws-QueueJobs-T1", "--attributes",
                      "VisibilityTimeout=120")["QueueUrl"]
            aws("sqs", "send-message", "--queue-url", url, "--message-body", "fail-b")
            msg = aws("sqs", "receive-message", "--queue-url", url, "--attribute-names", "All")["Messages"][0]
            proj = copy_project("events_aws", PROJECTS)
            p = subprocess.run([KUMO, "build", "--target", "aws", proj], capture_output=True, text=True, timeout=240)
            self.assertEqual(p.returncode, 0, p.stderr)
            emu_env = dict(env)
            emu_env.update(KUMO_EVENTS="work=evaws-QueueJobs-T1", AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
                           KUMO_DATA=os.path.join(tmp, "data"))
            emu = Emulator(os.path.join(proj, ".kumo", "build", "aws", "ev.zip"), tmp, emu_env)
            rec = sqs_record("fail-b", msg["MessageId"], "evaws-QueueJobs-T1")
            rec["receiptHandle"] = msg["ReceiptHandle"]
            status, ferr, answer = emu.invoke({"Records": [rec]})
            self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]})
            again = wait_for(lambda: aws("sqs", "receive-message", "--queue-url", url, "--wait-time-seconds",
                                         "1").get("Messages"), timeout=30)
            self.assertTrue(again, "the failed message did not come back within 30 s (its queue's visibility "
                                   "is 120 s; the backoff is 1 s):\n" + Emulator.text(emu.err)[-2000:])
            self.assertEqual(again[0]["Body"], "fail-b")
            shutil.rmtree(os.path.dirname(proj), ignore_errors=True)
        finally:
            if emu:
                self.assertEqual(emu.stop(), 0)
                err = Emulator.text(emu.err)
                emu.out.close()
                emu.err.close()
                self.assertNotIn("ERROR: AddressSanitizer", err)
                self.assertNotIn("runtime error:", err)
            moto.send_signal(signal.SIGTERM)
            try:
                moto.wait(10)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait()
            log.close()
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _up(endpoint):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            return True
        except OSError:
            return False


if __name__ == "__main__":
    unittest.main()
