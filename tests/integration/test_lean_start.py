"""What `kumo up` loads (issue 19, instant start).

libcurl, and with it about twenty libraries (GnuTLS, Kerberos, LDAP, SSH,
...), is loaded only when something needs it: a function's outbound call,
a probe, an alert webhook. A project with none of them runs with its
monitor going round after round (KUMO_MONITOR_INTERVAL_MS=100, a testing
knob) and never maps libcurl. The same project with a probe due maps it
once the probe has run, and the probe's result is in GET /alerts: the
lazy set-up works.
"""
import os
import shutil
import tempfile
import time
import unittest

import requests

from kumo_harness import Gateway, wait_for

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SPEC = """openapi: 3.0.3
info: {title: lean, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        "200":
          description: the pets
          content:
            application/json:
              schema: {type: array, items: {type: string}}
              example: ["rex"]
"""

HANDLER = """#include <kumo.h>

int listPets(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    return kumo_response_body(res, "[\\"rex\\"]", 7, "application/json");
}
"""

PROJECT = "name: lean\napi: openapi.yaml\nfunctions:\n  pets: {sources: [functions/pets.c]}\n"


def mapped(pid, name):
    with open("/proc/%d/maps" % pid) as f:
        return any(name in line for line in f)


class LeanStartTest(unittest.TestCase):
    def project(self, kumo_yaml):
        d = os.path.join(tempfile.mkdtemp(prefix="kumo-test-"), "lean")
        os.makedirs(d)
        with open(os.path.join(d, "openapi.yaml"), "w") as f:
            f.write(SPEC)
        os.makedirs(os.path.join(d, "functions"))
        with open(os.path.join(d, "functions", "pets.c"), "w") as f:
            f.write(HANDLER)
        with open(os.path.join(d, "kumo.yaml"), "w") as f:
            f.write(PROJECT + kumo_yaml)
        self.addCleanup(shutil.rmtree, os.path.dirname(d), True)
        return d

    def start(self, kumo_yaml):
        gw = Gateway(self.project(kumo_yaml), env={"KUMO_MONITOR_INTERVAL_MS": "100"})
        self.addCleanup(gw.stop)
        return gw

    def rounds(self, gw):
        r = requests.get(gw.admin + "/alerts", timeout=5)
        r.raise_for_status()
        return r.json().get("rounds", 0)

    def test_no_probe_no_webhook_no_libcurl(self):
        gw = self.start("monitors:\n  probes: false\n")
        self.assertFalse(mapped(gw.proc.pid, "libcurl"), "libcurl is mapped at ready")
        self.assertEqual(requests.get(gw.base + "/pets", timeout=5).json(), ["rex"])
        start = self.rounds(gw)
        self.assertTrue(wait_for(lambda: self.rounds(gw) >= start + 5, timeout=20), "the monitor made no rounds")
        self.assertFalse(mapped(gw.proc.pid, "libcurl"), "libcurl was mapped with nothing to call")

    def test_probe_loads_libcurl_when_due(self):
        gw = self.start("monitors:\n  probes: {interval: 1s, timeout: 1s}\n")
        self.assertFalse(mapped(gw.proc.pid, "libcurl"), "libcurl is mapped at ready")

        def probe():
            r = requests.get(gw.admin + "/alerts", timeout=5).json()
            return next((m["probe"] for m in r["monitors"] if m["operation"] == "listPets" and "probe" in m), None)
        found = wait_for(probe, timeout=60)
        self.assertTrue(found, requests.get(gw.admin + "/alerts", timeout=5).text)
        # the probe went out through libcurl and the handler answered it
        self.assertEqual(found["status"], 200, found)
        self.assertTrue(found["ok"], found)
        self.assertTrue(mapped(gw.proc.pid, "libcurl"))


if __name__ == "__main__":
    unittest.main()
