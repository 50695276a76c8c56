"""Primed spares (issue 19, cold start): each loop's fork server hands one
of its spares the worker end of a socket ahead of demand, and a cold start
names the unit on that socket: the first request after zero is served by
a process that was already waiting, without a message to the fork server.
The spare runs that first request on its loop's CPU, and its first answer
gives it back every CPU the loop may use."""
import os
import unittest

import requests

from kumo_harness import Gateway, copy_project, wait_for
from test_affinity import descendants


def spares(gw):
    return {p for p, c in descendants(gw.proc.pid) if c == "kumo-spare"}


def cpus_allowed(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return None


def worker_pid(gw, request_id):
    for line in gw.log_lines():
        if line.get("msg") == "request" and line.get("request_id") == request_id:
            return line.get("worker_pid")
    return None


class PrimedTest(unittest.TestCase):
    def test_first_request_goes_to_a_waiting_spare(self):
        gw = Gateway(copy_project("hello"), threads=1)
        try:
            # the fork server's spare and the primed one
            self.assertTrue(wait_for(lambda: len(spares(gw)) >= 2, 30), descendants(gw.proc.pid))
            waiting = spares(gw)
            r = requests.get(gw.base + "/hello", timeout=30)
            self.assertEqual((r.status_code, r.text), (200, "hello, world\n"))
            rid = r.headers["x-request-id"]
            self.assertTrue(wait_for(lambda: worker_pid(gw, rid) is not None, 10))
            pid = worker_pid(gw, rid)
            self.assertIn(pid, waiting)
            # It is now the function's worker, and another spare is primed.
            self.assertTrue(wait_for(lambda: len(spares(gw)) >= 2 and pid not in spares(gw), 30),
                            descendants(gw.proc.pid))
            comm = open("/proc/%d/comm" % pid).read().strip()
            self.assertEqual(comm, "kumo:hello")
            # held on one CPU for its first request, then given back the
            # gateway's (here: every CPU of the machine the test may use)
            if len(os.sched_getaffinity(0)) > 1:
                self.assertTrue(wait_for(lambda: cpus_allowed(pid) == cpus_allowed(gw.proc.pid), 10),
                                (cpus_allowed(pid), cpus_allowed(gw.proc.pid)))
        finally:
            gw.stop()


if __name__ == "__main__":
    unittest.main()
