"""Request bodies share one budget (issue 12, "body buffering has no global
cap"): kumo.yaml's `http: body_budget:` bounds the bytes of bodies the
gateway holds for requests it has not finished (h2o's buffer and the copy
in the frame to a worker: twice the body). A request whose body would pass
it is answered 503 problem+json with Retry-After before anything is
copied; the budget comes back as requests end. Bodies over an operation's
max_body are still 413, and a path no operation serves is 404 without
holding a body.

One worker (max: 1) is kept busy by a slow call, so a 6 MiB upload queues
behind it holding 12 MiB of a 16 MiB budget; a second one cannot fit."""
import os
import shutil
import threading
import unittest

import requests

from kumo_harness import Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(__file__), "projects")
MIB = 1 << 20


class BodyBudgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("faults", PROJECTS)
        with open(os.path.join(cls.dir, "kumo.yaml"), "w") as f:
            f.write("name: faults\napi: openapi.yaml\n"
                    "http: {body_budget: 16Mi}\n"
                    "defaults: {timeout: 20s, max_body: 8Mi, max: 1, queue: 16}\n"
                    "functions:\n  faults: {sources: [functions/faults.c]}\n")
        cls.gw = Gateway(cls.dir, threads=1)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0 or "ERROR: AddressSanitizer" in err:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))

    def queued(self):
        st = requests.get(self.gw.admin + "/status").json()
        return sum(f.get("queued", 0) for f in st["functions"].values()) if isinstance(
            st.get("functions"), dict) else sum(f.get("queued", 0) for f in st.get("functions", []))

    def test_budget_is_shared_and_comes_back(self):
        url = self.gw.base
        results = {}

        def call(name, method, path, **kw):
            r = requests.request(method, url + path, timeout=60, **kw)
            results[name] = r

        slow = threading.Thread(target=call, args=("slow", "GET", "/slow?ms=4000"))
        slow.start()
        self.assertTrue(wait_for(lambda: "slow: sleeping" in self.gw.stdout() + self.gw.stderr(), timeout=30))
        first = threading.Thread(target=call, args=("first", "POST", "/echo/a"),
                                 kwargs={"data": b"x" * (6 * MIB), "headers": {"Content-Type": "text/plain"}})
        first.start()
        self.assertTrue(wait_for(lambda: self.queued() >= 1, timeout=30), "the first upload never queued")

        second = requests.post(url + "/echo/b", data=b"y" * (6 * MIB), headers={"Content-Type": "text/plain"},
                               timeout=60)
        self.assertEqual(second.status_code, 503, second.text[:300])
        self.assertEqual(second.headers["content-type"], "application/problem+json")
        self.assertIn("body_budget", second.json()["detail"])
        self.assertEqual(second.headers.get("retry-after"), "1")

        # small bodies still fit beside the queued one
        small = requests.post(url + "/echo/c", data=b"z" * 1000, headers={"Content-Type": "text/plain"}, timeout=60)
        self.assertNotEqual(small.status_code, 503, small.text[:300])

        slow.join(60)
        first.join(60)
        self.assertEqual(results["slow"].status_code, 200)
        self.assertEqual(results["first"].status_code, 200, results["first"].text[:300])
        # the budget came back
        again = requests.post(url + "/echo/d", data=b"w" * (6 * MIB), headers={"Content-Type": "text/plain"},
                              timeout=60)
        self.assertEqual(again.status_code, 200, again.text[:300])

    def test_over_max_body_is_413_and_unknown_path_404(self):
        r = requests.post(self.gw.base + "/echo/a", data=b"x" * (8 * MIB + 10), headers={"Content-Type": "text/plain"},
                          timeout=60)
        self.assertEqual(r.status_code, 413)
        r = requests.post(self.gw.base + "/nowhere", data=b"x" * (2 * MIB), timeout=60)
        self.assertEqual(r.status_code, 404)


if __name__ == "__main__":
    unittest.main()
