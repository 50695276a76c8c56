"""`kumo dev` (docs/dev.md), seen from outside: it serves a copy of
projects/dev while the test edits its files, one class, tests in order.

- the handler's source: the new answer is served, and kumo dev prints what
  the change cost ("change: functions/app.c; built N ms; serving
  generation 2 in N ms");
- a header the source includes (known from the compiler's dependency
  output, NAME.d): the unit is rebuilt (before issue 17 nothing was);
- the file openapi.yaml $refs: a new operation appears;
- kumo.yaml: the unit's max replicas, seen in /status;
- a broken build: the old answer keeps coming, `kumo reload` answers with
  the compiler's file:line:column, /docs shows it in a banner; fixed, the
  new answer comes and the banner goes;
- a client loop during several swaps sees no failed request;
- a reload with nothing changed (kumo reload, or a file saved unchanged)
  makes no generation and no cold start;
- a file kumo.yaml names as ${file:PATH} (a secret in env:) is an input:
  its change reaches the workers.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
WAIT = 90  # a sanitizer build compiles slowly; the waits end as soon as the answer is there


class DevGateway(Gateway):
    """Gateway, started as `kumo dev` instead of `kumo up`."""

    def __init__(self, project_dir):
        import kumo_harness

        real = subprocess.Popen

        def popen(argv, **kw):
            argv = list(argv)
            argv[argv.index("up")] = "dev"
            return real(argv, **kw)

        kumo_harness.subprocess.Popen = popen
        try:
            super().__init__(project_dir, threads=2)
        finally:
            kumo_harness.subprocess.Popen = real


class DevTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("dev", PROJECTS)
        cls.gw = DevGateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0:
            raise AssertionError("kumo dev exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def get(self, path):
        try:
            r = requests.get(self.gw.base + path, timeout=10)
            return r.status_code, r.text
        except requests.RequestException as e:
            return None, str(e)

    def status(self):
        return requests.get(self.gw.admin + "/status", timeout=10).json()

    def edit(self, rel, old, new):
        path = os.path.join(self.dir, rel)
        with open(path) as f:
            text = f.read()
        self.assertIn(old, text)
        # as an editor saves: a new file renamed over the old one
        with open(path + ".tmp", "w") as f:
            f.write(text.replace(old, new))
        os.rename(path + ".tmp", path)

    def serves(self, path, body):
        return wait_for(lambda: self.get(path) == (200, body), WAIT, 0.05)

    def reload_cli(self):
        return subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=300)

    def test_1_handler_source(self):
        self.assertEqual(self.get("/version"), (200, "v1"))
        self.assertIn("watching " + self.dir, self.gw.stdout())
        self.edit("functions/app.c", '"v1"', '"v2"')
        self.assertTrue(self.serves("/version", "v2"), self.gw.stderr()[-3000:])
        out = wait_for(lambda: re.search(r"change: functions/app\.c; built \d+ ms; serving generation 2 in \d+ ms"
                                         r"( \(detected \+\d+ ms\))?$", self.gw.stdout(), re.M), 10)
        self.assertTrue(out, self.gw.stdout())
        self.assertEqual(self.status()["generation"], 2)

    def test_2_included_header(self):
        self.assertEqual(self.get("/answer"), (200, "a1"))
        gen = self.status()["generation"]
        self.edit("functions/answer.h", '"a1"', '"a2"')
        self.assertTrue(self.serves("/answer", "a2"), self.gw.stderr()[-3000:])
        self.assertTrue(wait_for(lambda: "change: functions/answer.h; built" in self.gw.stdout(), 10), self.gw.stdout())
        self.assertEqual(self.status()["generation"], gen + 1)

    def test_3_referenced_document_adds_an_operation(self):
        r = requests.post(self.gw.base + "/extra", timeout=10)
        self.assertEqual(r.status_code, 405, r.text)
        self.edit("extra.yaml", "  get:", '  post: {operationId: added, responses: {"200": {description: added}}}\n'
                  "  get:")
        ok = wait_for(lambda: requests.post(self.gw.base + "/extra", timeout=10).status_code == 200, WAIT)
        self.assertTrue(ok, self.gw.stderr()[-3000:])
        self.assertEqual(requests.post(self.gw.base + "/extra", timeout=10).text, "added")
        self.assertTrue(wait_for(lambda: "change: extra.yaml;" in self.gw.stdout(), 10), self.gw.stdout())

    def test_4_kumo_yaml(self):
        def app_max():
            return [f for f in self.status()["functions"] if f["name"] == "app"][0]["limits"]["max"]

        self.assertEqual(app_max(), 8)
        self.edit("kumo.yaml", "max: 8", "max: 5")
        self.assertTrue(wait_for(lambda: app_max() == 5, WAIT), self.gw.stderr()[-3000:])
        # the line is printed once the new generation is published: a moment after /status shows it
        self.assertTrue(wait_for(lambda: "change: kumo.yaml;" in self.gw.stdout(), 10), self.gw.stdout())

    def test_5_broken_build_keeps_serving_and_says_where(self):
        gen = self.status()["generation"]
        self.edit("functions/app.c", 'return kumo_response_body(res, VERSION, strlen(VERSION), "text/plain");',
                  'return kumo_response_body(res, VERSION, strlen(VERSION), "text/plain") /* no ; */')
        self.assertTrue(wait_for(lambda: self.status()["reload"]["last"] == "failed", WAIT), self.gw.stderr()[-3000:])
        self.assertEqual(self.get("/version"), (200, "v2"))
        self.assertEqual(self.status()["generation"], gen)
        said = r"change: functions/app\.c; build failed in \d+ ms: generation %d keeps serving" % gen
        self.assertTrue(wait_for(lambda: re.search(said, self.gw.stdout()), 10), self.gw.stdout())
        # kumo reload (the files are still broken) answers with the compiler's words
        p = self.reload_cli()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, r"did not compile:\n[\s\S]*functions/app\.c:\d+:\d+: error")
        # and /docs shows them
        r = requests.get(self.gw.base + "/docs", timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertIn('id="kumo-build-error"', r.text)
        self.assertRegex(r.text, r"functions/app\.c:\d+:\d+: error")
        self.assertNotIn("etag", {k.lower() for k in r.headers})
        # fixed: the new answer, and the banner is gone
        self.edit("functions/app.c", '"text/plain") /* no ; */', '"text/plain");')
        self.edit("functions/app.c", '"v2"', '"v3"')
        self.assertTrue(self.serves("/version", "v3"), self.gw.stderr()[-3000:])
        r = requests.get(self.gw.base + "/docs", timeout=10)
        self.assertNotIn("kumo-build-error", r.text)
        self.assertIn("etag", {k.lower() for k in r.headers})
        self.assertEqual(self.status()["reload"]["last"], "ok")

    def test_6_no_failed_request_during_swaps(self):
        failures, seen, stop = [], set(), threading.Event()

        def client():
            s = requests.Session()
            while not stop.is_set():
                try:
                    r = s.get(self.gw.base + "/version", timeout=30)
                    if r.status_code != 200:
                        failures.append((r.status_code, r.text))
                    else:
                        seen.add(r.text)
                except requests.RequestException as e:
                    failures.append(str(e))

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for old, new in (("v3", "v4"), ("v4", "v5"), ("v5", "v6")):
                self.edit("functions/app.c", '"%s"' % old, '"%s"' % new)
                self.assertTrue(wait_for(lambda: new in seen, WAIT), self.gw.stderr()[-3000:])
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failures, [])
        self.assertTrue({"v4", "v5", "v6"} <= seen, seen)

    def test_7_nothing_changed_makes_no_generation(self):
        self.assertEqual(self.get("/version"), (200, "v6"))
        # the swaps above have drained: nothing but this test's reloads moves the figures
        self.assertTrue(wait_for(lambda: self.status()["reload"]["draining"] == 0, WAIT), self.status())
        before = self.status()
        cold = sum(f["cold_starts"] for f in before["functions"])
        p = self.reload_cli()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("kumo: nothing changed: generation %d keeps serving" % before["generation"], p.stdout)
        # a file saved as it was (an editor's save without an edit)
        out_before = self.gw.stdout()
        self.edit("functions/app.c", '"v6"', '"v6"')
        self.assertTrue(wait_for(lambda: "nothing changed" in self.gw.stdout()[len(out_before):], 30),
                        self.gw.stdout())
        after = self.status()
        self.assertEqual(after["generation"], before["generation"])
        self.assertEqual(after["reload"]["last"], "unchanged")
        self.assertEqual(sum(f["cold_starts"] for f in after["functions"]), cold)
        self.assertEqual(after["reload"]["draining"], 0)  # no generation was made to drain

    def test_8_secret_file_is_an_input(self):
        self.assertEqual(self.get("/secret"), (200, "s1"))
        self.edit("secret.txt", "s1", "s2")
        self.assertTrue(self.serves("/secret", "s2"), self.gw.stdout()[-2000:])
        self.assertTrue(wait_for(lambda: re.search(r"change: secret\.txt; built \d+ ms; serving generation",
                                                   self.gw.stdout()), 10), self.gw.stdout())


    def test_9_warm_function_stays_warm(self):
        # a function with a worker on the old generation gets one on the new
        # generation before its first call: that call is not a cold start.
        # Each loop keeps its own workers, so first every loop gets one:
        # sequential requests on new connections, spread over the loops,
        # until there are as many workers as loops (one each: a loop reuses
        # its idle worker).
        def app():
            return [f for f in self.status()["functions"] if f["name"] == "app"][0]

        loops = self.status()["loops"]
        # earlier generations' workers count in replicas until they are gone
        self.assertTrue(wait_for(lambda: self.status()["reload"]["draining"] == 0, WAIT), self.status())
        for _ in range(200):
            self.assertEqual(self.get("/version")[0], 200)
            if app()["replicas"]["total"] >= loops:
                break
        self.assertGreaterEqual(app()["replicas"]["total"], loops, self.status())

        gen = self.status()["generation"]
        cold = app()["cold_starts"]
        with open(os.path.join(self.dir, "kumo.yaml"), "a") as f:
            f.write("# a change that rebuilds nothing\n")
        self.assertTrue(wait_for(lambda: self.status()["generation"] == gen + 1, WAIT), self.gw.stdout()[-2000:])
        ready = wait_for(lambda: self.status()["reload"]["draining"] == 0 and app()["replicas"]["idle"] >= loops, WAIT)
        self.assertTrue(ready, self.status())
        self.assertEqual(self.get("/version")[0], 200)
        self.assertEqual(app()["cold_starts"], cold, self.status())

if __name__ == "__main__":
    unittest.main()
