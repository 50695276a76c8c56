"""The OpenAPI document as the contract: the gateway types and checks every
request before a handler runs, answers 400/415/406 with problem+json, and
in --dev/--strict checks responses too."""
import os
import subprocess
import unittest

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


class ContractTest(GatewayTest):
    project = "contract"
    project_root = PROJECTS

    def test_typed_parameters_reach_the_handler(self):
        r = requests.get(self.url("/api/items?limit=5&ids=1,2,3&filter[color]=red&filter[size]=9"),
                         headers={"X-Trace": "ab12"})
        self.assertEqual(r.status_code, 200, r.text)
        q = r.json()["params"]["query"]
        self.assertEqual(q["limit"], 5)
        self.assertEqual(q["ids"], [1, 2, 3])
        self.assertEqual(q["filter"], {"color": "red", "size": 9})
        self.assertEqual(r.json()["params"]["header"]["X-Trace"], "ab12")
        r = requests.get(self.url("/api/items/42"))
        self.assertEqual(r.json()["id"], 42)

    def test_an_operation_without_parameters_gets_empty_typed_values(self):
        # the gateway sends a constant for it (no JSON built per request):
        # the handler sees the same object as for one that declares some
        for url in ("/api/plain", "/api/plain?undeclared=1"):
            r = requests.get(self.url(url), headers={"X-Trace": "ab12"})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["params"], {"path": {}, "query": {}, "header": {}, "cookie": {}})

    def test_every_violation_is_listed(self):
        r = requests.get(self.url("/api/items?limit=abc&ids=1,x"), headers={"X-Trace": "nothex"})
        body = self.assertProblem(r, 400)
        pointers = sorted(e["pointer"] for e in body["errors"])
        self.assertEqual(pointers, ["/header/X-Trace", "/query/ids/1", "/query/limit"])
        for e in body["errors"]:
            self.assertTrue(e["message"])
            self.assertTrue(e["schema"])

    def test_path_parameter_type_is_checked(self):
        body = self.assertProblem(requests.get(self.url("/api/items/abc")), 400)
        self.assertEqual(body["errors"][0]["pointer"], "/path/id")

    def test_json_body_against_schema(self):
        r = requests.post(self.url("/api/items"), json={"name": "pen", "price": 2})
        self.assertEqual(r.status_code, 201, r.text)
        body = self.assertProblem(requests.post(self.url("/api/items"), json={"price": -1, "extra": True}), 400)
        messages = {e["pointer"]: e["message"] for e in body["errors"]}
        self.assertIn("/body/price", messages)
        self.assertTrue(any("name" in m for m in messages.values()), messages)
        self.assertTrue(any("extra" in p or "extra" in m for p, m in messages.items()), messages)
        # readOnly properties may not be sent
        body = self.assertProblem(requests.post(self.url("/api/items"), json={"id": 1, "name": "a", "price": 1}), 400)
        self.assertIn("/body/id", [e["pointer"] for e in body["errors"]])
        # a required body
        self.assertProblem(requests.post(self.url("/api/items")), 400)

    def test_unsupported_media_type_is_415(self):
        r = requests.post(self.url("/api/items"), data="<item/>", headers={"content-type": "text/xml"})
        body = self.assertProblem(r, 415)
        self.assertIn("application/json", body["detail"])

    def test_accept_is_negotiated_or_406(self):
        r = requests.get(self.url("/api/items?limit=3"), headers={"accept": "text/plain"})
        self.assertEqual((r.status_code, r.text), (200, "limit=3"))
        self.assertProblem(requests.get(self.url("/api/items"), headers={"accept": "text/csv"}), 406)

    def test_multipart_fields_and_files(self):
        files = {"file": ("notes.txt", b"\x00binary\xffdata", "application/octet-stream")}
        r = requests.post(self.url("/api/upload"), data={"title": "hello", "count": "3"}, files=files)
        self.assertEqual(r.status_code, 200, r.text)
        got = r.json()
        self.assertEqual((got["found"], got["size"], got["filename"]), (True, 12, "notes.txt"))
        self.assertEqual(got["form"]["title"], "hello")
        self.assertEqual(got["form"]["count"], 3)
        body = self.assertProblem(requests.post(self.url("/api/upload"), data={"title": "x" * 30}, files=files), 400)
        self.assertIn("/body/title", [e["pointer"] for e in body["errors"]])

    def test_form_body_is_typed(self):
        r = requests.post(self.url("/api/form"), data=[("n", "12"), ("tags", "a"), ("tags", "b")])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["form"], {"n": 12, "tags": ["a", "b"]})

    def test_base_path_and_no_handler(self):
        self.assertProblem(requests.get(self.url("/items")), 404)
        self.assertProblem(requests.get(self.url("/api/later")), 501)

    def test_response_not_checked_without_dev(self):
        self.assertEqual(requests.get(self.url("/api/broken")).status_code, 200)


class DevModeTest(unittest.TestCase):
    def run_mode(self, flag):
        gw = Gateway(copy_project("contract", PROJECTS), threads=1, extra_args=[flag])
        try:
            r = requests.get(gw.base + "/api/broken")
            ok = requests.get(gw.base + "/api/items/1")
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
        return r, ok, gw.stderr()

    def test_dev_logs_a_response_that_breaks_the_spec(self):
        r, ok, err = self.run_mode("--dev")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(ok.status_code, 200)
        self.assertIn("breaks the spec", err)
        self.assertIn("name", err)

    def test_strict_replaces_it_with_a_500_problem(self):
        r, ok, err = self.run_mode("--strict")
        self.assertEqual(r.status_code, 500)
        self.assertEqual(r.headers["content-type"], "application/problem+json")
        self.assertTrue(r.json()["errors"])
        self.assertEqual(ok.status_code, 200)


class SpecOnlyTest(unittest.TestCase):
    def test_a_project_of_just_a_spec_is_served(self):
        project = copy_project("contract", PROJECTS)
        with open(os.path.join(project, "kumo.yaml"), "w") as f:
            f.write("name: spec-only\napi: openapi.yaml\n")
        gw = Gateway(project, threads=1)
        try:
            body = requests.get(gw.base + "/api/items")
            self.assertEqual(body.status_code, 501)
            self.assertEqual(requests.get(gw.base + "/docs").status_code, 200)
            self.assertEqual(requests.get(gw.base + "/openapi.json").json()["info"]["title"], "contract")
        finally:
            self.assertEqual(gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
