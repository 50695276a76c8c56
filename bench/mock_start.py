#!/usr/bin/env python3
"""mock_start.py: milliseconds from starting a mock server (or kumo up) to
its first HTTP answer (any status), best and median of RUNS.

Usage: mock_start.py RUNS PORT PATH COMMAND...   (PORT is substituted for
{port} in COMMAND; the server is stopped after each run)

Prints "BEST MEDIAN". With START_BREAKDOWN=1 in the environment the
server runs with KUMO_START_TIMES=1 (base/starttime.h) and a second line
gives the median of each step it noted, in ms ("+name": a step the
server takes after ready, while it already serves), and what is outside
them:
"outside" is the first answer's time less the steps. When the server's
line carries its clock readings (kumo since issue 19's h-fast), outside is
split: "exec" is from spawning to kumo's constructors (fork and exec, the
dynamic linker), "answer" from ready to the first answer (the loops'
wake-up, the first request, and this script's polling, every 2 ms). Then
the CPU time: "cpu@ready" is what the process had used when it was ready
(every thread, from exec), "cpu@answer" when it had answered (read from
/proc: its threads' run time), medians too; these move less with the
machine's load than the wall-clock figures.
"""
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

runs, port, path, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
cmd = [c.replace("{port}", port) for c in cmd]
breakdown = os.environ.get("START_BREAKDOWN") == "1"
env = dict(os.environ, KUMO_START_TIMES="1") if breakdown else None
times = []
steps = []  # per run: [(name, ms)], and "ready"
split = []  # per run: (exec ms, answer ms, cpu at ready ms, cpu at answer ms)


def cpu_ms(pid):
    """The run time of every thread of pid so far (schedstat, ns), in ms."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total / 1e6

for _ in range(runs):
    err = tempfile.TemporaryFile() if breakdown else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, env=env)
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
    t1 = time.monotonic()
    times.append((t1 - t0) * 1000)
    cpu_answer = cpu_ms(p.pid) if breakdown else None
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    if breakdown:
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        err.close()
        m = re.search(r"^kumo: start \(ms\): (.*); ready ([0-9.]+) ms", text, re.M)
        if m:
            pairs = [s.strip().rsplit(" ", 1) for s in m.group(1).split(",")]
            steps.append(([(k, float(v)) for k, v in pairs], float(m.group(2))))
        c = re.search(r"^kumo: start .*\(monotonic ([0-9.]+) \.\. ([0-9.]+) ms; cpu ([0-9.]+) ms\)", text, re.M)
        if c:
            split.append((float(c.group(1)) - t0 * 1000, t1 * 1000 - float(c.group(2)), float(c.group(3)),
                          cpu_answer if cpu_answer is not None else float("nan")))
print("%.0f %.0f" % (min(times), statistics.median(times)))
if breakdown:
    if not steps:
        print("  (no breakdown: the server printed no 'kumo: start' line)")
    else:
        names = [k for k, _ in steps[0][0]]
        med = {k: statistics.median(dict(s).get(k, 0.0) for s, _ in steps) for k in names}
        ready = statistics.median(r for _, r in steps)
        shown = ", ".join("%s %.1f" % (k, med[k]) for k in names if med[k] >= 0.05)
        line = "  steps (median ms): %s; ready %.1f, outside %.1f" % (shown, ready, statistics.median(times) - ready)
        if split:
            med4 = [statistics.median(s[i] for s in split) for i in range(4)]
            line += " (exec %.1f, answer %.1f); cpu@ready %.1f, cpu@answer %.1f" % tuple(med4)
        print(line)
