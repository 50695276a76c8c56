"""`kumo invoke EVENT` (issue 13): a running kumo fires a schedule event
now through POST /events/NAME/fire on its admin port and answers with the
handler's status and the tick's request id. The tick carries ce-time =
now and `ce-kumotrigger: manual`, and leaves the schedule's plan (the
.last file) alone. An unknown event is a 404 naming the known ones; a run
still going is a 409 (overlap: false); the admin port's guards hold (Host
and Origin 403, a form 415, the token 401).

A queue event (projects/queues): `kumo invoke work --data FILE` sends the
data into the event's queue through POST /events/NAME/send and prints the
answer of the handler the consumer delivered that message to (its id, the
status, the request id); a failing handler exits 1, its message retried as
any other. An operationId is an HTTP request to the API port: the path's
and query's --param, --data as body, the answer printed as HTTP (--verbose
with headers, --json as a document), exit 0 on 2xx only.

The handlers (projects/ticks) record what they received in a kv store,
read back with GET /ticks; waits are bounded, nothing depends on speed."""
import json
import os
import shutil
import subprocess
import time
import unittest
import urllib.request

import requests

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
TOKEN = "invoke-token-0123456789abcdef"
# Never due while the tests run: only `kumo invoke` fires these.
EVENTS = ('events:\n'
          '  nightly: {schedule: "0 3 1 1 *", timezone: Europe/Zurich, handler: ticks.record}\n'
          '  slowpoke: {schedule: "0 3 1 1 *", handler: ticks.slow}\n')


def project():
    d = copy_project("ticks", PROJECTS)
    path = os.path.join(d, "kumo.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:text.index("\nevents:") + 1] + EVENTS)
    return d


def ticks(gw):
    with urllib.request.urlopen(gw.base + "/ticks", timeout=30) as r:
        return json.loads(r.read())


def stop_clean(test, gw):
    rc = gw.stop()
    err = gw.stderr()
    test.assertEqual(rc, 0, err[-3000:])
    test.assertNotIn("ERROR: AddressSanitizer", err)
    test.assertNotIn("runtime error:", err)


class InvokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = project()
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            stop_clean(unittest.TestCase(), cls.gw)
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def invoke(self, *args):
        e = {k: v for k, v in os.environ.items() if k != "KUMO_ADMIN_TOKEN"}
        return subprocess.run([KUMO, "invoke", *args, "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=120, env=e)

    def test_fires_now_marked_manual(self):
        before = int(time.time() * 1000)
        r = self.invoke("nightly")
        after = int(time.time() * 1000)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        words = r.stdout.split()
        self.assertEqual(words[:4], ["event", "nightly:", "status", "204,"], r.stdout)
        rid = words[words.index("id") + 1]
        mine = [t for t in ticks(self.gw) if t["headers"].get("ce-id") == rid]
        self.assertEqual(len(mine), 1, r.stdout)
        h = mine[0]["headers"]
        self.assertEqual(h["ce-kumotrigger"], "manual")
        self.assertEqual(h["ce-type"], "dev.kumo.schedule.tick")
        self.assertEqual(h["ce-subject"], "nightly")
        self.assertEqual(h["ce-source"], "/kumo/ticks/events/nightly")
        t = time.strptime(h["ce-time"][:19], "%Y-%m-%dT%H:%M:%S")
        planned = int(__import__("calendar").timegm(t) * 1000 + int(h["ce-time"][20:23]))
        self.assertTrue(before - 1000 <= planned <= after + 1000, (before, h["ce-time"], after))
        body = json.loads(mine[0]["body"])
        self.assertEqual(body["schedule"], "0 3 1 1 *")
        self.assertEqual(body["timezone"], "Europe/Zurich")
        # the schedule's plan is untouched: no .last written for a tick by hand
        self.assertFalse(os.path.exists(os.path.join(self.dir, ".kumo", "data", "events", "nightly.last")))
        # the log line says it was fired by hand
        line = [entry for entry in self.gw.log_lines() if entry.get("request_id") == rid]
        self.assertEqual(len(line), 1)
        self.assertEqual((line[0]["msg"], line[0]["trigger"], line[0]["status"]), ("event", "manual", 204))
        # the endpoint itself: 200 with the handler's status and the id
        res = requests.post(self.gw.admin + "/events/nightly/fire", timeout=60)
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual(res.json()["status"], 204)
        self.assertEqual(res.headers["x-request-id"], res.json()["request_id"])

    def test_unknown_event(self):
        r = self.invoke("weekly")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no event or operation 'weekly' in the running kumo (project ticks)", r.stderr)
        self.assertIn("the events are: nightly, slowpoke", r.stderr)
        self.assertIn("the operations are:", r.stderr)
        # a tick's request is fixed: no data, headers or parameters
        r = self.invoke("nightly", "--data", "-")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is a schedule", r.stderr)
        res = requests.post(self.gw.admin + "/events/weekly/fire", timeout=30)
        self.assertEqual(res.status_code, 404)
        self.assertEqual(res.headers["content-type"], "application/problem+json")
        self.assertIn("the events are: slowpoke, nightly", res.json()["detail"])
        # not an event name at all: refused before asking
        r = self.invoke("../status")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.invoke()
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_overlap_409(self):
        first = subprocess.Popen([KUMO, "invoke", "slowpoke", "--admin-port", str(self.gw.admin_port)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            started = wait_for(lambda: any(t["key"].startswith("started/") for t in ticks(self.gw)), timeout=60,
                               step=0.1)
            self.assertTrue(started, self.gw.stderr()[-2000:])
            r = self.invoke("slowpoke")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("still going", r.stderr)
            res = requests.post(self.gw.admin + "/events/slowpoke/fire", timeout=30)
            self.assertEqual(res.status_code, 409, res.text)
            out, err = first.communicate(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        self.assertEqual(first.returncode, 0, out + err)
        self.assertIn("event slowpoke: status 204", out)

    def test_guards(self):
        url = self.gw.admin + "/events/nightly/fire"
        self.assertEqual(requests.post(url, headers={"Host": "evil.example"}, timeout=30).status_code, 403)
        self.assertEqual(requests.post(url, headers={"Origin": "http://evil.example"}, timeout=30).status_code, 403)
        r = requests.post(url, data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
        self.assertEqual(r.status_code, 415)
        r = requests.get(url, timeout=30)
        self.assertEqual(r.status_code, 405)
        self.assertEqual(r.headers["allow"], "POST")


class InvokeTokenTest(unittest.TestCase):
    """With an admin token, POST /events/NAME/fire needs it; kumo invoke
    sends it from --admin-token-file."""

    @classmethod
    def setUpClass(cls):
        cls.dir = project()
        cls.token_file = os.path.join(os.path.dirname(cls.dir), "admin-token")
        fd = os.open(cls.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (TOKEN + "\n").encode())
        os.close(fd)
        cls.gw = Gateway(cls.dir, env={"KUMO_ADMIN_TOKEN": TOKEN})

    @classmethod
    def tearDownClass(cls):
        try:
            stop_clean(unittest.TestCase(), cls.gw)
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_token(self):
        e = {k: v for k, v in os.environ.items() if k != "KUMO_ADMIN_TOKEN"}
        base = [KUMO, "invoke", "nightly", "--admin-port", str(self.gw.admin_port)]
        r = subprocess.run(base, capture_output=True, text=True, timeout=120, env=e)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("admin token", r.stderr)
        self.assertEqual(requests.post(self.gw.admin + "/events/nightly/fire", timeout=30).status_code, 401)
        self.assertEqual([t for t in ticks(self.gw) if t["headers"].get("ce-subject") == "nightly"], [])
        r = subprocess.run(base + ["--admin-token-file", self.token_file], capture_output=True, text=True,
                           timeout=120, env=e)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("event nightly: status 204", r.stdout)


def seen(gw):
    with urllib.request.urlopen(gw.base + "/seen", timeout=30) as r:
        return json.loads(r.read())


class InvokeQueueAndOperationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("queues", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            stop_clean(unittest.TestCase(), cls.gw)
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def invoke(self, *args, stdin=None):
        e = {k: v for k, v in os.environ.items() if k != "KUMO_ADMIN_TOKEN"}
        return subprocess.run([KUMO, "invoke", *args, "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=120, env=e, input=stdin)

    def test_queue_message_delivered_and_answered(self):
        path = os.path.join(os.path.dirname(self.dir), "message.txt")
        with open(path, "w") as f:
            f.write("by-hand-1")
        r = self.invoke("work", "--data", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        words = r.stdout.split()
        self.assertEqual(words[:2], ["event", "work:"], r.stdout)
        self.assertIn("(queue jobs): status 204, request id", r.stdout)
        mid = words[3]
        rid = words[-1]
        recs = [x for x in seen(self.gw) if x["body"] == "by-hand-1"]
        self.assertEqual(len(recs), 1, recs)
        h = recs[0]["headers"]
        self.assertEqual((h["ce-id"], h["ce-type"], h["ce-subject"]), (mid, "dev.kumo.queue.message", "work"))
        line = [x for x in self.gw.log_lines() if x.get("request_id") == rid]
        self.assertEqual(len(line), 1)
        self.assertEqual((line[0]["message_id"], line[0]["status"]), (mid, 204))
        # stdin, --json
        r = self.invoke("work", "--data", "-", "--json", stdin="by-hand-2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["status"], 204)
        self.assertFalse(doc["dead_lettered"])
        self.assertEqual([x["headers"]["ce-id"] for x in seen(self.gw) if x["body"] == "by-hand-2"],
                         [doc["message_id"]])

    def test_queue_message_failing(self):
        r = self.invoke("work", "--data", "-", stdin="fail-by-hand")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("status 500", r.stdout)
        self.assertIn("the handler answered 500", r.stderr)
        self.assertIn("Marked to fail", r.stderr)
        self.assertIn("will be retried", r.stderr)
        # it is an ordinary message: retried up to max_receives (3)
        self.assertTrue(wait_for(lambda: len([x for x in seen(self.gw) if x["body"] == "fail-by-hand"]) >= 3,
                                 timeout=60))

    def test_queue_options_refused(self):
        r = self.invoke("work", "--header", "a:b")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("a message is a body only", r.stderr)
        r = self.invoke("work", "--header", "bad header")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.invoke("work", "--data", "/nonexistent/file")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("/nonexistent/file", r.stderr)
        # the endpoint: a schedule takes no message; an unknown event is named
        res = requests.post(self.gw.admin + "/events/nope/send", data=b"x", timeout=30)
        self.assertEqual(res.status_code, 404)
        self.assertIn("the events are: work", res.json()["detail"])
        res = requests.get(self.gw.admin + "/events/work/send", timeout=30)
        self.assertEqual(res.status_code, 405)

    def test_operation(self):
        r = self.invoke("send", "--param", "prefix=op", "--param", "n=2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        ids = json.loads(lines[1])
        self.assertEqual(len(ids), 2)
        self.assertTrue(wait_for(lambda: len([x for x in seen(self.gw) if x["body"].startswith("op-")]) == 2,
                                 timeout=60))
        r = self.invoke("list_seen", "--verbose")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("\ncontent-type: application/json\n", r.stdout.lower())
        r = self.invoke("list_seen", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["status"], doc["request"]), (200, "/seen"))
        self.assertEqual(doc["headers"]["content-type"], "application/json")
        self.assertIsInstance(doc["body"], list)
        # the contract refuses n=0: printed, exit 1
        r = self.invoke("send", "--param", "prefix=op", "--param", "n=0")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("HTTP/1.1 400 "), r.stdout)
        self.assertIn("POST /send?prefix=op&n=0 answered 400", r.stderr)


class InvokeOperationParamsTest(unittest.TestCase):
    """examples/todo: --data is sent as the operation's request media type
    (application/json), --param fills the path's {id}; a missing one is a
    usage error naming it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("todo")
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            stop_clean(unittest.TestCase(), cls.gw)
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def invoke(self, *args, stdin=None):
        e = {k: v for k, v in os.environ.items() if k != "KUMO_ADMIN_TOKEN"}
        return subprocess.run([KUMO, "invoke", *args, "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=120, env=e, input=stdin)

    def test_create_then_get(self):
        r = self.invoke("createTodo", "--data", "-", "--json", stdin='{"title": "by hand"}')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["status"], 201)
        todo = doc["body"]
        self.assertEqual(todo["title"], "by hand")
        r = self.invoke("getTodo", "--param", "id=" + todo["id"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        self.assertEqual(json.loads(lines[1])["id"], todo["id"])
        r = self.invoke("getTodo")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("operation getTodo's path /todos/{id} needs --param id=VALUE", r.stderr)
        # a value is percent-encoded into the path: no way out of it
        r = self.invoke("getTodo", "--param", "id=../x y")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("GET /todos/..%2Fx%20y answered", r.stderr)


if __name__ == "__main__":
    unittest.main()
