"""Sending ahead, seen from outside (src/runtime/pool.c, src/sdk/adapters/local.c).

A unit with one worker (max: 1), a queue and a fast handler: once its calls
are measured as fast, calls that wait while the worker is busy are sent to
it behind its current call (they show in /status's in_flight, not queued).
The worker runs them one after another and answers each before starting
the next, so when it dies only the call it was running is lost: a crash
answers 502 and a timeout 504 for that call alone, and the calls sent ahead
of it are served (200, each exactly once) by a fresh worker.
"""
import concurrent.futures
import os
import threading
import time
import unittest

import requests

from kumo_harness import GatewayTest, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
UNIT = "ahead"
REQUEST_TIMEOUT = 30
# The pool sends ahead only for a unit whose calls it measured under this.
FAST_US = 1000


class AheadTest(GatewayTest):
    project = "ahead"
    project_root = PROJECTS
    threads = 1  # one loop: max: 1 means one worker for the whole gateway

    def status(self):
        r = requests.get(self.gw.admin + "/status", timeout=5)
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(body["project"], "ahead")
        return next(f for f in body["functions"] if f["name"] == UNIT)

    def warm(self):
        """~50 calls one after another: the unit is measured as fast (only
        warm calls count). Returns the pid of the one worker."""
        pids = set()
        self.warm_ids = []
        for i in range(50):
            rid = "warm-%s-%d" % (self._testMethodName, i)
            r = requests.get(self.url("/hello"), headers={"X-Request-Id": rid}, timeout=REQUEST_TIMEOUT)
            self.assertEqual(r.status_code, 200, r.text)
            pids.add(r.text)
            self.warm_ids.append(rid)
        self.assertEqual(len(pids), 1, "max: 1 yet several workers answered: %s" % pids)
        return pids.pop()

    def warm_average_us(self):
        """The pool's moving average (7/8 old, 1/8 new) over the warm-up
        calls' durations in the access log: each is at least the call's
        run time as the pool measures it, so this bounds the pool's
        figure from above."""
        durations = {l["request_id"]: l["duration_us"] for l in self.gw.log_lines()
                     if l.get("path") == "/hello" and "duration_us" in l}
        avg = 0
        for rid in self.warm_ids:
            d = durations.get(rid)
            if d is not None:
                avg = d if avg == 0 else avg - avg / 8 + d / 8
        return avg

    def start(self, path, results, key):
        """GET path in a thread; the response (or the exception) goes to results[key]."""
        def run():
            try:
                results[key] = requests.get(self.url(path), timeout=REQUEST_TIMEOUT)
            except Exception as e:  # reported by the test, not lost in the thread
                results[key] = e
        t = threading.Thread(target=run)
        t.start()
        return t

    def wait_sent_ahead(self, what):
        """Waits until more than one call is in flight on the one worker.
        Returns None when they were. When they were not and the warm-up
        calls were fast, that fails; when they were slow (a loaded
        machine), sending ahead was off by design: returns why, and the
        caller still checks the outcomes, then reports itself skipped."""
        seen = []

        def ahead():
            st = self.status()
            seen.append(st)
            return st["in_flight"] > 1
        if wait_for(ahead, timeout=5, step=0.005):
            return None
        last = seen[-1]
        avg = self.warm_average_us()
        why = ("calls waiting behind %s were never sent ahead to the busy worker (in_flight stayed <= 1, "
               "queued reached %d over %d polls; warm calls averaged %.0f us); last /status: %s"
               % (what, max(st["queued"] for st in seen), len(seen), avg, last))
        self.assertGreaterEqual(avg, FAST_US, why + self.log_tail())
        return "this machine is too loaded for the unit to be measured as fast, so nothing was sent ahead: " + why

    def marks_logged(self, names):
        """How many times each "mark N" line was logged, once all are there."""
        def counts():
            msgs = [l.get("msg", "") for l in self.gw.log_lines()]
            return {n: msgs.count("mark %s" % n) for n in names}
        wait_for(lambda: all(counts().values()), timeout=5, step=0.05)
        return counts()

    def log_tail(self):
        return "\nkumo's log, last lines:\n" + "\n".join(self.gw.stderr().splitlines()[-40:])

    def check_marks(self, results, names, lost_pid, head):
        for n in names:
            r = results[n]
            self.assertIsInstance(r, requests.Response, "mark %s: %r" % (n, r))
            self.assertEqual(r.status_code, 200, "mark %s, sent ahead behind %s, failed: %s%s"
                             % (n, head, r.text, self.log_tail()))
            self.assertNotEqual(r.text, lost_pid, "mark %s was answered by the worker that was lost" % n)
        self.assertEqual(self.marks_logged(names), {n: 1 for n in names},
                         "each mark must run exactly once" + self.log_tail())

    def test_crash_loses_only_its_own_call(self):
        pid = self.warm()
        crashes = self.status()["crashes"]
        results = {}
        threads = [self.start("/crash?after_ms=800", results, "crash")]
        self.assertTrue(wait_for(lambda: self.status()["in_flight"] == 1, timeout=10), self.status())
        names = ["c%d" % i for i in range(6)]
        threads += [self.start("/mark?n=" + n, results, n) for n in names]
        not_ahead = self.wait_sent_ahead("/crash")
        for t in threads:
            t.join()
        crash = results["crash"]
        self.assertIsInstance(crash, requests.Response, repr(crash))
        self.assertEqual(crash.status_code, 502, crash.text + self.log_tail())
        self.assertProblem(crash, 502)
        self.check_marks(results, names, pid, "/crash")
        st = self.status()
        self.assertEqual(st["crashes"], crashes + 1, "one crash, and only one: %s" % st)
        if not_ahead:
            self.skipTest(not_ahead)

    def test_timeout_loses_only_its_own_call(self):
        pid = self.warm()
        timeouts = self.status()["timeouts"]
        results = {}
        threads = [self.start("/hang", results, "hang")]
        self.assertTrue(wait_for(lambda: self.status()["in_flight"] == 1, timeout=10), self.status())
        # the marks' own deadlines (timeout: 4s) end 3 s after /hang's,
        # time enough for a fresh worker even on a loaded machine
        time.sleep(1.0)
        names = ["t%d" % i for i in range(4)]
        threads += [self.start("/mark?n=" + n, results, n) for n in names]
        not_ahead = self.wait_sent_ahead("/hang")
        for t in threads:
            t.join()
        hang = results["hang"]
        self.assertIsInstance(hang, requests.Response, repr(hang))
        self.assertEqual(hang.status_code, 504, hang.text + self.log_tail())
        self.assertProblem(hang, 504)
        self.check_marks(results, names, pid, "/hang")
        st = self.status()
        self.assertEqual(st["timeouts"], timeouts + 1, "one timeout, and only one: %s" % st)
        if not_ahead:
            self.skipTest(not_ahead)

    def test_status_counts_each_call_once(self):
        self.warm()
        sent = 0
        peak = {"sum": 0, "status": None}
        done = threading.Event()

        errors = []

        def sample():
            while not done.is_set():
                try:
                    st = self.status()
                except Exception as e:  # reported below, not lost in the thread
                    errors.append(e)
                    return
                if st["queued"] + st["in_flight"] > peak["sum"]:
                    peak["sum"] = st["queued"] + st["in_flight"]
                    peak["status"] = st
                time.sleep(0.005)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            results = {}
            threads = [self.start("/crash?after_ms=800", results, "crash")]
            sent += 1
            self.assertTrue(wait_for(lambda: self.status()["in_flight"] == 1, timeout=10), self.status())
            names = ["s%d" % i for i in range(30)]
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as ex:
                futures = {n: ex.submit(requests.get, self.url("/mark?n=" + n), timeout=REQUEST_TIMEOUT)
                           for n in names}
                sent += len(names)
                for n, f in futures.items():
                    results[n] = f.result()
            for t in threads:
                t.join()
        finally:
            done.set()
            sampler.join()
        self.assertEqual(errors, [])
        self.assertEqual(results["crash"].status_code, 502, results["crash"].text + self.log_tail())
        self.assertProblem(results["crash"], 502)
        self.assertEqual([results[n].status_code for n in names], [200] * len(names), self.log_tail())
        self.assertGreater(peak["sum"], 1, "nothing ever waited behind /crash")
        self.assertLessEqual(peak["sum"], sent, "queued + in_flight counted more calls than were sent: %s"
                             % peak["status"])
        self.assertTrue(wait_for(lambda: self.status()["in_flight"] == 0 and self.status()["queued"] == 0,
                                 timeout=5), self.status())
        self.assertEqual(self.marks_logged(names), {n: 1 for n in names})


if __name__ == "__main__":
    unittest.main()
