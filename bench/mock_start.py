#!/usr/bin/env python3
"""mock_start.py: milliseconds from starting a mock server to its first
HTTP answer (any status), best and median of RUNS.

Usage: mock_start.py RUNS PORT PATH COMMAND...   (PORT is substituted for
{port} in COMMAND; the server is stopped after each run)
"""
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time

runs, port, path, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
cmd = [c.replace("{port}", port) for c in cmd]
times = []
for _ in range(runs):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = t0 + 120
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
            c.request("GET", path)
            c.getresponse().read()
            c.close()
            break
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                sys.exit("the server did not answer: %s" % " ".join(cmd))
            time.sleep(0.002)
    times.append((time.monotonic() - t0) * 1000)
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
print("%.0f %.0f" % (min(times), statistics.median(times)))
