"""kumo mock SPEC and kumo up --mock, as a client sees them.

kumo mock serves projects/mock/petstore.yaml (OpenAPI 3.0: declared and
named examples, made values, response headers, security) and
projects/mock/swagger.yaml (Swagger 2.0) on --port 0, reading the port
from its first stdout line as kumo up does for a service's mock; then
kumo up --mock on projects/mock/upmock, where one operation has a handler
and the other none.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import requests

from kumo_harness import KUMO, SOURCE, Gateway, copy_project, wait_for

FIXTURES = os.path.join(SOURCE, "tests", "integration", "projects", "mock")
LINE = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")


class Mock:
    """One `kumo mock` process on a port of its own choosing."""

    def __init__(self, spec, *args):
        self.tmp = tempfile.mkdtemp(prefix="kumo-mock-")
        self.err = open(os.path.join(self.tmp, "stderr.log"), "w+")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        self.proc = subprocess.Popen([KUMO, "mock", os.path.join(FIXTURES, spec), "--port", "0", "--threads", "2",
                                      *args], stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)
        self.first_line = self.proc.stdout.readline().rstrip("\n")
        m = LINE.match(self.first_line)
        if not m:
            self.proc.kill()
            raise AssertionError("first line %r; stderr:\n%s" % (self.first_line, self.stderr()))
        self.base = "http://127.0.0.1:%s" % m.group(1)

    def stderr(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        err = self.stderr()
        self.err.close()
        self.proc.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if "ERROR: AddressSanitizer" in err or "ERROR: LeakSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report:\n" + err[-6000:])
        return rc


def problem(test, r, status):
    test.assertEqual(r.status_code, status, r.text)
    test.assertEqual(r.headers.get("content-type"), "application/problem+json")
    body = r.json()
    test.assertEqual(body["status"], status)
    return body


class PetstoreMock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("petstore.yaml")

    @classmethod
    def tearDownClass(cls):
        if cls.mock.stop() != 0:
            raise AssertionError("kumo mock did not stop cleanly:\n" + cls.mock.stderr())

    def get(self, path, **kw):
        return requests.get(self.mock.base + path, timeout=10, **kw)

    def test_first_line_names_the_port(self):
        self.assertRegex(self.mock.first_line, LINE)

    def test_declared_example_and_headers(self):
        r = self.get("/api/pets")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json(), [{"id": 1, "name": "Rex", "kind": "dog"}, {"id": 2, "name": "Tom", "kind": "cat"}])
        self.assertEqual(r.headers.get("x-total"), "2")

    def test_named_examples(self):
        self.assertEqual(self.get("/api/pets", headers={"Prefer": "example=empty"}).json(), [])
        self.assertEqual(self.get("/api/pets", headers={"Prefer": 'example="shared"'}).json(),
                         [{"id": 3, "name": "Kit", "kind": "cat"}])
        body = problem(self, self.get("/api/pets", headers={"Prefer": "example=nope"}), 400)
        self.assertIn("'two', 'empty', 'shared'", body["detail"])

    def test_made_from_the_schema(self):
        r = self.get("/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d")
        self.assertEqual(r.status_code, 200, r.text)
        o = r.json()
        self.assertRegex(o["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertRegex(o["email"], r"^[^@]+@[^@]+$")
        self.assertRegex(o["since"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(0 < o["score"] <= 5 and o["score"] * 2 == int(o["score"] * 2), o["score"])
        self.assertTrue(1 <= len(o["pets"]) <= 3)
        for pet in o["pets"]:
            self.assertNotIn("secret", pet)  # writeOnly: never in a response
            self.assertIn(pet["kind"], ["dog", "cat", "bird"])
            self.assertTrue(1 <= len(pet["name"]) <= 20)
            if "tag" in pet:
                self.assertRegex(pet["tag"], r"^[A-Z]{3}-[0-9]{2}$")
        if o.get("address") is not None:
            self.assertRegex(o["address"]["zip"], r"^[0-9]{5}$")
            self.assertIn("city", o["address"])
        # static: the same answer every time
        self.assertEqual(self.get("/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d").json(), o)

    def test_prefer_dynamic(self):
        url = "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d"
        seen = {self.get(url, headers={"Prefer": "dynamic=true"}).text for _ in range(5)}
        self.assertGreater(len(seen), 1)
        pets = self.get("/api/pets", headers={"Prefer": "dynamic=true"}).json()
        self.assertIsInstance(pets, list)
        self.assertNotEqual(pets, [{"id": 1, "name": "Rex", "kind": "dog"}, {"id": 2, "name": "Tom", "kind": "cat"}])

    def test_prefer_code(self):
        auth = {"Authorization": "Bearer x"}
        r = self.get("/api/pets/5", headers={"Prefer": "code=404", **auth})
        self.assertEqual(r.status_code, 404)
        self.assertEqual(r.json(), {"title": "Not Found", "status": 404})
        body = problem(self, self.get("/api/pets/5", headers={"Prefer": "code=418", **auth}), 400)
        self.assertIn("200, 404", body["detail"])

    def test_accept_picks_the_media_type(self):
        r = self.get("/api/pets/5", headers={"Authorization": "Bearer x", "Accept": "text/csv"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["content-type"], "text/csv")
        self.assertRegex(r.text, r"^id,name\n[0-9]+,[a-z]+$")
        problem(self, self.get("/api/pets/5", headers={"Authorization": "Bearer x", "Accept": "image/png"}), 406)

    def test_requests_are_validated_as_kumo_up_does(self):
        r = requests.post(self.mock.base + "/api/pets", json={"name": "", "kind": "fish", "id": 3, "x": 1},
                          headers={"X-Api-Key": "k"}, timeout=10)
        # createPet declares a 422: a body that breaks its schema gets it (Prism's answer), with every violation
        body = problem(self, r, 422)
        self.assertGreaterEqual(len(body["errors"]), 3, body)  # every violation, not the first
        pointers = {e["pointer"] for e in body["errors"]}
        self.assertIn("/body/kind", pointers)
        problem(self, requests.post(self.mock.base + "/api/pets", data="name=x", timeout=10,
                                    headers={"X-Api-Key": "k", "Content-Type": "text/plain"}), 415)
        problem(self, self.get("/api/pets?limit=500"), 400)
        problem(self, self.get("/api/pets/0", headers={"Authorization": "Bearer x"}), 400)
        problem(self, self.get("/api/nothing"), 404)
        r = requests.put(self.mock.base + "/api/pets", timeout=10)
        problem(self, r, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD, POST")

    def test_head_has_no_body(self):
        r = requests.head(self.mock.base + "/api/pets", timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.text, "")

    def test_made_response_to_a_valid_create(self):
        r = requests.post(self.mock.base + "/api/pets", json={"name": "Rex", "kind": "dog", "secret": "s"},
                          headers={"X-Api-Key": "k"}, timeout=10)
        self.assertEqual(r.status_code, 201, r.text)
        pet = r.json()
        self.assertNotIn("secret", pet)
        self.assertIn(pet["kind"], ["dog", "cat", "bird"])

    def test_missing_credential_is_401(self):
        body = problem(self, requests.post(self.mock.base + "/api/pets", json={"name": "a", "kind": "dog"},
                                           timeout=10), 401)
        self.assertIn("x-api-key", body["detail"])
        self.assertIn("authorization", body["detail"])
        r = self.get("/api/pets/5")
        problem(self, r, 401)
        self.assertEqual(r.headers.get("www-authenticate"), "Bearer")
        # either alternative will do; presence only
        self.assertEqual(requests.post(self.mock.base + "/api/pets", json={"name": "a", "kind": "dog"},
                                       headers={"Authorization": "Bearer anything"}, timeout=10).status_code, 201)
        problem(self, requests.delete(self.mock.base + "/api/pets/5", timeout=10), 401)
        r = requests.delete(self.mock.base + "/api/pets/5?key=k", timeout=10)
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(r.text, "")
        # a credential does not excuse an invalid request, and a missing one comes first
        problem(self, self.get("/api/pets/0"), 401)


class Seeds(unittest.TestCase):
    def answers(self, *args):
        m = Mock("petstore.yaml", *args)
        try:
            return [requests.get(m.base + "/api/owners/7d0f3c1e-7a4b-4c55-9d8e-0c3b1f2a4e5d", timeout=10).text,
                    requests.post(m.base + "/api/pets", json={"name": "a", "kind": "dog"},
                                  headers={"X-Api-Key": "k"}, timeout=10).text]
        finally:
            self.assertEqual(m.stop(), 0)

    def test_same_seed_same_answers(self):
        a, b = self.answers("--seed", "7"), self.answers("--seed", "7")
        self.assertEqual(a, b)
        self.assertNotEqual(a, self.answers("--seed", "8"))
        self.assertEqual(self.answers(), self.answers("--seed", "0"))


class SwaggerMock(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock("swagger.yaml", "--seed", "3")

    @classmethod
    def tearDownClass(cls):
        if cls.mock.stop() != 0:
            raise AssertionError("kumo mock did not stop cleanly")

    def test_declared_example_by_mime_type(self):
        r = requests.get(self.mock.base + "/v2/items", timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), [{"sku": "A-1", "price": 9.5}])

    def test_made_body_and_header(self):
        r = requests.get(self.mock.base + "/v2/items/B-12", timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        item = r.json()
        self.assertRegex(item["sku"], r"^[A-Z]-[0-9]+$")
        self.assertGreaterEqual(item["price"], 0)
        self.assertTrue(1 <= int(r.headers["x-rate"]) <= 10)
        problem(self, requests.get(self.mock.base + "/v2/items/lower", timeout=10), 400)


class Usage(unittest.TestCase):
    def run_kumo(self, *args):
        return subprocess.run([KUMO, *args], capture_output=True, text=True, timeout=30)

    def test_refusals(self):
        r = self.run_kumo("mock")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("which OpenAPI document", r.stderr)
        r = self.run_kumo("mock", os.path.join(FIXTURES, "petstore.yaml"), "--stateless")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown option '--stateless'", r.stderr)
        r = self.run_kumo("mock", os.path.join(FIXTURES, "nope.yaml"), "--port", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.yaml", r.stderr)
        r = self.run_kumo("mock", FIXTURES, "--port", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a file", r.stderr)
        r = self.run_kumo("up", os.path.join(FIXTURES, "upmock"), "--seed", "3")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("goes with --mock", r.stderr)


class UpMock(unittest.TestCase):
    """kumo up --mock: the handler answers its operation, the mock the other."""

    def start(self, *args):
        self.dir = copy_project("upmock", FIXTURES)
        self.gw = Gateway(self.dir, threads=1, extra_args=args)

    def tearDown(self):
        rc = self.gw.stop()
        err = self.gw.stderr()
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertNotIn("ERROR: AddressSanitizer", err)

    def test_missing_handler_is_mocked(self):
        self.start("--mock", "--seed", "1")
        self.assertIn("mock     operations without a handler answer mock responses", self.gw.stdout())
        r = requests.get(self.gw.base + "/hello", timeout=30)
        self.assertEqual(r.text, "hello, world\n")  # the handler, not the mock
        r = requests.post(self.gw.base + "/greetings", json={"to": "ada"}, timeout=10)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertGreaterEqual(r.json()["id"], 1)
        self.assertIsInstance(r.json()["text"], str)
        body = problem(self, requests.post(self.gw.base + "/greetings", json={"to": "", "x": 1}, timeout=10), 400)
        self.assertEqual(len(body["errors"]), 2, body)

    def test_without_mock_still_501(self):
        self.start()
        problem(self, requests.post(self.gw.base + "/greetings", json={"to": "ada"}, timeout=10), 501)


if __name__ == "__main__":
    unittest.main()
