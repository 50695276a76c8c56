"""Monitors and alerts (docs/monitors.md) against a real Alertmanager.

The test starts Alertmanager (Debian's prometheus-alertmanager) on a free
loopback port, points projects/alerts' webhook at it and runs `kumo up`
with a short monitor round (KUMO_MONITOR_INTERVAL_MS=100, a testing knob).
createOrder's bound is errors: 1% over 2 s; the test makes it answer 500:

- the alert goes pending, then firing after `for: 1s`, one log line each;
- Alertmanager's GET /api/v2/alerts lists KumoErrorRateHigh with its
  labels (alertname, severity, operation, function, project) and
  annotations, from kumo's webhook;
- when the errors stop, kumo resolves it (log line, GET /alerts) and
  Alertmanager no longer lists it as active;
- the probes built from the spec's examples pass for getItem and fail for
  getBroken, whose handler answers out of its contract: KumoProbeFailed
  (critical) reaches Alertmanager too;
- `kumo monitors` prints the tables from GET /alerts;
- a reload hands the monitor the new bounds (a misspelt operation is
  refused with its kumo.yaml:line:column);
- a worker running one call far longer than its function usually takes
  (10 x its p99, at least 1 s) raises KumoWorkerBusyLong while it runs.

Every wait is bounded. Without prometheus-alertmanager the test is skipped,
loudly.

`kumo monitors rules` through promtool is tests/rules/check_promtool.sh.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def am_alerts(base, name=None):
    r = requests.get(base + "/api/v2/alerts", timeout=5)
    r.raise_for_status()
    alerts = [a for a in r.json() if a["status"]["state"] == "active"]
    if name:
        alerts = [a for a in alerts if a["labels"].get("alertname") == name]
    return alerts


@unittest.skipIf(ALERTMANAGER is None,
                 "SKIPPED LOUDLY: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
class AlertmanagerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-am-")
        conf = os.path.join(cls.tmp, "alertmanager.yml")
        with open(conf, "w") as f:
            f.write("route: {receiver: devnull, group_wait: 1s, group_interval: 1s}\n"
                    "receivers: [{name: devnull}]\n")
        cls.am_port = free_port()
        cls.am = "http://127.0.0.1:%d" % cls.am_port
        cls.am_log = open(os.path.join(cls.tmp, "alertmanager.log"), "w+")
        cls.am_proc = subprocess.Popen(
            [ALERTMANAGER, "--config.file=" + conf, "--storage.path=" + os.path.join(cls.tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % cls.am_port, "--cluster.listen-address="],
            stdout=cls.am_log, stderr=subprocess.STDOUT)

        def am_ready():
            try:
                return requests.get(cls.am + "/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        if not wait_for(am_ready, timeout=30):
            cls.am_proc.kill()
            cls.am_log.seek(0)
            raise AssertionError("Alertmanager did not start:\n" + cls.am_log.read())

        cls.project_dir = copy_project("alerts", PROJECTS)
        path = os.path.join(cls.project_dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("http://127.0.0.1:9093/", cls.am + "/"))
        cls.gw = Gateway(cls.project_dir, env={"KUMO_MONITOR_INTERVAL_MS": "100"})

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.gw.stop()
            err = cls.gw.stderr()
            if rc != 0:
                raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
            if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
                raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])
        finally:
            cls.am_proc.terminate()
            try:
                cls.am_proc.wait(10)
            except subprocess.TimeoutExpired:
                cls.am_proc.kill()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def kumo_alerts(self):
        r = requests.get(self.gw.admin + "/alerts", timeout=5)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def alert_state(self, name, operation):
        for a in self.kumo_alerts()["alerts"]:
            if a["name"] == name and a["operation"] == operation:
                return a["state"]
        return None

    def transitions(self, name):
        return [l["msg"] for l in self.gw.log_lines() if l.get("msg", "").startswith("alert %s " % name)]

    def test_1_error_bound_fires_and_resolves(self):
        # nothing fails yet: no error alert
        for _ in range(10):
            r = requests.post(self.gw.base + "/orders", timeout=5)
            self.assertEqual(r.status_code, 201, r.text)
        self.assertIsNone(self.alert_state("KumoErrorRateHigh", "createOrder"))

        # the handler answers 500 (keep failing while the alert builds up)
        deadline = time.time() + 30
        while time.time() < deadline and self.alert_state("KumoErrorRateHigh", "createOrder") != "firing":
            r = requests.post(self.gw.base + "/orders?fail=1", timeout=5)
            self.assertEqual(r.status_code, 500)
            time.sleep(0.02)
        self.assertEqual(self.alert_state("KumoErrorRateHigh", "createOrder"), "firing", self.gw.stderr()[-3000:])

        # in Alertmanager, with kumo's labels and annotations
        got = wait_for(lambda: am_alerts(self.am, "KumoErrorRateHigh"), timeout=20, step=0.2)
        self.assertTrue(got, "Alertmanager never listed KumoErrorRateHigh:\n" + self.gw.stderr()[-3000:])
        a = got[0]
        self.assertEqual(a["labels"], {"alertname": "KumoErrorRateHigh", "severity": "warning",
                                       "operation": "createOrder", "function": "shop", "project": "alerts"})
        self.assertIn("error rate", a["annotations"]["summary"])
        self.assertRegex(a["annotations"]["description"], r"\d+ of \d+ invocations failed over the last 2s")
        self.assertEqual(a["generatorURL"], self.gw.admin + "/alerts")

        # one log line per transition: pending (info), then firing (warn)
        lines = [l for l in self.gw.log_lines() if l.get("msg", "").startswith("alert KumoErrorRateHigh ")]
        self.assertEqual([l["level"] for l in lines[:2]], ["info", "warn"], lines)
        self.assertIn("pending", lines[0]["msg"])
        self.assertIn("firing", lines[1]["msg"])

        # the errors stop: resolved in kumo, then no longer active in Alertmanager
        self.assertTrue(wait_for(lambda: self.alert_state("KumoErrorRateHigh", "createOrder") == "resolved",
                                 timeout=30, step=0.1), self.kumo_alerts())
        self.assertTrue(any(l["level"] == "info" and "resolved" in l["msg"]
                            for l in self.gw.log_lines() if l.get("msg", "").startswith("alert KumoErrorRateHigh ")))
        self.assertTrue(wait_for(lambda: not am_alerts(self.am, "KumoErrorRateHigh"), timeout=30, step=0.2),
                        am_alerts(self.am))

    def test_2_probes(self):
        def probed():
            mons = {m["operation"]: m for m in self.kumo_alerts()["monitors"]}
            return mons if "probe" in mons.get("getItem", {}) and "probe" in mons.get("getBroken", {}) else None
        mons = wait_for(probed, timeout=20, step=0.1)
        self.assertTrue(mons, self.kumo_alerts())
        self.assertTrue(mons["getItem"]["probe"]["ok"], mons["getItem"])
        self.assertEqual(mons["getItem"]["probe"]["status"], 200)
        self.assertFalse(mons["getBroken"]["probe"]["ok"])
        self.assertIn("out of contract", mons["getBroken"]["probe"]["why"])
        # createOrder is a POST: never probed
        self.assertNotIn("probe", mons.get("createOrder", {}))
        # putLabel says probe: always: a PUT with its request example, which
        # its handler accepts only as sent (200), else 400
        def label_probed():
            m = {x["operation"]: x for x in self.kumo_alerts()["monitors"]}
            return m if "probe" in m.get("putLabel", {}) else None
        mons = wait_for(label_probed, timeout=20, step=0.1)
        self.assertTrue(mons, "putLabel never probed")
        self.assertTrue(mons["putLabel"]["probe"]["ok"], mons["putLabel"])
        self.assertEqual(mons["putLabel"]["probe"]["status"], 200)
        got = wait_for(lambda: am_alerts(self.am, "KumoProbeFailed"), timeout=20, step=0.2)
        self.assertTrue(got, self.kumo_alerts())
        self.assertEqual(got[0]["labels"]["severity"], "critical")
        self.assertEqual(got[0]["labels"]["operation"], "getBroken")
        self.assertIn("GET " + self.gw.base + "/broken", got[0]["annotations"]["description"])

    def test_3_cli_and_metrics(self):
        out = subprocess.run([KUMO, "monitors", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"createOrder\s+shop")
        self.assertRegex(out.stdout, r"firing\s+\S+\s+KumoProbeFailed\s+getBroken")
        js = subprocess.run([KUMO, "monitors", "--json", "--admin-port", str(self.gw.admin_port)],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(js.returncode, 0, js.stderr)
        self.assertEqual(json.loads(js.stdout)["project"], "alerts")
        metrics = requests.get(self.gw.admin + "/metrics", timeout=5).text
        m = re.search(r"^kumo_alerts_firing (\S+)$", metrics, re.M)
        self.assertTrue(m, metrics[-2000:])
        self.assertGreaterEqual(float(m.group(1)), 1)

    def test_5_worker_busy_far_longer_than_usual(self):
        # slowOrder usually takes a millisecond
        for _ in range(10):
            self.assertEqual(requests.post(self.gw.base + "/slow?ms=1", timeout=5).status_code, 204)
        # one call runs 5 s (half its 10 s timeout: not a long run); after 1 s (10 x its usual, at least 1 s)
        # the worker is busy far too long
        done = {}
        t = threading.Thread(target=lambda: done.setdefault(
            "status", requests.post(self.gw.base + "/slow?ms=5000", timeout=30).status_code))
        t.start()
        try:
            self.assertTrue(wait_for(lambda: self.alert_state("KumoWorkerBusyLong", "") == "firing", timeout=20,
                                     step=0.1), self.kumo_alerts())
            fns = {f["name"]: f for f in self.kumo_alerts()["functions"]}
            self.assertGreater(fns["shop"]["oldest_running_s"], 1.0)
            self.assertLess(fns["shop"]["usual_s"], 0.1)  # warm calls: a millisecond or so
            got = wait_for(lambda: [a for a in am_alerts(self.am, "KumoWorkerBusyLong")
                                    if a["labels"].get("function") == "shop"], timeout=20, step=0.2)
            self.assertTrue(got, am_alerts(self.am))
            self.assertNotIn("operation", got[0]["labels"])
        finally:
            t.join(30)
        self.assertEqual(done.get("status"), 204)
        self.assertTrue(wait_for(lambda: self.alert_state("KumoWorkerBusyLong", "") == "resolved", timeout=20,
                                 step=0.1), self.kumo_alerts())

    def test_6_restart_keeps_alerts(self):
        # getBroken's probe keeps failing: its alert fires, and goes on firing across a restart
        self.assertTrue(wait_for(lambda: self.alert_state("KumoProbeFailed", "getBroken") == "firing", timeout=20,
                                 step=0.1), self.kumo_alerts())
        before = [a for a in self.kumo_alerts()["alerts"]
                  if a["name"] == "KumoProbeFailed" and a["operation"] == "getBroken"][0]
        rc = self.gw.stop()
        self.assertEqual(rc, 0, self.gw.stderr()[-3000:])
        with open(os.path.join(self.project_dir, ".kumo", "data", "alerts.json")) as f:
            kept = json.load(f)
        self.assertIn(("KumoProbeFailed", "getBroken", "firing"),
                      [(a["name"], a["operation"], a["state"]) for a in kept["alerts"]])
        # the errors alert of test_1 was resolved and delivered: kept, listed as resolved
        self.assertIn(("KumoErrorRateHigh", "createOrder", "resolved"),
                      [(a["name"], a["operation"], a["state"]) for a in kept["alerts"]])

        type(self).gw = Gateway(self.project_dir, env={"KUMO_MONITOR_INTERVAL_MS": "100"})

        def restored():
            for a in self.kumo_alerts()["alerts"]:
                if a["name"] == "KumoProbeFailed" and a["operation"] == "getBroken":
                    return a
        after = wait_for(restored, timeout=20, step=0.05)
        self.assertTrue(after, self.kumo_alerts())
        self.assertEqual(after["state"], "firing")
        self.assertEqual(after["since"], before["since"])
        self.assertEqual(after["fired"], before["fired"])
        self.assertTrue(any(l.get("msg", "").startswith("alerts restored from ") for l in self.gw.log_lines()),
                        self.gw.stderr()[-3000:])
        # past the hold (for: 1s) the probe still fails: still firing, never logged as firing a second time
        self.assertTrue(wait_for(lambda: self.kumo_alerts()["rounds"] >= 30, timeout=30, step=0.1))
        self.assertEqual(self.alert_state("KumoProbeFailed", "getBroken"), "firing")
        self.assertEqual([m for m in self.transitions("KumoProbeFailed") if "firing" in m], [],
                         self.transitions("KumoProbeFailed"))
        # and Alertmanager still has it with its first start
        got = [a for a in am_alerts(self.am, "KumoProbeFailed") if a["labels"].get("operation") == "getBroken"]
        self.assertTrue(got, am_alerts(self.am))

    def reload(self):
        return subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                              text=True, timeout=60)

    def test_4_reload(self):
        path = os.path.join(self.project_dir, "kumo.yaml")
        with open(path) as f:
            good = f.read()
        try:
            # an operation the spec does not have: refused with its position, the old monitors stay
            with open(path, "w") as f:
                f.write(good.replace("  createOrder: {errors: 1%, window: 2s}",
                                     "  createOrder: {errors: 1%, window: 2s}\n  createOrdr: {p99: 1s}"))
            out = self.reload()
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertRegex(out.stderr, r"kumo\.yaml:\d+:3: monitors\.createOrdr: the OpenAPI document has no "
                                         r"operation 'createOrdr' \(did you mean 'createOrder'\?\)")
            # new bounds: the monitor watches with the new generation's from its next round
            with open(path, "w") as f:
                f.write(good.replace("  createOrder: {errors: 1%, window: 2s}",
                                     "  createOrder: {errors: 2.5%, window: 3s, p90: 40ms}"))
            out = self.reload()
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

            def bounds():
                for m in self.kumo_alerts()["monitors"]:
                    if m["operation"] == "createOrder":
                        return m if m["window_s"] == 3 else None
            m = wait_for(bounds, timeout=20, step=0.1)
            self.assertTrue(m, self.kumo_alerts())
            self.assertEqual(m["bounds"]["errors"], 0.025)
            self.assertEqual(m["bounds"]["p90"], 0.04)
        finally:
            with open(path, "w") as f:
                f.write(good)


if __name__ == "__main__":
    unittest.main()
