"""Topic events under `kumo up` (issue 13): a handler publishes with
kumo_topic_publish; every event subscribed to the topic gets every message
as a CloudEvents 1.0 binary-mode request (ce-type dev.kumo.topic.message,
ce-source /kumo/PROJECT/topics/TOPIC, ce-subject the event), each through
a queue of its own; one subscriber failing on a message retries it with
backoff and dead-letters it to TOPIC.EVENT-dead while the other takes the
same message at once and nothing else is held up. Run on the embedded
driver (sqlite, kumo up's default) and on a real redis-server, and on SNS fanning out to SQS (moto's
server, with the topic, queues and subscriptions made by the test through
boto3 as kumo deploy makes them, and create=false: kumo makes nothing).

A subscription dropped from kumo.yaml is unsubscribed on reload: messages
published after that do not reach it, what waited in its queue is kept.

The handlers (projects/topics) record what they received in a kv store,
read back with GET /seen; the tests wait (bounded) for records to arrive
and check what was recorded, never how fast."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
REDIS = shutil.which("redis-server")
MOTO = shutil.which("moto_server")
try:
    import boto3
except ImportError:  # the SNS case says so and is skipped
    boto3 = None


def post(gw, path):
    req = urllib.request.Request(gw.base + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def seen(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return json.loads(r.read())


def by_event(gw, event, prefix):
    return [r for r in seen(gw) if r["key"].startswith(event + "/" + prefix)]


def topic_rows(project_dir, queue):
    """The embedded topic's subscription queue `queue` (sqlite_queue.c's table, in the topic's file)."""
    db = sqlite3.connect(os.path.join(project_dir, ".kumo", "data", "topic.db"), timeout=10)
    try:
        return db.execute("SELECT id, body, receives FROM kumo_queue WHERE queue = ?", (queue,)).fetchall()
    finally:
        db.close()


class Delivery:
    """The checks, for a gateway started by the subclass (self.gw)."""

    def dead_bodies(self, queue):
        raise NotImplementedError

    def test_every_subscriber_gets_every_message(self):
        ids = post(self.gw, "/publish?prefix=ok&n=10")
        self.assertEqual(len(ids), 10)
        want = sorted("ok-%d" % i for i in range(10))
        for event in ("billing", "audit"):
            recs = wait_for(lambda: by_event(self.gw, event, "ok-")
                            if len(by_event(self.gw, event, "ok-")) >= 10 else None, timeout=60)
            self.assertTrue(recs, (event, self.gw.stderr()[-3000:]))
            self.assertEqual(sorted(r["body"] for r in recs), want)  # each once
            for r in recs:
                h = r["headers"]
                self.assertEqual(h["ce-specversion"], "1.0")
                self.assertEqual(h["ce-type"], "dev.kumo.topic.message")
                self.assertEqual(h["ce-source"], "/kumo/shop/topics/orders")
                self.assertEqual(h["ce-subject"], event)
                self.assertTrue(h["ce-id"])
                self.assertEqual(h["kumo-receive-count"], "1")
                self.assertEqual(r["method"], "POST")
                self.assertEqual(r["path"], "/" + event)
        # a call's line is written when it is settled, a moment after the handler recorded it
        def settled(event):
            return len([l for l in self.gw.log_lines()
                        if l.get("msg") == "event" and l.get("status") == 204 and l.get("event") == event])
        for event in ("billing", "audit"):
            self.assertTrue(wait_for(lambda: settled(event) >= 10, timeout=30), (event, settled(event)))

    def test_failing_subscriber_dead_letters_alone(self):
        post(self.gw, "/publish?prefix=fail&n=1")
        post(self.gw, "/publish?prefix=after&n=5")

        # billing: max_receives 3 -> three attempts, then orders.billing-dead
        def attempts():
            a = sorted(by_event(self.gw, "billing", "fail-0"), key=lambda r: int(r["headers"]["kumo-receive-count"]))
            return a if len(a) >= 3 else None
        a = wait_for(attempts, timeout=60)
        self.assertTrue(a, self.gw.stderr()[-3000:])
        self.assertEqual([r["headers"]["kumo-receive-count"] for r in a], ["1", "2", "3"])
        self.assertEqual(len({r["headers"]["ce-id"] for r in a}), 1)
        # audit took the same message once, and both took the others
        self.assertTrue(wait_for(lambda: len(by_event(self.gw, "audit", "fail-0")) == 1, timeout=60))
        self.assertEqual(by_event(self.gw, "audit", "fail-0")[0]["headers"]["kumo-receive-count"], "1")
        for event in ("billing", "audit"):
            self.assertTrue(wait_for(lambda: len(by_event(self.gw, event, "after-")) == 5, timeout=60),
                            (event, self.gw.stderr()[-3000:]))
        dead = wait_for(lambda: self.dead_bodies("orders.billing-dead") or None, timeout=30)
        self.assertEqual(dead, [b"fail-0"])
        self.assertEqual(self.dead_bodies("orders.audit-dead"), [])
        warn = wait_for(lambda: [l for l in self.gw.log_lines() if l.get("msg") == "event dead-lettered"] or None)
        self.assertEqual(len(warn), 1, warn)
        self.assertEqual(warn[0]["event"], "billing")
        self.assertIn("Marked to fail", warn[0]["reason"])
        self.assertIn("orders.billing-dead", warn[0]["reason"])


class EmbeddedTest(Delivery, unittest.TestCase):
    """The embedded driver: the topic's SQLite file holds the
    subscriptions and their queues."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("topics", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))

    def dead_bodies(self, queue):
        return [r[1] for r in topic_rows(self.dir, queue)]

    def test_invoke_one_subscription(self):
        """kumo invoke EVENT --data - on a topic event: the message goes into
        that event's own subscription queue; the topic's other event gets
        nothing, and kumo invoke prints the handler's answer."""
        r = subprocess.run([KUMO, "invoke", "billing", "--data", "-", "--admin-port", str(self.gw.admin_port)],
                           input="byhand-1", capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("204", r.stdout)
        self.assertEqual([x["body"] for x in by_event(self.gw, "billing", "byhand-")], ["byhand-1"])
        self.assertEqual(by_event(self.gw, "audit", "byhand-"), [])
        r = subprocess.run([KUMO, "invoke", "billing", "--header", "a:b", "--admin-port", str(self.gw.admin_port)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("event billing consumes a topic: a message is a body only", r.stderr)


@unittest.skipUnless(REDIS, "SKIPPED: redis-server is not installed (scripts/install-deps.sh installs it)")
class RedisTest(Delivery, unittest.TestCase):
    """The Redis driver, on a redis-server of the test's own: the topic's
    URL comes from KUMO_STORE_ORDERS."""

    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.rdir = tempfile.mkdtemp(prefix="kumo-redis-")
        cls.redis = subprocess.Popen([REDIS, "--port", str(cls.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", cls.rdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: cls.cli("PING").strip() == "PONG", timeout=20):
            cls.redis.kill()
            raise AssertionError("redis-server did not start")
        cls.dir = copy_project("topics", PROJECTS)
        try:
            cls.gw = Gateway(cls.dir, env={"KUMO_STORE_ORDERS": "redis://127.0.0.1:%d/0" % cls.port})
        except Exception:
            cls.redis.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        cls.redis.terminate()
        cls.redis.wait(10)
        shutil.rmtree(cls.rdir, ignore_errors=True)
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))

    @classmethod
    def cli(cls, *args):
        p = subprocess.run(["redis-cli", "-p", str(cls.port), *args], capture_output=True, timeout=10)
        return p.stdout.decode(errors="replace")

    def dead_bodies(self, queue):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--json", "XRANGE", "kumo:%s:stream" % queue,
                              "-", "+"], capture_output=True, timeout=10).stdout
        entries = json.loads(out) if out.strip() else []
        bodies = []
        for _, fields in entries:
            f = dict(zip(fields[::2], fields[1::2]))
            bodies.append(f["b"].encode())
        return bodies

    def test_subscriptions_registered(self):
        # event -> owner (the project)
        self.assertEqual(self.cli("HGETALL", "kumo:topic:orders:subscriptions").split()[1::2], ["shop", "shop"])
        self.assertEqual(sorted(self.cli("HKEYS", "kumo:topic:orders:subscriptions").split()), ["audit", "billing"])


@unittest.skipUnless(MOTO and boto3, "SKIPPED: moto_server or boto3 is not installed (scripts/install-deps.sh)")
class SnsTest(Delivery, unittest.TestCase):
    """The SNS driver on moto's server: SNS topic shop-orders with one SQS
    queue per event (raw message delivery, a redrive policy to QUEUE-dead
    after 3 receives), made here with boto3 as kumo deploy makes them."""

    AWS = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-sns-")
        cls.port = free_port()
        cls.endpoint = "http://127.0.0.1:%d" % cls.port
        env = dict(os.environ, **cls.AWS)
        env.pop("AWS_SESSION_TOKEN", None)
        cls.moto_log = open(os.path.join(cls.tmp, "moto.log"), "w")
        cls.moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(cls.port)], stdout=cls.moto_log,
                                    stderr=subprocess.STDOUT, env=env)
        cls.gw = None

        def up():
            try:
                urllib.request.urlopen(cls.endpoint + "/moto-api/", timeout=1).read()
                return True
            except OSError:
                return None
        if not wait_for(up, timeout=30):
            cls.tearDownClass()
            raise AssertionError("moto_server did not start; see %s/moto.log" % cls.tmp)
        kw = dict(endpoint_url=cls.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        cls.sns, cls.sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
        topic = cls.sns.create_topic(Name="shop-orders")["TopicArn"]
        for event in ("billing", "audit"):
            q = "shop-orders-" + event
            dead = cls.sqs.create_queue(QueueName=q + "-dead")["QueueUrl"]
            dead_arn = cls.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            url = cls.sqs.create_queue(QueueName=q, Attributes={"RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_arn, "maxReceiveCount": "3"})})["QueueUrl"]
            arn = cls.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            cls.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                              Attributes={"RawMessageDelivery": "true"})
        cls.dir = copy_project("topics", PROJECTS)
        url = ("sns://shop-orders?endpoint=%s&create=false&queue.billing=shop-orders-billing"
               "&queue.audit=shop-orders-audit" % cls.endpoint)
        try:
            cls.gw = Gateway(cls.dir, env=dict(cls.AWS, KUMO_STORE_ORDERS=url))
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        rc, err = 0, ""
        if cls.gw:
            rc = cls.gw.stop()
            err = cls.gw.stderr()
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if cls.moto.poll() is None:
            cls.moto.send_signal(signal.SIGTERM)
            try:
                cls.moto.wait(10)
            except subprocess.TimeoutExpired:
                cls.moto.kill()
                cls.moto.wait()
        cls.moto_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))

    def dead_bodies(self, queue):
        # SQS's redrive: QUEUE-dead of the event's own SQS queue
        name = {"orders.billing-dead": "shop-orders-billing-dead", "orders.audit-dead": "shop-orders-audit-dead"}
        url = self.sqs.get_queue_url(QueueName=name[queue])["QueueUrl"]
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [m["Body"].encode() for m in got.get("Messages", [])]

    def test_subscriptions_left_as_deploy_made_them(self):
        topic = [t["TopicArn"] for t in self.sns.list_topics()["Topics"]]
        self.assertEqual(len(topic), 1)  # create=false: kumo made no topic
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic[0])["Subscriptions"]
        self.assertEqual(sorted(s["Endpoint"].rsplit(":", 1)[1] for s in subs),
                         ["shop-orders-audit", "shop-orders-billing"])


class ConfigTest(unittest.TestCase):
    """`kumo events` lists topic events (it crashed on them when they
    were first accepted); kumo up refuses a topic event naming a store
    that is not a topic, at kumo.yaml:line:column."""

    def setUp(self):
        self.dir = copy_project("topics", PROJECTS)

    def tearDown(self):
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)

    def test_events_lists_topics(self):
        r = subprocess.run([KUMO, "events", self.dir, "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)[0], {
            "name": "billing", "handler": "topics.record", "kind": "topic", "topic": "orders",
            "queue": "orders.billing", "batch": 1, "visibility_ms": 10000, "max_receives": 3, "backoff_ms": 100})
        r = subprocess.run([KUMO, "events", self.dir], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("audit  topics.record  topic orders  batch: 1", r.stdout)

    def test_up_refuses_a_topic_that_is_not_one(self):
        yaml = os.path.join(self.dir, "kumo.yaml")
        with open(yaml) as f:
            text = f.read()
        with open(yaml, "w") as f:
            f.write(text.replace("  audit: {topic: orders,", "  audit: {topic: seen,"))
        r = subprocess.run([KUMO, "up", self.dir, "--port", "0", "--admin-port", "0"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"kumo.yaml:\d+:\d+: events.audit.topic: ")


class ReloadTest(unittest.TestCase):
    """An event removed from kumo.yaml: unsubscribed on reload; what is
    published afterwards does not reach its queue, what waited is kept;
    the other subscriber goes on."""

    def test_removed_subscription(self):
        d = copy_project("topics", PROJECTS)
        try:
            gw = Gateway(d)
            post(gw, "/publish?prefix=before&n=2")
            self.assertTrue(wait_for(lambda: len(by_event(gw, "audit", "before-")) == 2, timeout=60),
                            gw.stderr()[-3000:])
            yaml = os.path.join(d, "kumo.yaml")
            with open(yaml) as f:
                text = f.read()
            line = [l for l in text.splitlines() if l.startswith("  audit:")][0]
            with open(yaml, "w") as f:
                f.write(text.replace(line + "\n", ""))
            r = subprocess.run([KUMO, "reload", "--admin-port", str(gw.admin_port)], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            warn = [l for l in gw.log_lines() if "no longer in kumo.yaml" in l.get("msg", "")]
            self.assertEqual(len(warn), 1, gw.stderr()[-3000:])
            self.assertIn("topic orders: event audit", warn[0]["msg"])
            db = sqlite3.connect(os.path.join(d, ".kumo", "data", "topic.db"), timeout=10)
            try:
                subs = db.execute("SELECT event FROM kumo_topic_subscription WHERE topic = 'orders'").fetchall()
            finally:
                db.close()
            self.assertEqual(subs, [("billing",)])
            post(gw, "/publish?prefix=later&n=3")
            self.assertTrue(wait_for(lambda: len(by_event(gw, "billing", "later-")) == 3, timeout=60),
                            gw.stderr()[-3000:])
            self.assertEqual(topic_rows(d, "orders.audit"), [])  # nothing fanned out to it
            self.assertEqual(by_event(gw, "audit", "later-"), [])
            rc = gw.stop()
            err = gw.stderr()
            self.assertEqual(rc, 0, err[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", err)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


@unittest.skipUnless(REDIS, "SKIPPED: redis-server is not installed (scripts/install-deps.sh installs it)")
class SharedTopicTest(unittest.TestCase):
    """Two projects share the topic on one Redis: the consumer project
    (shop, with the two topic events) and a producer project without
    topic events. The producer starting and reloading leaves shop's
    subscriptions alone (a project only ever unsubscribes its own), and
    what the producer publishes reaches shop's handlers. (Redis: a sqlite
    file outside a project is not shared with its sandboxed workers.)"""

    def test_another_project_leaves_the_subscriptions_alone(self):
        port = free_port()
        rdir = tempfile.mkdtemp(prefix="kumo-redis-")
        redis = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                  "no", "--dir", rdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def cli(*args):
            return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                                  timeout=10).stdout
        shop = copy_project("topics", PROJECTS)
        producer = copy_project("topics", PROJECTS)
        env = {"KUMO_STORE_ORDERS": "redis://127.0.0.1:%d/0" % port}
        gws = []
        try:
            self.assertTrue(wait_for(lambda: cli("PING").strip() == "PONG", timeout=20), "redis-server did not start")
            gws.append(Gateway(shop, env=env))
            yaml = os.path.join(producer, "kumo.yaml")
            with open(yaml) as f:
                text = f.read().replace("name: shop", "name: producer")
            text = "\n".join(l for l in text.splitlines() if not l.startswith(("events:", "  billing:", "  audit:")))
            with open(yaml, "w") as f:
                f.write(text + "\n")
            gws.append(Gateway(producer, env=env))
            r = subprocess.run([KUMO, "reload", "--admin-port", str(gws[1].admin_port)], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(cli("HGETALL", "kumo:topic:orders:subscriptions").split(),
                             ["billing", "shop", "audit", "shop"])
            self.assertFalse([l for l in gws[1].log_lines() if "no longer in kumo.yaml" in l.get("msg", "")])
            post(gws[1], "/publish?prefix=fromproducer&n=2")
            for event in ("billing", "audit"):
                self.assertTrue(wait_for(lambda: len(by_event(gws[0], event, "fromproducer-")) == 2, timeout=60),
                                (event, gws[0].stderr()[-3000:]))
        finally:
            for gw in gws:
                self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
                self.assertNotIn("ERROR: AddressSanitizer", gw.stderr())
            redis.terminate()
            redis.wait(10)
            shutil.rmtree(rdir, ignore_errors=True)
            shutil.rmtree(os.path.dirname(shop), ignore_errors=True)
            shutil.rmtree(os.path.dirname(producer), ignore_errors=True)

if __name__ == "__main__":
    unittest.main()
