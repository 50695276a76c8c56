"""The elastic runtime seen from outside: scale to zero and back, min warm,
scale out under a burst with nothing dropped, 429/503 at the limits,
crash-loop backoff, and /status."""
import concurrent.futures
import os
import threading
import time
import unittest

import requests

from kumo_harness import GatewayTest, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


class ElasticTest(GatewayTest):
    project = "elastic"
    project_root = PROJECTS
    threads = 1  # one loop: each unit's min and max apply whole

    def status(self, name):
        r = requests.get(self.gw.admin + "/status", timeout=5)
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(body["project"], "elastic")
        return next(f for f in body["functions"] if f["name"] == name)

    def test_scale_to_zero_and_back(self):
        first = requests.get(self.url("/quick/hello"))
        self.assertEqual(first.status_code, 200)
        cold_before = self.status("quick")["cold_starts"]
        # idle is 200ms: the pool goes to zero processes
        self.assertTrue(wait_for(lambda: self.status("quick")["replicas"]["total"] == 0),
                        self.status("quick"))
        # its process exits and is reaped: no process is left for the unit
        # (the access log names the worker by its pid on the machine; the
        # handler's getpid() is its pid inside the workers' pid namespace)
        pid = wait_for(lambda: next((l["worker_pid"] for l in self.gw.log_lines()
                                     if l.get("request_id") == first.headers.get("x-request-id")
                                     and "worker_pid" in l), None))
        self.assertTrue(pid, "no access log line for the first request")
        self.assertTrue(wait_for(lambda: not os.path.exists("/proc/%d" % pid)), "worker %d still exists" % pid)
        # and comes back on the next request, from a new process
        again = requests.get(self.url("/quick/hello"))
        self.assertEqual(again.status_code, 200)
        self.assertNotEqual(again.text, first.text)
        self.assertEqual(self.status("quick")["cold_starts"], cold_before + 1)

    def test_min_keeps_workers_warm(self):
        self.assertTrue(wait_for(lambda: self.status("warm")["replicas"]["total"] == 2), self.status("warm"))
        time.sleep(0.5)  # longer than idle: min workers stay
        st = self.status("warm")
        self.assertEqual(st["replicas"]["total"], 2)
        self.assertEqual(st["limits"]["min"], 2)

    def test_burst_on_cold_function_drops_nothing(self):
        wait_for(lambda: self.status("quick")["replicas"]["total"] == 0)
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as ex:
            results = list(ex.map(lambda i: requests.get(self.url("/quick/slow?ms=50"), timeout=60),
                                  range(64)))
        self.assertEqual([r.status_code for r in results], [200] * 64)
        pids = {r.text for r in results}
        self.assertGreater(len(pids), 1, "the pool did not scale out")
        self.assertLessEqual(len(pids), 4, "the pool went past max")

    def test_no_queue_at_limit_is_429(self):
        t = threading.Thread(target=lambda: requests.get(self.url("/narrow/slow?ms=1500"), timeout=30))
        t.start()
        try:
            self.assertTrue(wait_for(lambda: self.status("narrow")["in_flight"] == 1))
            r = requests.get(self.url("/narrow/hello"))
            self.assertProblem(r, 429)
        finally:
            t.join()
        self.assertEqual(requests.get(self.url("/narrow/hello")).status_code, 200)

    def test_full_queue_is_503_with_retry_after(self):
        threads = [threading.Thread(target=lambda: requests.get(self.url("/queued/slow?ms=1500"), timeout=30))
                   for _ in range(2)]
        threads[0].start()
        self.assertTrue(wait_for(lambda: self.status("queued")["in_flight"] == 1))
        threads[1].start()
        try:
            self.assertTrue(wait_for(lambda: self.status("queued")["queued"] == 1))
            r = requests.get(self.url("/queued/slow?ms=1"))
            self.assertProblem(r, 503)
            self.assertEqual(r.headers.get("retry-after"), "1")
        finally:
            for t in threads:
                t.join()

    def test_crash_loop_backs_off_with_503(self):
        statuses = []
        for _ in range(8):
            r = requests.get(self.url("/crashy"))
            statuses.append(r.status_code)
            if r.status_code == 503:
                body = self.assertProblem(r, 503)
                self.assertIn("signal 11", body["detail"])
                break
        self.assertEqual(statuses[-1], 503, statuses)
        self.assertTrue(all(s == 502 for s in statuses[:-1]), statuses)
        self.assertGreaterEqual(self.status("crashy")["crashes"], 5)

    def test_status_counts_invocations(self):
        before = self.status("quick")["invocations"]
        for _ in range(3):
            requests.get(self.url("/quick/hello"))
        st = self.status("quick")
        self.assertEqual(st["invocations"], before + 3)
        self.assertGreaterEqual(st["last_minute"]["invocations"], 3)
        self.assertGreater(st["last_minute"]["p99_ms"], 0)

    def test_kumo_status_command(self):
        import json
        import subprocess
        from kumo_harness import KUMO
        requests.get(self.url("/quick/hello"))
        p = subprocess.run([KUMO, "status", "--admin-port", str(self.gw.admin_port), "--json"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [f["name"] for f in json.loads(p.stdout)["functions"]]
        self.assertEqual(sorted(names), ["crashy", "narrow", "queued", "quick", "warm"])
        p = subprocess.run([KUMO, "status", "--admin-port", str(self.gw.admin_port)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^FUNCTION +REPL +BUSY")
        self.assertRegex(p.stdout, r"(?m)^warm +2 ")
        # nothing listening: a clear error, exit 1
        p = subprocess.run([KUMO, "status", "--admin-port", "1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot reach kumo's admin port", p.stderr)



class IdleTest(GatewayTest):
    """An idle kumo up sleeps: with nothing to serve and its pools at rest
    (at zero, or at their min), no thread wakes on a timer of its own more
    than about once a second. (Each loop used to wake every 20 ms: about
    100 times in the 2 s measured here.)"""
    project = "elastic"
    project_root = PROJECTS
    threads = 2

    def wakeups(self):
        out = {}
        task = "/proc/%d/task" % self.gw.proc.pid
        for tid in os.listdir(task):
            try:
                with open("%s/%s/status" % (task, tid)) as f:
                    out[tid] = next(int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches:"))
            except (OSError, StopIteration):
                pass
        return out

    def test_an_idle_gateway_sleeps(self):
        r = requests.get(self.url("/quick/hello"), timeout=30)
        self.assertEqual(r.status_code, 200)
        admin = self.gw.admin + "/status"
        funcs = lambda: {f["name"]: f["replicas"]["total"] for f in requests.get(admin, timeout=5).json()["functions"]}
        self.assertTrue(wait_for(lambda: funcs()["quick"] == 0 and funcs()["warm"] == 2), funcs())
        time.sleep(0.5)  # the last status request's turn is over
        before = self.wakeups()
        time.sleep(2)
        after = self.wakeups()
        woke = {tid: after[tid] - n for tid, n in before.items() if tid in after}
        self.assertLessEqual(max(woke.values()), 10, woke)
        # and it still serves, scales from zero and answers its admin port
        r = requests.get(self.url("/quick/hello"), timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(funcs()["warm"], 2)


if __name__ == "__main__":
    unittest.main()
