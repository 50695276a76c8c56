#!/usr/bin/env python3
"""Cold starts, memory and bursts of kumo's runtime, measured on loopback.

  bench/coldstart.py [CYCLES]       (needs a release build: make build)

- cold start: p50/p99 of first-request latency after the function went to
  zero processes, over CYCLES scale-from-zero cycles, minus the p50 of warm
  requests (same connection, same handler). Timed twice, the cycles taking
  turns: by a client in C (bench/http_probe.c, built with cc at the start)
  and by Python's http.client, whose interpreter adds to every figure, and
  about 0.2 ms more after an idle spell here (its pages gone cold too);
- its peer in the same run: the same request to a function that keeps a
  worker (`warm`, min: 1), asked after the same wait (every other cycle
  asks it instead of the cold one). What the machine costs a request after
  an idle spell (CPUs woken from idle, caches gone cold) is in both; the
  difference is what the cold start itself costs;
- the machine's floor in the same run: nginx (one worker, `return 200`)
  asked by the C client after the same wait, every third C cycle. No
  function and no second process on its path: what a request after an
  idle spell costs here whatever serves it;
- memory: gateway RSS at rest, RSS of one idle warm worker, and the
  function's processes after its idle time;
- burst: 64 clients at once on a cold function: time until all are served,
  and how many failed.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, "build", "kumo"))
CYCLES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
NGINX = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def private_kib(pid):
    """Memory the process holds alone (Private_Clean + Private_Dirty of
    smaps_rollup): RSS also counts shared pages, such as the code a spare
    maps ahead from the page cache."""
    total = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def processes():
    """pid -> (parent pid, comm) of every process."""
    out = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    text = f.read()
                comm = text[text.index("(") + 1:text.rindex(")")]
                out[int(e)] = (int(text.rsplit(")", 1)[1].split()[1]), comm)
            except (OSError, ValueError):
                pass
    return out


def descendants(pid):
    procs = processes()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for p, (pp, comm) in procs.items():
            if pp == parent:
                found.append((p, comm))
                todo.append(p)
    return found


def children(pid):
    """The function's worker processes: every descendant but the fork
    servers ("kumo-forkserver"), their spares ("kumo-spare") and the init
    of their workers' pid namespace ("kumo-pid1"), which belong to no
    function."""
    return [p for p, comm in descendants(pid)
            if comm not in ("kumo-forkserver", "kumo-spare", "kumo-pid1", "kumo:warm")]


def main():
    work = tempfile.mkdtemp(prefix="kumo-bench-")
    probe_bin = os.path.join(work, "http_probe")
    if subprocess.call([os.environ.get("CC", "cc"), "-O2", "-o", probe_bin, os.path.join(ROOT, "bench", "http_probe.c")]):
        print("bench: cannot build bench/http_probe.c; timing with Python's client only", file=sys.stderr)
        probe_bin = None
    proj = os.path.join(work, "coldstart")
    shutil.copytree(os.path.join(ROOT, "bench", "coldstart"), proj)
    port, admin = free_port(), free_port()
    nport, nginx = free_port(), None
    gw = subprocess.Popen([KUMO, "up", proj, "--port", str(port), "--admin-port", str(admin), "--threads", "1"],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "err.log"), "w"))
    try:
        # the floor: nginx with one worker (kumo runs one loop here)
        if probe_bin and os.access(NGINX, os.X_OK):
            with open(os.path.join(work, "nginx.conf"), "w") as f:
                f.write("worker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx.err warn;\n"
                        "events { worker_connections 64; }\nhttp {\n  access_log off;\n  server {\n"
                        "    listen 127.0.0.1:%d;\n"
                        "    location / { default_type text/plain; return 200 \"hello, world\\n\"; }\n  }\n}\n"
                        % (work, work, nport))
            if subprocess.call([NGINX, "-p", work, "-c", os.path.join(work, "nginx.conf")]) == 0:
                nginx = os.path.join(work, "nginx.conf")
            else:
                print("bench: nginx did not start; no floor figure", file=sys.stderr)
        elif probe_bin:
            print("bench: no nginx (make deps); no floor figure", file=sys.stderr)
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", admin), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        adm = http.client.HTTPConnection("127.0.0.1", admin)

        def status():
            adm.request("GET", "/status")
            return next(f for f in json.loads(adm.getresponse().read())["functions"] if f["name"] == "hello")

        conn = http.client.HTTPConnection("127.0.0.1", port)

        def get(path="/hello"):
            t0 = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            dt = time.perf_counter() - t0
            assert r.status == 200, (r.status, body)
            return dt

        def wait_zero():
            deadline = time.time() + 10
            while time.time() < deadline:
                if status()["replicas"]["total"] == 0 and not children(gw.pid):
                    return
                time.sleep(0.002)
            raise SystemExit("the function did not go to zero processes")

        get()
        get("/warm")
        # the C client (bench/http_probe.c): one keep-alive connection,
        # timed without an interpreter around it
        probe = nprobe = None
        if probe_bin:
            probe = subprocess.Popen([probe_bin, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if nginx:
                nprobe = subprocess.Popen([probe_bin, str(nport)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True)

        def cget(path="/hello", via=None):
            via = via or probe
            via.stdin.write(path + "\n")
            via.stdin.flush()
            line = via.stdout.readline()
            if not line:
                raise SystemExit("bench/http_probe.c stopped (exit %s) on GET %s" % (via.wait(), path))
            status, us = line.split()
            assert status == "200", (path, status)
            return float(us) / 1e6

        if probe:
            cget()
            cget("/warm")
        if nprobe:
            cget("/", nprobe)
        gw_rss = None
        # per client: cold (the first request after zero) and peer (warm,
        # asked after the same wait); the kinds take turns, so that each
        # meets the same machine
        kinds = [("c", "cold"), ("c", "peer"), ("py", "cold"), ("py", "peer")] if probe else [("py", "cold"),
                                                                                               ("py", "peer")]
        if nprobe:
            kinds.append(("c", "floor"))
        got = {k: [] for k in kinds}
        for i in range(len(kinds) * CYCLES):
            wait_zero()
            if gw_rss is None:
                gw_rss = rss_kib(gw.pid)
            client, what = kinds[i % len(kinds)]
            fetch = cget if client == "c" else get
            if what == "cold":
                got[(client, what)].append(fetch())
            elif what == "floor":
                got[(client, what)].append(cget("/", nprobe))
                fetch()  # as after the peer
            else:
                got[(client, what)].append(fetch("/warm"))
                fetch()  # hello again, so that the next wait is for its pool to go to zero as before
        warm = {"py": [get() for _ in range(CYCLES)]}
        if probe:
            warm["c"] = [cget() for _ in range(CYCLES)]
            probe.stdin.close()
            probe.wait()
        if nprobe:
            nprobe.stdin.close()
            nprobe.wait()
        worker = children(gw.pid)
        worker_rss = rss_kib(worker[0]) if worker else 0
        worker_private = private_kib(worker[0]) if worker else 0
        wait_zero()
        after_idle = len(children(gw.pid))

        ms = lambda s: s * 1000.0
        p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
        print("cold start over %d scale-from-zero cycles per client (one loop, sandbox as kumo.yaml defaults):" % CYCLES)
        for client in (["c"] if probe else []) + ["py"]:
            cold, idle_warm, w = sorted(got[(client, "cold")]), sorted(got[(client, "peer")]), sorted(warm[client])
            print("  %s:" % ("client in C (bench/http_probe.c)" if client == "c" else
                             "client in Python (http.client: its interpreter is in every figure)"))
            print("    first request after zero: p50 %.3f ms, p99 %.3f ms" % (ms(p(cold, .5)), ms(p(cold, .99))))
            print("    warm request:             p50 %.3f ms, p99 %.3f ms" % (ms(p(w, .5)), ms(p(w, .99))))
            print("    cold minus warm (p50):    %.3f ms" % (ms(p(cold, .5) - p(w, .5))))
            print("    peer, after the same wait, a worker always there: p50 %.3f ms, p99 %.3f ms; cold minus peer "
                  "(p50): %.3f ms" % (ms(p(idle_warm, .5)), ms(p(idle_warm, .99)), ms(p(cold, .5) - p(idle_warm, .5))))
            if (client, "floor") in got:
                floor = sorted(got[(client, "floor")])
                print("    floor, nginx `return 200` after the same wait: p50 %.3f ms, p99 %.3f ms; cold minus floor "
                      "(p50): %.3f ms" % (ms(p(floor, .5)), ms(p(floor, .99)), ms(p(cold, .5) - p(floor, .5))))
        others = [comm for _, comm in descendants(gw.pid)]
        print("memory: gateway RSS at rest %d KiB; one idle warm worker %d KiB (%d KiB its own); function processes "
              "after idle: %d (besides: %d fork server, %d spare, %d pid namespace init)"
              % (gw_rss, worker_rss, worker_private, after_idle, others.count("kumo-forkserver"),
                 others.count("kumo-spare"), others.count("kumo-pid1")))

        # burst: 64 clients at once on a cold function
        wait_zero()
        results = []
        lock = threading.Lock()
        start = threading.Event()

        def client():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            start.wait()
            try:
                c.request("GET", "/sleep")
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
            with lock:
                results.append((ok, time.perf_counter()))

        threads = [threading.Thread(target=client) for _ in range(64)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
        start.set()
        for t in threads:
            t.join()
        done = max(r[1] for r in results) - t0
        failed = sum(1 for r in results if not r[0])
        st = status()
        print("burst: 64 clients at once on a cold function (handler sleeps 20 ms, max 64): all served in %.1f ms, "
              "%d failed, %d workers started" % (done * 1000, failed, st["replicas"]["total"]))
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(30)
        if nginx:
            subprocess.call([NGINX, "-p", work, "-c", nginx, "-s", "stop"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
