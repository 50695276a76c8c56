"""kumo mock's modes that keep something between requests (docs/mocks.md):
a stateful mock driven through HTTP (CRUD, paging, seed, reset), faults
with a seed (the same statuses, resets and truncations twice in a row),
and record against a real server started here (Python's http.server on
loopback) then replay with that server stopped: the same answers,
credentials never written, unmatched requests and drift reported.

Each test starts `kumo mock SPEC --port 0 ...` and reads its port from the
first line it prints (`listening on http://127.0.0.1:PORT`).
"""
import glob
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from kumo_harness import KUMO, SOURCE

SPEC = os.path.join(SOURCE, "tests", "unit", "gateway", "fixtures", "mockpets.yaml")


class Mock:
    """`kumo mock` as a child process, on a port it picked."""

    def __init__(self, args, cwd, spec=SPEC):
        self.cwd = cwd
        self.out = open(os.path.join(cwd, "mock-stdout-%d.log" % time.monotonic_ns()), "w+")
        self.err = open(self.out.name.replace("stdout", "stderr"), "w+")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        self.proc = subprocess.Popen([KUMO, "mock", spec, "--port", "0", *args], stdout=self.out,
                                     stderr=self.err, env=env, cwd=cwd)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                raise AssertionError("kumo mock exited with %d:\n%s" % (self.proc.returncode, self.stderr()))
            first = self.stdout().split("\n", 1)[0]
            if first.startswith("listening on http://127.0.0.1:"):
                self.port = int(first.rsplit(":", 1)[1])
            else:
                time.sleep(0.05)
        if self.port is None:
            raise AssertionError("kumo mock did not say where it listens:\n" + self.stdout() + self.stderr())

    def stdout(self):
        if not self.out.closed:
            self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes); ("reset", None, None) when the
        connection was closed without an answer, ("truncated", headers,
        partial) when the body was cut."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            try:
                payload = r.read()
            except http.client.IncompleteRead as e:
                return "truncated", dict(r.getheaders()), e.partial
            return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            return "reset", None, None
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, h, payload = self.request(method, path, body, headers)
        return status, h, (json.loads(payload) if payload else None)

    def stop(self):
        if self.out.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kumo mock did not stop within 30s of SIGTERM")
        err = self.stderr()
        self.out.close()
        self.err.close()
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo mock's output:\n" + err[-6000:])
        return rc


class MockCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kumo-mock-state-")
        self.mocks = []

    def tearDown(self):
        for m in self.mocks:
            rc = m.stop()
            self.assertEqual(rc, 0, m.stderr()[-3000:])
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args, spec=SPEC):
        m = Mock(list(args), self.dir, spec)
        self.mocks.append(m)
        return m

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class StatefulTest(MockCase):
    def test_crud_through_http(self):
        seed = self.write("seed.json", json.dumps({"/pets": [{"id": 10, "name": "Seeded", "tag": "old"}]}))
        m = self.start("--stateful", "--data", seed)
        status, _, pets = m.json("GET", "/pets")
        self.assertEqual(status, 200)
        self.assertEqual([p["name"] for p in pets], ["Seeded"])

        status, h, rex = m.json("POST", "/pets", {"name": "Rex", "tag": "dog", "password": "pw"})
        self.assertEqual(status, 201, rex)
        self.assertEqual(rex["id"], 11)
        self.assertEqual(h.get("location"), "/pets/11")
        self.assertNotIn("password", rex)  # writeOnly: stored, never answered
        self.assertIn("created", rex)      # readOnly: made by the server

        status, _, got = m.json("GET", "/pets/11")
        self.assertEqual((status, got["name"]), (200, "Rex"))
        status, _, got = m.json("PATCH", "/pets/11", {"tag": None, "name": "Max"},
                                {"Content-Type": "application/merge-patch+json"})
        self.assertEqual(status, 200, got)
        self.assertEqual((got["name"], got["id"], "tag" in got), ("Max", 11, False))
        status, _, got = m.json("PUT", "/pets/10", {"name": "Renamed"})
        self.assertEqual((status, got["id"], got["name"]), (200, 10, "Renamed"))

        for i in range(5):
            self.assertEqual(m.json("POST", "/pets", {"name": "p%d" % i, "tag": "bulk"})[0], 201)
        status, _, page = m.json("GET", "/pets?tag=bulk&limit=2&offset=1")
        self.assertEqual([p["name"] for p in page], ["p1", "p2"])

        # The contract check runs before the state: an invalid body is a 400.
        status, h, problem = m.json("POST", "/pets", {"tag": "no name"})
        self.assertEqual(status, 400)
        self.assertEqual(h["content-type"], "application/problem+json")

        self.assertEqual(m.request("DELETE", "/pets/11")[0], 204)
        status, h, problem = m.json("GET", "/pets/11")
        self.assertEqual(status, 404)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertIn("/pets has no item 11", problem["detail"])

        # Nested collections, uuid ids and page/per_page into an object.
        status, _, toy = m.json("POST", "/owners/3/toys", {"kind": "ball"})
        self.assertEqual((status, toy["id"]), (201, 1))
        self.assertEqual(m.json("GET", "/owners/4/toys")[2], [])
        status, _, note = m.json("POST", "/notes", {"text": "hello"})
        self.assertEqual(status, 201)
        self.assertEqual(len(note["noteId"]), 36)
        self.assertEqual(m.json("GET", "/notes/" + note["noteId"])[2]["text"], "hello")
        status, _, notes = m.json("GET", "/notes?page=1&per_page=10")
        self.assertEqual((notes["total"], len(notes["items"])), (1, 1))

        # Reset: the seed again, and only it.
        self.assertEqual(m.request("POST", "/__kumo/reset")[0], 204)
        status, _, pets = m.json("GET", "/pets")
        self.assertEqual([(p["id"], p["name"]) for p in pets], [(10, "Seeded")])

    def test_reload_keeps_the_items(self):
        spec = os.path.join(self.dir, "pets.yaml")
        shutil.copy(SPEC, spec)
        seed = self.write("seed.json", json.dumps({"/pets": [{"id": 10, "name": "Seeded"}]}))
        m = self.start("--stateful", "--data", seed, spec=spec)
        status, _, rex = m.json("POST", "/pets", {"name": "Rex"})
        self.assertEqual((status, rex["id"]), (201, 11))
        self.assertEqual(m.json("POST", "/owners/3/toys", {"kind": "ball"})[0], 201)

        def reload(edit, times):
            with open(spec) as f:
                text = f.read()
            with open(spec, "w") as f:
                f.write(edit(text))
            m.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 30
            while time.time() < deadline and m.stderr().count("reloaded") < times:
                time.sleep(0.05)
            self.assertEqual(m.stderr().count("reloaded"), times, m.stderr()[-3000:])

        # the document changes, its collections do not: the items and the ids go on
        reload(lambda t: t.replace("title: mock pets", "title: mock pets, edited"), 1)
        self.assertIn("the stateful mock keeps its items", m.stderr())
        status, _, got = m.json("GET", "/pets/11")
        self.assertEqual((status, got["name"]), (200, "Rex"))
        self.assertEqual([t["kind"] for t in m.json("GET", "/owners/3/toys")[2]], ["ball"])
        self.assertEqual(m.json("POST", "/pets", {"name": "Max"})[2]["id"], 12)
        self.assertEqual([p["name"] for p in m.json("GET", "/pets")[2]], ["Seeded", "Rex", "Max"])

        # a collection goes: the state starts over, from the seed
        reload(lambda t: t.replace("  /notes:", "  /memos:").replace("  /notes/{noteId}:", "  /memos/{noteId}:"), 2)
        self.assertIn("collections changed, so the stateful mock starts over from its seed data", m.stderr())
        self.assertEqual([p["name"] for p in m.json("GET", "/pets")[2]], ["Seeded"])
        self.assertEqual(m.json("GET", "/pets/11")[0], 404)

    def test_bad_seed_names_line_and_column(self):
        seed = self.write("seed.yaml", "/pets:\n  - {name: 5}\n")
        p = subprocess.run([KUMO, "mock", SPEC, "--port", "0", "--stateful", "--data", seed],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("seed.yaml:2:5: item 0 of '/pets' breaks the document: /name:", p.stderr)


class FaultsTest(MockCase):
    FAULTS = ("rules:\n"
              "  - {probability: 0.3, status: 503, retry_after: 2s}\n"
              "  - {probability: 0.1, reset: true}\n"
              "  - {operation: getPet, probability: 0.1, truncate: 0.5}\n"
              "  - {latency: {uniform: [0ms, 3ms]}}\n")

    def run_once(self, seed):
        faults = self.write("faults.yaml", self.FAULTS)
        m = self.start("--faults", faults, "--seed", str(seed))
        seen = []
        for _ in range(100):
            status, h, body = m.request("GET", "/pets/1")
            if status == 503:
                self.assertEqual(h.get("retry-after"), "2")
                self.assertEqual(h.get("content-type"), "application/problem+json")
            seen.append(status)
        m.stop()
        self.mocks.remove(m)
        return seen

    def test_same_seed_same_faults(self):
        first = self.run_once(7)
        second = self.run_once(7)
        self.assertEqual(first, second)
        for kind in (200, 503, "reset", "truncated"):
            self.assertIn(kind, first, "100 requests at these rates must see %r" % (kind,))
        self.assertTrue(25 <= first.count(503) <= 50, first.count(503))
        self.assertNotEqual(first, self.run_once(8))

    def test_bad_faults_file_names_line_and_column(self):
        faults = self.write("faults.yaml", "- status: 503\n  probabilty: 0.5\n")
        p = subprocess.run([KUMO, "mock", SPEC, "--port", "0", "--faults", faults],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("faults.yaml:2:3: unknown key 'probabilty'", p.stderr)


class Service(http.server.BaseHTTPRequestHandler):
    """The "real" service of the record test."""
    seen = []
    release = threading.Event()

    def log_message(self, *args):
        pass

    def answer(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Service.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.path.startswith("/pets/1000"):  # the slow one: held until the test lets it go
            Service.release.wait(60)
        if self.path.startswith("/pets/"):
            pid = int(self.path.split("/")[2].split("?")[0])
            self.answer(200, {"id": pid, "name": "Pet %d" % pid, "token": "tok-%d" % pid},
                        [("Set-Cookie", "session=s3cr3t")])
        elif self.path.startswith("/pets"):
            self.answer(200, [{"id": 1, "name": "Pet 1"}])
        else:
            self.answer(404, {"title": "nope"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        Service.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.answer(201, {"id": 99, "name": body.get("name")})


class RecordReplayTest(MockCase):
    def test_record_then_replay_offline(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        rec = os.path.join(self.dir, "recordings")
        auth = {"Authorization": "Bearer sk_live_secret", "X-Api-Key": "apikey-secret",
                "X-Service-Token": "svc-secret"}
        try:
            m = self.start("--record", rec, "--proxy", "http://127.0.0.1:%d" % server.server_port,
                           "--redact", "X-Service-Token")
            live = [
                m.json("GET", "/pets/2", headers=auth),
                m.json("GET", "/pets?limit=1", headers=auth),
                m.json("POST", "/pets", {"name": "Ada", "password": "hunter2"}, auth),
            ]
            self.assertEqual(live[0][0], 200)
            self.assertEqual(live[0][2]["name"], "Pet 2")
            self.assertEqual(live[2][0], 201)
            self.assertEqual(live[2][2], {"id": 99, "name": "Ada"})
            # The service saw the client's credentials: record is a proxy.
            self.assertIn(("GET", "/pets/2", "Bearer sk_live_secret"), Service.seen)
            m.stop()
            self.mocks.remove(m)
        finally:
            server.shutdown()
            server.server_close()

        files = sorted(os.path.relpath(p, rec) for p in glob.glob(os.path.join(rec, "*", "*.json")))
        self.assertEqual(files, ["createPet/0001.json", "getPet/0001.json", "listPets/0001.json"])
        for p in glob.glob(os.path.join(rec, "*", "*.json")):
            with open(p) as f:
                text = f.read()
            for secret in ("sk_live_secret", "apikey-secret", "svc-secret", "hunter2", "s3cr3t", "tok-2"):
                self.assertNotIn(secret, text, p)
        with open(os.path.join(rec, "getPet", "0001.json")) as f:
            recorded = json.load(f)
        self.assertEqual(recorded["request"]["headers"]["authorization"], "<redacted>")
        self.assertEqual(recorded["response"]["body"]["name"], "Pet 2")

        # A hand-made recording that breaks the document: drift.
        with open(os.path.join(rec, "getPet", "0002.json"), "w") as f:
            json.dump({"kumo_recording": 1, "operation": "getPet",
                       "request": {"method": "GET", "path": "/pets/7"},
                       "response": {"status": 200, "body": {"id": "seven", "name": "x"}}}, f)

        # The service is gone: replay answers from the files alone.
        m = self.start("--replay", rec)
        status, _, pet = m.json("GET", "/pets/2", headers={"Authorization": "Bearer other"})
        self.assertEqual((status, pet["id"], pet["name"]), (200, 2, "Pet 2"))
        self.assertEqual(m.json("GET", "/pets?limit=1")[2], [{"id": 1, "name": "Pet 1"}])
        status, _, created = m.json("POST", "/pets", {"name": "Ada", "password": "other"})
        self.assertEqual((status, created), (201, {"id": 99, "name": "Ada"}))

        status, h, problem = m.json("GET", "/pets/3")
        self.assertEqual(status, 404)
        self.assertEqual(h["content-type"], "application/problem+json")
        self.assertIn("no recording of getPet matches GET /pets/3", problem["detail"])
        self.assertIn("getPet/0001.json", problem["detail"])
        warns = [json.loads(l) for l in m.stderr().splitlines() if l.startswith("{")]
        self.assertTrue(any(w.get("level") == "warn" and "no recording" in w.get("msg", "") + json.dumps(w)
                            for w in warns), m.stderr()[-2000:])

        status, _, report = m.json("GET", "/__kumo/report")
        self.assertEqual(status, 200)
        self.assertEqual(report["unmatched"][0]["path"], "/pets/3")
        self.assertEqual(report["unmatched"][0]["closest"], "getPet/0001.json")
        self.assertEqual([d["file"] for d in report["drift"]], ["getPet/0002.json"])
        self.assertEqual(m.stop(), 0)
        self.mocks.remove(m)
        said = m.stdout() + m.stderr()
        self.assertIn("GET /pets/3 (getPet) x1, closest: getPet/0001.json", said)
        self.assertIn("getPet/0002.json: /body/id", said)

    def test_record_call_leaves_the_loop(self):
        """With one loop, a recorded call the service holds does not hold
        the loop: other requests are recorded and answered meanwhile, then
        the held one gets its answer, and a client that left while its call
        ran costs nothing."""
        Service.release.clear()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rec = os.path.join(self.dir, "recordings")
        try:
            m = self.start("--threads", "1", "--record", rec, "--proxy", "http://127.0.0.1:%d" % server.server_port)
            got = {}
            held = threading.Thread(target=lambda: got.setdefault("held", m.json("GET", "/pets/1000")))
            held.start()
            deadline = time.time() + 30
            while ("GET", "/pets/1000", None) not in Service.seen and time.time() < deadline:
                time.sleep(0.01)  # until the service holds the call
            self.assertIn(("GET", "/pets/1000", None), Service.seen)
            # the loop answers while the service holds that call (with the
            # call on the loop, these would wait for the release)
            for i in range(5):
                status, _, pet = m.json("GET", "/pets/%d" % (i + 1))
                self.assertEqual((status, pet["id"]), (200, i + 1))
            self.assertNotIn("held", got)
            # a client that leaves while its call is held
            s = socket.create_connection(("127.0.0.1", m.port))
            s.sendall(b"GET /pets/1001 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()
            Service.release.set()
            held.join(30)
            self.assertEqual(got["held"][0], 200)
            self.assertEqual(got["held"][2]["id"], 1000)
            self.assertEqual(m.json("GET", "/pets/3")[0], 200)
        finally:
            Service.release.set()
            server.shutdown()
            server.server_close()

    def test_record_needs_a_proxy(self):
        p = subprocess.run([KUMO, "mock", SPEC, "--port", "0", "--record", os.path.join(self.dir, "r")],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--proxy", p.stderr)


if __name__ == "__main__":
    unittest.main()
