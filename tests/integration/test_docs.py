"""The live contract through `kumo up`: /openapi.json is the spec minus its
x-kumo-* keys, /openapi.yaml reads back (PyYAML, YAML 1.1) as the same
value, referenced files are served under /openapi/ and nothing outside the
spec's directory is, ETag / If-None-Match / 304 and Cache-Control, only
GET and HEAD, and /docs is one HTML page that names no other host. A main
document that is a symlink is served, and named in messages, under the name
kumo.yaml gives it, with its $refs found beside that name."""
import json
import os
import re
import shutil
import subprocess
import unittest

import requests
import yaml

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project

HERE = os.path.dirname(os.path.abspath(__file__))

# The rule docs.c applies (docs.h, kumo__docs_strip): x-kumo-* keys go
# wherever they are extensions; data and user-chosen names stay.
NAME_MAPS = {"properties", "patternProperties", "definitions", "$defs", "schemas", "parameters", "headers",
             "content", "encoding", "securitySchemes", "requestBodies", "links", "callbacks", "pathItems",
             "variables", "dependentSchemas", "mapping"}


def strip(v, ctx="normal"):
    if ctx == "literal":
        return v
    if isinstance(v, list):
        return [strip(x, "normal" if ctx == "names" else ctx) for x in v]
    if not isinstance(v, dict):
        return v
    out = {}
    for k, x in v.items():
        if ctx not in ("names", "examples") and k.startswith("x-kumo-"):
            continue
        if ctx in ("names", "responses"):
            c = "normal"
        elif ctx == "examples":
            c = "example"
        elif ctx == "example" and k == "value":
            c = "literal"
        elif k in ("example", "default", "enum", "const"):
            c = "literal"
        elif k == "responses" and isinstance(x, dict):
            c = "responses"
        elif k == "examples":
            c = "examples" if isinstance(x, dict) else "literal"
        elif k in NAME_MAPS and isinstance(x, dict):
            c = "names"
        else:
            c = "normal"
        out[k] = strip(x, c)
    return out


class DocsFixtureTest(GatewayTest):
    project = "docs"
    project_root = os.path.join(HERE, "projects")

    def source(self, name="openapi.yaml"):
        with open(os.path.join(self.project_dir, name)) as f:
            return yaml.safe_load(f)

    def test_json_is_the_spec_without_x_kumo(self):
        r = requests.get(self.url("/openapi.json"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        served = r.json()
        self.assertEqual(served, strip(self.source()))
        self.assertNotIn("x-kumo-top", served)
        self.assertNotIn("x-kumo-note", served["info"])
        self.assertEqual(served["info"]["x-logo"], "kept")
        get = served["paths"]["/items/{id}"]["get"]
        self.assertNotIn("x-kumo-handler", get)
        self.assertNotIn("x-kumo-extra", get["responses"]["default"])
        self.assertEqual(get["responses"]["200"]["content"]["application/json"]["example"]["x-kumo-data"],
                         "kept, this is data")
        self.assertIn("x-kumo-trace", get["responses"]["200"]["headers"])
        self.assertIn("x-kumo-named", served["components"]["schemas"])
        self.assertNotIn("removed", r.text)
        # the $ref stays as written, relative to the spec
        self.assertEqual(get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
                         "schemas/item.yaml#/Item")

    def test_yaml_round_trips(self):
        r = requests.get(self.url("/openapi.yaml"))
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["content-type"].startswith("application/yaml"))
        as_json = requests.get(self.url("/openapi.json")).json()
        self.assertEqual(yaml.safe_load(r.text), as_json)
        words = as_json["paths"]["/items/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        self.assertIn("yes", words["example"]["words"])  # a string, not True, after the round trip
        self.assertIn("description: |\n", r.text)        # multi-line text as a literal block

    def test_referenced_files(self):
        r = requests.get(self.url("/openapi/schemas/item.yaml"))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(yaml.safe_load(r.text), strip(self.source("schemas/item.yaml")))
        self.assertNotIn("x-kumo-internal", r.text)
        main = requests.get(self.url("/openapi/openapi.yaml"))
        self.assertEqual(main.status_code, 200)
        self.assertEqual(yaml.safe_load(main.text), requests.get(self.url("/openapi.json")).json())
        for path in ("/openapi/kumo.yaml", "/openapi/functions/items.c", "/openapi/../kumo.yaml",
                     "/openapi/%2e%2e/kumo.yaml", "/openapi/schemas/../../kumo.yaml", "/openapi/schemas/"):
            r = requests.get(self.url(path))
            self.assertIn(r.status_code, (400, 404), path)
            self.assertNotIn("functions:", r.text)
            self.assertNotIn("kumo_response", r.text)

    def test_etag_and_304(self):
        for path in ("/openapi.json", "/openapi.yaml", "/docs"):
            r = requests.get(self.url(path))
            etag = r.headers["etag"]
            self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
            self.assertEqual(r.headers["cache-control"], "no-cache")
            again = requests.get(self.url(path))
            self.assertEqual(again.headers["etag"], etag)
            nm = requests.get(self.url(path), headers={"If-None-Match": etag})
            self.assertEqual(nm.status_code, 304, path)
            self.assertEqual(nm.content, b"")
            self.assertEqual(nm.headers["etag"], etag)
            self.assertEqual(requests.get(self.url(path), headers={"If-None-Match": '"x", W/' + etag}).status_code,
                             304)
            self.assertEqual(requests.get(self.url(path), headers={"If-None-Match": '"0000"'}).status_code, 200)
        self.assertNotEqual(requests.get(self.url("/openapi.json")).headers["etag"],
                            requests.get(self.url("/openapi.yaml")).headers["etag"])

    def test_methods(self):
        h = requests.head(self.url("/openapi.json"))
        self.assertEqual(h.status_code, 200)
        self.assertEqual(h.content, b"")
        self.assertEqual(int(h.headers["content-length"]), len(requests.get(self.url("/openapi.json")).content))
        for method in ("POST", "PUT", "DELETE"):
            r = requests.request(method, self.url("/openapi.json"))
            self.assertProblem(r, 405)
            self.assertEqual(r.headers["allow"], "GET, HEAD")

    def test_docs_page(self):
        for path in ("/docs", "/docs/"):
            r = requests.get(self.url(path))
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
            self.assertTrue(r.text.startswith("<!doctype html>"))
            self.assertEqual(re.findall(r"https?://", r.text, re.I), [], "the page must not name other hosts")
            self.assertNotRegex(r.text, r"<(script|link|img)[^>]+(src|href)=", "no external assets")
            self.assertIn("<title>docs · API reference</title>", r.text)
            self.assertIn('"basePath":"\\/v1"', r.text)
            self.assertIn("connect-src 'self'", r.headers["content-security-policy"])
            # no other site may frame the page, and it leaks no referrer
            self.assertIn("frame-ancestors 'none'", r.headers["content-security-policy"])
            self.assertEqual(r.headers.get("x-frame-options"), "DENY")
            self.assertEqual(r.headers.get("referrer-policy"), "no-referrer")

    def test_api_still_served(self):
        r = requests.get(self.url("/v1/items/one"))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"name": "one"})


class DocsTodoTest(GatewayTest):
    project = "todo"

    def test_json_is_the_spec(self):
        with open(os.path.join(self.project_dir, "openapi.yaml")) as f:
            src = yaml.safe_load(f)
        served = requests.get(self.url("/openapi.json")).json()
        self.assertEqual(served, src)
        self.assertEqual(yaml.safe_load(requests.get(self.url("/openapi.yaml")).text), served)
        ids = {op["operationId"] for item in served["paths"].values() for op in item.values()
               if isinstance(op, dict) and "operationId" in op}
        self.assertEqual(ids, {"listTodos", "createTodo", "getTodo", "updateTodo", "deleteTodo", "putAttachment",
                               "getAttachment", "listNotifications", "ackNotifications"})


class DocsSymlinkTest(unittest.TestCase):
    """kumo.yaml says api: openapi.yaml, and openapi.yaml is a symlink to
    real/other.yaml: the user wrote openapi.yaml, so that is its name."""

    def setUp(self):
        self.dir = copy_project("docs", os.path.join(HERE, "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(self.dir), True)
        os.mkdir(os.path.join(self.dir, "real"))
        os.rename(os.path.join(self.dir, "openapi.yaml"), os.path.join(self.dir, "real", "other.yaml"))
        os.symlink(os.path.join("real", "other.yaml"), os.path.join(self.dir, "openapi.yaml"))

    def test_served_under_the_written_name(self):
        gw = Gateway(self.dir)
        try:
            main = requests.get(gw.base + "/openapi/openapi.yaml")
            self.assertEqual(main.status_code, 200, main.text)
            self.assertEqual(yaml.safe_load(main.text), requests.get(gw.base + "/openapi.json").json())
            self.assertEqual(requests.get(gw.base + "/openapi/other.yaml").status_code, 404)
            self.assertEqual(requests.get(gw.base + "/openapi/real/other.yaml").status_code, 404)
            # its $ref (schemas/item.yaml) is found beside openapi.yaml, as the loader finds it
            item = requests.get(gw.base + "/openapi/schemas/item.yaml")
            self.assertEqual(item.status_code, 200, item.text)
            self.assertIn("openapi.yaml", gw.stdout())
            self.assertNotIn("other.yaml", gw.stdout())
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            gw.out.close()
            gw.err.close()

    def test_messages_use_the_written_name(self):
        # a schema the main document reaches in schemas/item.yaml is broken:
        # its location is named from openapi.yaml's folder, not real/'s
        item = os.path.join(self.dir, "schemas", "item.yaml")
        with open(item) as f:
            text = f.read()
        with open(item, "w") as f:
            f.write(text.replace("{type: string, example: one}", "{type: string, pattern: '[a-', example: one}"))
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        for args in (["lint"], ["up", self.dir, "--port", "0", "--admin-port", "-1"]):
            r = subprocess.run([KUMO, *args], cwd=self.dir, env=env, capture_output=True, text=True, timeout=120)
            said = r.stdout + r.stderr
            self.assertEqual(r.returncode, 1, said)
            self.assertRegex(said, r"schemas/item\.yaml:6:\d+: ")
            self.assertIn("invalid regular expression '[a-'", said)
            self.assertIn(" schemas/item.yaml#/Item/properties/name/pattern: ", said)
            self.assertNotIn("other.yaml", said)
            self.assertNotIn("../", said)

if __name__ == "__main__":
    unittest.main()


class DocsEventsTest(unittest.TestCase):
    """A project with `events:` (projects/ticks): /docs carries each event
    (name, schedule and zone, handler, missed/overlap) and its next three
    fire times, computed when kumo loaded the project: the same times
    `kumo events --from THEN` prints. A project without events has none."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("ticks", os.path.join(HERE, "projects"))
        path = os.path.join(cls.dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        text = text[:text.index("\nevents:") + 1] + (
            'events:\n'
            '  purge:\n'
            '    schedule: "30 2 * * *"\n'
            '    timezone: Europe/Zurich\n'
            '    handler: ticks.record\n'
            '    missed: once\n'
            '  never-ever: {schedule: "0 0 30 2 *", handler: ticks.slow, overlap: true}\n')
        with open(path, "w") as f:
            f.write(text)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.gw.stop()
            err = cls.gw.stderr()
            assert rc == 0, err[-3000:]
            assert "ERROR: AddressSanitizer" not in err and "runtime error:" not in err, err[-6000:]
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def config(self):
        r = requests.get(self.gw.base + "/docs")
        self.assertEqual(r.status_code, 200)
        m = re.search(r'<script id="kumo-config" type="application/json">(.*?)</script>', r.text, re.S)
        self.assertTrue(m, r.text[:500])
        self.assertEqual(re.findall(r"https?://", r.text, re.I), [], "the page must not name other hosts")
        return json.loads(m.group(1))

    def test_events_in_the_page(self):
        ev = self.config()["events"]
        self.assertRegex(ev["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        by_name = {e["name"]: e for e in ev["list"]}
        self.assertEqual(set(by_name), {"purge", "never-ever"})
        purge, never = by_name["purge"], by_name["never-ever"]
        self.assertEqual((purge["kind"], purge["schedule"], purge["timezone"], purge["handler"], purge["missed"],
                          purge["overlap"]), ("schedule", "30 2 * * *", "Europe/Zurich", "ticks.record", "once", False))
        self.assertEqual((never["timezone"], never["handler"], never["missed"], never["overlap"]),
                         ("UTC", "ticks.slow", "skip", True))
        self.assertEqual(never["next"], [])
        # the same fire times as `kumo events` from the page's instant
        r = subprocess.run([KUMO, "events", self.dir, "--json", "--from", ev["at"]], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        offline = {e["name"]: e for e in json.loads(r.stdout)}
        self.assertEqual(len(purge["next"]), 3)
        self.assertEqual(purge["next"], [{"local": t["local"], "utc": t["utc"]} for t in offline["purge"]["next"]])
        self.assertTrue(all(t["local"].endswith(("+01:00", "+02:00")) for t in purge["next"]), purge["next"])
        self.assertGreater(purge["next"][0]["utc"], ev["at"])

    def test_no_events_no_section(self):
        gw = Gateway(copy_project("todo"))
        try:
            r = requests.get(gw.base + "/docs")
            self.assertEqual(r.status_code, 200)
            m = re.search(r'<script id="kumo-config" type="application/json">(.*?)</script>', r.text, re.S)
            self.assertNotIn("events", json.loads(m.group(1)))
        finally:
            self.assertEqual(gw.stop(), 0)
            shutil.rmtree(os.path.dirname(gw.dir), ignore_errors=True)


class DocsFirstRequestTest(unittest.TestCase):
    """kumo up makes /docs, /openapi.json, /openapi.yaml and the $ref'd
    files on their first request (docs.c), once, whichever of its loops
    the request reaches: many connections asking at once, over four
    loops, all get the same bodies and ETags, and the same again later."""

    PATHS = ("/openapi.json", "/openapi.yaml", "/docs", "/docs/", "/openapi/schemas/item.yaml",
             "/openapi/openapi.yaml")

    def test_many_connections_at_once(self):
        import http.client
        import threading
        from urllib.parse import urlparse

        d = copy_project("docs", os.path.join(HERE, "projects"))
        gw = Gateway(d, threads=4)
        try:
            u = urlparse(gw.base)
            per_path = 8
            go = threading.Barrier(per_path * len(self.PATHS))
            got = {p: [] for p in self.PATHS}
            errors = []

            def fetch(path):
                try:
                    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                    c.connect()  # every connection open before anyone asks
                    go.wait(timeout=60)
                    c.request("GET", path)
                    r = c.getresponse()
                    got[path].append((r.status, r.getheader("etag"), r.read()))
                    c.close()
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append("%s: %r" % (path, e))

            threads = [threading.Thread(target=fetch, args=(p,)) for p in self.PATHS for _ in range(per_path)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            for path in self.PATHS:
                answers = got[path]
                self.assertEqual(len(answers), per_path, path)
                self.assertEqual({a[0] for a in answers}, {200}, path)
                self.assertEqual(len({a[1] for a in answers}), 1, path)
                self.assertEqual(len({a[2] for a in answers}), 1, path)
                later = requests.get(gw.base + path)
                self.assertEqual(later.content, answers[0][2], path)
                self.assertEqual(later.headers["etag"], answers[0][1], path)
            self.assertEqual(json.loads(got["/openapi.json"][0][2]),
                             yaml.safe_load(got["/openapi.yaml"][0][2]))
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            gw.out.close()
            gw.err.close()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_head_and_conditional_first(self):
        """The first requests for the documents are HEADs and conditional
        GETs, many at once: they make the bodies as a GET would, so their
        Content-Length and ETag are the full bodies' that a GET then gets,
        and an If-None-Match with that ETag is a 304."""
        import threading

        d = copy_project("docs", os.path.join(HERE, "projects"))
        gw = Gateway(d, threads=4)
        try:
            heads = {p: [] for p in self.PATHS}
            errors = []
            go = threading.Barrier(4 * len(self.PATHS))

            def ask(path, n):
                try:
                    go.wait(timeout=60)
                    if n % 2:
                        r = requests.head(gw.base + path, timeout=60)
                    else:
                        r = requests.get(gw.base + path, headers={"If-None-Match": '"0000000000000000"'},
                                         timeout=60)
                    heads[path].append((r.status_code, r.headers.get("etag"), r.headers.get("content-length"),
                                        n % 2 == 0 and len(r.content)))
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append("%s: %r" % (path, e))

            threads = [threading.Thread(target=ask, args=(p, n)) for p in self.PATHS for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(errors, [])
            for path in self.PATHS:
                full = requests.get(gw.base + path)
                self.assertEqual(full.status_code, 200, path)
                self.assertEqual(len(heads[path]), 4, path)
                for status, etag, length, got in heads[path]:
                    self.assertEqual(status, 200, path)
                    self.assertEqual(etag, full.headers["etag"], path)
                    self.assertEqual(int(length), len(full.content), path)
                    if got is not False:
                        self.assertEqual(got, len(full.content), path)
                nm = requests.get(gw.base + path, headers={"If-None-Match": full.headers["etag"]})
                self.assertEqual(nm.status_code, 304, path)
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            gw.out.close()
            gw.err.close()
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)
