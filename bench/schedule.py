#!/usr/bin/env python3
"""Schedule accuracy of `kumo up`: fire time minus planned time.

  bench/schedule.py [N]      (N ticks, default 200; needs a release build: make build)

Serves a copy of tests/integration/projects/ticks with one event,
`every 1s` on ticks.record, until N ticks were recorded. The handler
records its own clock (CLOCK_REALTIME) at entry; the tick's planned time
is its ce-time header. Prints p50, p99 and the largest of entry minus
planned over the N ticks, and how many were early (must be 0) or
missing (a planned second without a tick). The first tick starts the
function's worker (a cold start): it is shown apart, not counted in N.
"""
import calendar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, "build", "kumo"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def planned_us(t):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", t)
    return (calendar.timegm(tuple(int(x) for x in m.groups()[:6])) * 1000 + int(m.group(7))) * 1000


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    tmp = tempfile.mkdtemp(prefix="kumo-bench-schedule-")
    project = os.path.join(tmp, "ticks")
    shutil.copytree(os.path.join(ROOT, "tests", "integration", "projects", "ticks"), project,
                    ignore=shutil.ignore_patterns(".kumo"))
    path = os.path.join(project, "kumo.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:text.index("\nevents:") + 1] +
                'events:\n  every: {schedule: "every 1s", handler: ticks.record}\n')
    port, admin = free_port(), free_port()
    log = open(os.path.join(tmp, "kumo.log"), "w+")
    proc = subprocess.Popen([KUMO, "up", project, "--port", str(port), "--admin-port", str(admin)],
                            stdout=log, stderr=log)
    try:
        records = []
        deadline = time.time() + N + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                sys.exit("kumo up exited:\n" + log.read()[-3000:])
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/ticks" % port, timeout=10) as r:
                    records = json.loads(r.read())
            except OSError:
                pass
            if len(records) >= N + 1:
                break
            time.sleep(min(5, max(1, (N - len(records)) / 2)))
        records = sorted(records, key=lambda r: r["headers"]["ce-time"])[:N + 1]
        if len(records) < N + 1:
            sys.exit("only %d ticks in %d s" % (len(records), N + 120))
        cold, records = records[0], records[1:]
        cold_ms = (cold["entry_us"] - planned_us(cold["headers"]["ce-time"])) / 1000
        lateness = [r["entry_us"] - planned_us(r["headers"]["ce-time"]) for r in records]
        planned = [planned_us(r["headers"]["ce-time"]) // 1000000 for r in records]
        missing = (planned[-1] - planned[0] + 1) - len(set(planned))
        print("schedule accuracy, `every 1s`, %d ticks (handler's clock at entry minus planned time):" % N)
        print("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   early %d   missing %d" %
              (pct(lateness, 50) / 1000, pct(lateness, 99) / 1000, max(lateness) / 1000,
               sum(1 for x in lateness if x < 0), missing))
        print("  first tick (cold start of the worker): %.2f ms" % cold_ms)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
