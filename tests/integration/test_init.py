"""kumo init: each template written into a fresh folder, then `kumo test`
on it (its own tests pass) and `kumo up` on it with a real request, as a
new user would; files are never overwritten; `kumo init --from` on a
document with several operations writes a stub per operation answering
the document's example, which kumo test and kumo up then serve."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, wait_for


def run(*args, cwd=None):
    return subprocess.run([KUMO, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class InitCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kumo-init-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def init(self, *args, name="proj"):
        d = os.path.join(self.tmp, name)
        r = run("init", d, *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return d

    def kumo_test(self, d, passed):
        r = run("test", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("%d passed, 0 failed" % passed, r.stdout)
        return r

    def serve(self, d):
        gw = Gateway(d, threads=1)

        def stop():
            rc = gw.stop()
            self.assertEqual(rc, 0, gw.stderr()[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", gw.stderr())
        self.addCleanup(stop)
        return gw


class TestTemplates(InitCase):
    def test_hello(self):
        d = self.init(name="my-app")  # hello is the default
        for f in ("kumo.yaml", "openapi.yaml", "functions/hello.c", "tests/hello_test.c", "README.md",
                  ".gitignore"):
            self.assertTrue(os.path.isfile(os.path.join(d, f)), f)
        with open(os.path.join(d, "kumo.yaml")) as f:
            self.assertIn("name: 'my-app'\n", f.read())
        self.kumo_test(d, 3)
        gw = self.serve(d)
        status, body = http("GET", gw.base + "/hello?name=kumo")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"message": "hello, kumo"})

    def test_crud(self):
        d = self.init("--template", "crud")
        self.kumo_test(d, 3)
        gw = self.serve(d)
        status, body = http("POST", gw.base + "/items", {"name": "milk"})
        self.assertEqual(status, 201, body)
        item = json.loads(body)
        status, body = http("GET", gw.base + "/items/" + item["id"])
        self.assertEqual((status, json.loads(body)), (200, item))

    def test_events(self):
        d = self.init("--template", "events")
        self.kumo_test(d, 4)
        gw = self.serve(d)
        status, body = http("POST", gw.base + "/jobs", {"input": "hello"})
        self.assertEqual(status, 202, body)
        job = json.loads(body)
        # the queue event "work" runs the job under kumo up (bounded wait)
        done = wait_for(lambda: json.loads(http("GET", gw.base + "/jobs/" + job["id"])[1]).get("state") == "done",
                        timeout=30)
        self.assertTrue(done, gw.stderr()[-3000:])
        self.assertEqual(json.loads(http("GET", gw.base + "/jobs/" + job["id"])[1])["output"], "HELLO")


class TestRefusals(InitCase):
    def test_never_overwrites(self):
        d = os.path.join(self.tmp, "p")
        os.makedirs(d)
        with open(os.path.join(d, "kumo.yaml"), "w") as f:
            f.write("name: mine\n")
        r = run("init", d, "--template", "crud")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(os.path.join(d, "kumo.yaml") + " already exists", r.stderr)
        with open(os.path.join(d, "kumo.yaml")) as f:
            self.assertEqual(f.read(), "name: mine\n")
        self.assertEqual(os.listdir(d), ["kumo.yaml"])  # nothing else written either

    def test_usage(self):
        r = run("init", os.path.join(self.tmp, "x"), "--template", "nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("hello, crud and events", r.stderr)
        r = run("init", os.path.join(self.tmp, "x"), "--name", "Bad_Name")
        self.assertEqual(r.returncode, 2)
        r = run("init", "--from", "a.yaml", "--template", "hello")
        self.assertEqual(r.returncode, 2)


SPEC = """openapi: 3.0.3
info: {title: pets, version: '1'}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        '200':
          description: the pets
          content:
            application/json:
              schema: {type: array, items: {$ref: '#/components/schemas/Pet'}}
              example: [{id: 7, name: Rex}]
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
      responses:
        '201':
          description: created
          headers:
            Location: {required: true, schema: {type: string}, example: /pets/7}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getPet
      x-kumo-handler: store.getPet
      responses:
        '200':
          description: one pet
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
    delete:
      operationId: deletePet
      responses:
        '204': {description: gone}
  /health:
    get:
      responses:
        '200': {description: no operationId, no stub}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, minimum: 1}
        name: {type: string, minLength: 1, example: Rex}
"""


class TestFrom(InitCase):
    def test_stubs_for_every_operation(self):
        src = os.path.join(self.tmp, "pets.yaml")
        with open(src, "w") as f:
            f.write(SPEC)
        d = os.path.join(self.tmp, "pets")
        r = run("init", "--from", src, d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("GET /health has no operationId", r.stdout)
        with open(os.path.join(d, "kumo.yaml")) as f:
            y = f.read()
        self.assertIn("api: 'pets.yaml'\n", y)  # copied beside kumo.yaml
        self.assertIn("  api: {sources: [functions/api.c]}", y)
        self.assertIn("  store: {sources: [functions/store.c]}", y)  # x-kumo-handler's unit
        with open(os.path.join(d, "functions/api.c")) as f:
            api = f.read()
        for fn in ("listPets", "createPet", "deletePet"):
            self.assertIn("int %s(kumo_ctx *ctx" % fn, api)
        with open(os.path.join(d, "functions/store.c")) as f:
            self.assertIn("int getPet(kumo_ctx *ctx", f.read())
        # the generated test calls listPets (needs nothing) and passes
        r = self.kumo_test(d, 2)
        self.assertIn("listPets_answers", r.stdout)
        gw = self.serve(d)
        status, body = http("GET", gw.base + "/pets")
        self.assertEqual((status, json.loads(body)), (200, [{"id": 7, "name": "Rex"}]))  # the declared example
        status, body = http("GET", gw.base + "/pets/3")
        self.assertEqual(status, 200, body)
        pet = json.loads(body)  # made from the schema, valid against it
        self.assertGreaterEqual(pet["id"], 1)
        self.assertEqual(pet["name"], "Rex")
        req = urllib.request.Request(gw.base + "/pets", data=b'{"id":1,"name":"a"}', method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.assertEqual(resp.status, 201)
            self.assertEqual(resp.headers["location"], "/pets/7")
        self.assertEqual(http("DELETE", gw.base + "/pets/3")[0], 204)

    def test_examples_kept_byte_for_byte(self):
        # an example with what a C string literal must escape, and a
        # comment end in the path: the stub compiles and answers it exactly
        text = 'he said "hi"??= */ \\ done\n\u00e9\u65e5 \x01 tab\t'
        spec = ("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a*/b:\n    get:\n"
                "      operationId: odd\n      responses:\n        '200':\n          description: x\n"
                "          content:\n            application/json:\n              schema: {type: string}\n"
                "              example: %s\n" % json.dumps(text))
        d = os.path.join(self.tmp, "odd")
        os.makedirs(d)
        with open(os.path.join(d, "openapi.yaml"), "w") as f:
            f.write(spec)
        r = run("init", "--from", os.path.join(d, "openapi.yaml"), d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(d, "kumo.yaml")) as f:
            self.assertIn("api: 'openapi.yaml'\n", f.read())  # in DIR already: not copied
        with open(os.path.join(d, "tests", "exact_test.c"), "w") as f:
            f.write("#include <kumo_test.h>\nKUMO_TEST(exact)\n{\n"
                    "    kumo_test_response *r = kumo_test_get(t, \"/a*/b\");\n"
                    "    KUMO_ASSERT_STATUS(r, 200);\n"
                    "    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_body_json(r)), %s);\n}\n"
                    % json.dumps(text, ensure_ascii=False).replace("\\u0001", "\\001"))
        r = run("test", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 passed, 0 failed", r.stdout)

    def test_operation_id_not_c(self):
        src = os.path.join(self.tmp, "bad.yaml")
        with open(src, "w") as f:
            f.write(SPEC.replace("operationId: deletePet", "operationId: delete-pet"))
        d = os.path.join(self.tmp, "bad")
        r = run("init", "--from", src, d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("bad.yaml:", r.stderr)
        self.assertIn("'delete-pet' is not a C identifier", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "kumo.yaml")))


if __name__ == "__main__":
    unittest.main()
