"""kumo up --cpu-affinity: each event loop runs on one CPU of those the
process may use, and its fork server and workers inherit that CPU, so a
request goes from loop to worker and back without waking another CPU.
Without the flag nothing is pinned."""
import os
import unittest

import requests

from kumo_harness import Gateway, copy_project


def allowed_cpus(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                text = line.split(":", 1)[1].strip()
                cpus = set()
                for part in text.split(","):
                    a, _, b = part.partition("-")
                    cpus.update(range(int(a), int(b or a) + 1))
                return cpus
    return set()


def descendants(pid):
    """(pid, comm) of every process below pid."""
    parent = {}
    comm = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    text = f.read()
            except OSError:
                continue
            comm[int(e)] = text[text.index("(") + 1:text.rindex(")")]
            parent[int(e)] = int(text.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p:
                out.append((c, comm[c]))
                todo.append(c)
    return out


class AffinityTest(unittest.TestCase):
    def serve_and_look(self, extra):
        gw = Gateway(copy_project("hello"), threads=2, extra_args=extra)
        try:
            for _ in range(20):
                r = requests.get(gw.base + "/hello", timeout=30)
                self.assertEqual(r.status_code, 200)
            procs = descendants(gw.proc.pid)
            return gw.stdout(), allowed_cpus(gw.proc.pid), [(p, c, allowed_cpus(p)) for p, c in procs]
        finally:
            gw.stop()

    def test_pinned(self):
        machine = allowed_cpus(os.getpid())
        out, _, procs = self.serve_and_look(["--cpu-affinity"])
        self.assertIn("cpus     loop i on CPU:", out)
        forkservers = [cpus for _, comm, cpus in procs if comm == "kumo-forkserver"]
        self.assertEqual(len(forkservers), 2, procs)
        for cpus in forkservers:
            self.assertEqual(len(cpus), 1, procs)
            self.assertTrue(cpus <= machine)
        if len(machine) >= 2:
            self.assertNotEqual(forkservers[0], forkservers[1], "two loops, two CPUs")
        workers = [cpus for _, comm, cpus in procs if comm.startswith("kumo:") or comm == "kumo-spare"]
        self.assertTrue(workers, procs)
        for cpus in workers:
            self.assertIn(cpus, forkservers, "a worker runs where its loop does")

    def test_not_pinned_by_default(self):
        machine = allowed_cpus(os.getpid())
        out, gateway_cpus, procs = self.serve_and_look([])
        self.assertNotIn("cpus     loop", out)
        self.assertEqual(gateway_cpus, machine)
        for _, comm, cpus in procs:
            self.assertEqual(cpus, machine, comm)


if __name__ == "__main__":
    unittest.main()
