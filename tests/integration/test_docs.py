"""The live contract through `kumo up`: /openapi.json is the spec minus its
x-kumo-* keys, /openapi.yaml reads back (PyYAML, YAML 1.1) as the same
value, referenced files are served under /openapi/ and nothing outside the
spec's directory is, ETag / If-None-Match / 304 and Cache-Control, only
GET and HEAD, and /docs is one HTML page that names no other host."""
import json
import os
import re
import unittest

import requests
import yaml

from kumo_harness import GatewayTest

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


if __name__ == "__main__":
    unittest.main()
