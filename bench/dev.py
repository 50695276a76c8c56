#!/usr/bin/env python3
"""kumo dev's loop: from saving a handler to the new answer being served.

  bench/dev.py [N]        (default 20; needs a build: make build)

Serves a copy of examples/hello with `kumo dev`, then N times: saves
functions/hello.c with a new greeting (written beside it and renamed over
it, as editors do), and polls GET /hello on one keep-alive connection
until the new greeting comes. Prints the median and p90 of that
save-to-first-response time beside the median time the C compiler takes
to build the same unit alone, with kumo's arguments: the difference is
what kumo dev adds (debounce 50 ms, the reload, the swap, a cold start).
Also the medians of the figures kumo dev prints per change ("built",
"serving generation N in", "detected").
"""
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, "build", "kumo"))
INCLUDE = os.environ.get("KUMO_INCLUDE", os.path.join(ROOT, "include"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20

SOURCE = """#include <kumo.h>

int hello(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    static const char greeting[] = "%s";
    (void)ctx;
    (void)req;
    return kumo_response_body(res, greeting, sizeof(greeting) - 1, "text/plain");
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def compile_alone(src, out):
    cc = os.environ.get("CC") or "cc"
    t0 = time.perf_counter()
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-g", "-Wall", "-I" + INCLUDE, "-MMD", "-MF", out + ".d", "-o",
                    out, src, "-ljansson"], check=True)
    return (time.perf_counter() - t0) * 1000


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def main():
    tmp = tempfile.mkdtemp(prefix="kumo-bench-dev-")
    proj = os.path.join(tmp, "hello")
    shutil.copytree(os.path.join(ROOT, "examples", "hello"), proj, ignore=shutil.ignore_patterns(".kumo"))
    src = os.path.join(proj, "functions", "hello.c")
    save(src, SOURCE % "hello 0\\n")
    port, admin = free_port(), free_port()
    out = open(os.path.join(tmp, "stdout.log"), "w+")
    err = open(os.path.join(tmp, "stderr.log"), "w+")
    proc = subprocess.Popen([KUMO, "dev", proj, "--port", str(port), "--admin-port", str(admin), "--threads", "1"],
                            stdout=out, stderr=err)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % admin, timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    sys.exit("kumo dev did not start; see " + err.name)
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def answer():
            try:
                conn.request("GET", "/hello")
                return conn.getresponse().read().decode()
            except (OSError, http.client.HTTPException):
                conn.close()
                return None

        times = []
        for i in range(1, N + 1):
            want = "hello %d\n" % i
            time.sleep(0.3)  # settle: the previous generation's workers drain
            t0 = time.perf_counter()
            save(src, SOURCE % ("hello %d\\n" % i))
            while answer() != want:
                if time.perf_counter() - t0 > 60:
                    sys.exit("change %d was not served within 60 s; see %s" % (i, err.name))
                time.sleep(0.002)
            times.append((time.perf_counter() - t0) * 1000)
        alone = [compile_alone(src, os.path.join(tmp, "alone.so")) for _ in range(max(5, N // 2))]
        out.flush()
        with open(out.name) as f:
            text = f.read()
        built = [int(m) for m in re.findall(r"; built (\d+) ms;", text)]
        swap = [int(m) for m in re.findall(r"serving generation \d+ in (\d+) ms", text)]
        detected = [int(m) for m in re.findall(r"\(detected \+(\d+) ms\)", text)]
        med, c = statistics.median(times), statistics.median(alone)
        print("kumo dev, examples/hello, %d one-file changes (%s)" % (N, KUMO))
        print("  save to first new response  median %.0f ms  p90 %.0f ms" % (med, p90(times)))
        print("  the unit compiled alone     median %.0f ms" % c)
        print("  kumo dev adds               %.0f ms (aim: 50 ms over the compile)" % (med - c))
        if built:
            print("  kumo dev's own figures      built %d ms, serving in %d ms, detected +%d ms (medians)" %
                  (statistics.median(built), statistics.median(swap) if swap else -1,
                   statistics.median(detected) if detected else -1))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
