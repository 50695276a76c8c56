#!/usr/bin/env python3
"""Queue events under `kumo up`: send-to-handler latency and throughput.

  bench/queue.py [N] [M] [DRIVERS]   (defaults: 300, 2000, "sqlite redis";
                                      needs a release build: make build)

- latency: N messages, one at a time (20 ms apart, so each finds the
  consumer idle, waiting on the driver), sent by a warm function
  (POST /send: kumo_queue_send) to an event with batch 1 on a warm
  function. Each handler records its clock (CLOCK_REALTIME) at entry; the
  sender's clock is read right after kumo_queue_send returned (the message
  committed) and right before it was called. Prints p50/p99/max of entry
  minus each, after 5 warm-up messages.
- throughput: M messages put in the queue first (queue_raw fill, through
  the driver), then kumo up with a no-op handler (204) at batch 1 and at
  batch 10: messages per second from the first call's answer (its event
  log line) until the queue is empty (every message answered and acked;
  polled every 10 ms), beside the same driver's own loop without kumo
  (bench/queue_raw.c drain: receive BATCH + ack each, one thread), and the
  ratio.

Drivers: sqlite (the embedded queue, the project's .kumo/data/queue.db)
and redis (a redis-server started here); postgres works too. No pass/fail:
the figures are printed.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import queue_backends  # noqa: E402

KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, "build", "kumo"))
BUILD = os.path.dirname(KUMO)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
M = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
DRIVERS = (sys.argv[3] if len(sys.argv) > 3 else "sqlite redis").split()

H_C = r'''
#include <kumo.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int record(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    long long entry = now_us();
    const char *id = kumo_request_header(req, "ce-id");
    char v[32];
    int n = snprintf(v, sizeof(v), "%lld", entry);
    int rc = kumo_kv_put(ctx, "lat", id ? id : "?", v, (size_t)n);
    if (rc != 0)
        return rc;
    kumo_response_status(res, 204);
    return 0;
}

int noop(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)ctx;
    (void)req;
    kumo_response_status(res, 204);
    return 0;
}
'''

CTL_C = r'''
#include <kumo.h>
#include <string.h>
#include <time.h>

static long long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int send(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    const char *id = NULL;
    long long before = now_us();
    int rc = kumo_queue_send(ctx, "jobs", "x", 1, 0, &id);
    long long after = now_us();
    if (rc != 0)
        return rc;
    return kumo_response_json(res, 200, json_pack("{s:s, s:I, s:I}", "id", id, "before", (json_int_t)before,
                                                  "after", (json_int_t)after));
}

int entries(kumo_ctx *ctx, const kumo_request *req, kumo_response *res)
{
    (void)req;
    json_t *all = json_object();
    const char *cursor = NULL;
    do {
        kumo_kv_page page;
        int rc = kumo_kv_list(ctx, "lat", "", cursor, 1000, 1, &page);
        if (rc != 0) {
            json_decref(all);
            return rc;
        }
        for (size_t i = 0; i < page.count; i++)
            json_object_set_new(all, page.items[i].key, json_stringn(page.items[i].value, page.items[i].len));
        cursor = page.next;
    } while (cursor);
    return kumo_response_json(res, 200, all);
}
'''

OPENAPI = '''openapi: 3.0.3
info: {title: qbench, version: "1"}
paths:
  /send:
    post:
      operationId: send
      responses: {"200": {description: "the id, and the clock before and after kumo_queue_send"}}
  /entries:
    get:
      operationId: entries
      responses: {"200": {description: "message id -> the handler's clock at entry"}}
'''


def project(event):
    d = tempfile.mkdtemp(prefix="kumo-qbench-")
    os.makedirs(os.path.join(d, "functions"))
    files = {
        "kumo.yaml": "name: qbench\napi: openapi.yaml\nfunctions:\n"
                     "  ctl: {sources: [functions/ctl.c], max: 1, min: 1}\n"
                     "  h: {sources: [functions/h.c], max: 2, min: 1}\n"
                     "stores: {kv: [lat], queue: [jobs]}\n"
                     "events:\n  %s\n" % event,
        "openapi.yaml": OPENAPI, "functions/h.c": H_C, "functions/ctl.c": CTL_C}
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


class Kumo:
    def __init__(self, d, env):
        self.port, self.admin = queue_backends.free_port(), queue_backends.free_port()
        self.err = open(os.path.join(d, "stderr.log"), "w+")
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen([KUMO, "up", d, "--port", str(self.port), "--admin-port", str(self.admin)],
                                     stdout=subprocess.DEVNULL, stderr=self.err, env=e)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("kumo up exited:\n" + self.log())
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.admin, timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("kumo up did not become ready:\n" + self.log())

    def log(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def call(self, method, path):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def wait(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def latency(driver, backend_url, env):
    d = project("lat: {queue: jobs, handler: h.record, batch: 1, visibility: 30s}")
    e = dict(env)
    if backend_url:
        e["KUMO_STORE_JOBS"] = backend_url
    k = Kumo(d, e)
    try:
        sent = []
        for i in range(5 + N):
            sent.append(k.call("POST", "/send"))
            time.sleep(0.02)
        ids = {s["id"] for s in sent}
        got = wait(lambda: (lambda en: en if ids <= set(en) else None)(k.call("GET", "/entries")), 120)
        if not got:
            print("%-7s latency: only %d of %d messages arrived" % (driver, len(k.call("GET", "/entries")),
                                                                    len(ids)))
            return
        after = [(int(got[s["id"]]) - s["after"]) / 1000.0 for s in sent[5:]]
        before = [(int(got[s["id"]]) - s["before"]) / 1000.0 for s in sent[5:]]
        print("%-7s latency over %d messages, ms: from send returned p50 %.2f p99 %.2f max %.2f; "
              "from send called p50 %.2f p99 %.2f" % (driver, N, statistics.median(after), pct(after, 99),
                                                     max(after), statistics.median(before), pct(before, 99)))
    finally:
        k.stop()
        shutil.rmtree(d, ignore_errors=True)


def log_time(line):
    return datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def throughput(driver, backend, raw):
    for batch in (1, 10):
        d = project("noop: {queue: jobs, handler: h.noop, batch: %d, visibility: 30s}" % batch)
        if driver == "sqlite":
            url, env = "sqlite:%s/.kumo/data/queue.db" % d, {}
            os.makedirs(os.path.join(d, ".kumo", "data"))
        else:
            url, env = backend.url, {"KUMO_STORE_JOBS": backend.url}
        q = "jobs"
        if driver != "sqlite":  # a fresh queue in the shared server: the project's, emptied by the last run
            subprocess.run([raw, "drain", url, q, "0", "1"], capture_output=True)
        subprocess.run([raw, "fill", url, q, str(M)], check=True)
        k = Kumo(d, env)
        try:
            # done when the queue is empty: every message answered and acked
            if driver == "sqlite":
                import sqlite3

                def left():
                    db = sqlite3.connect(os.path.join(d, ".kumo", "data", "queue.db"), timeout=10)
                    try:
                        return db.execute("SELECT count(*) FROM kumo_queue WHERE queue = 'jobs'").fetchone()[0]
                    finally:
                        db.close()
            else:
                def left():
                    return int(backend.cli("XLEN", "kumo:jobs:stream").strip() or 0)
            deadline = time.time() + 600
            while left() > 0 and time.time() < deadline:
                time.sleep(0.01)
            empty = time.time()
            ls = [json.loads(l) for l in k.log().splitlines() if l.startswith("{") and '"msg":"event"' in l]
            if not ls or left() > 0:
                print("%-7s batch %2d: did not finish" % (driver, batch))
                continue
            ok = sum(l.get("batch_size", 1) - l.get("failed", 0) for l in ls if l.get("status") == 200 or
                     l.get("status") == 204)
            first = min(log_time(l) for l in ls)
            rate = M / (empty - first + 1e-9)
        finally:
            k.stop()
        rq = "raw%d" % batch
        subprocess.run([raw, "fill", url, rq, str(M)], check=True)
        r = subprocess.run([raw, "drain", url, rq, str(M), str(batch)], capture_output=True, text=True, check=True)
        peer = float(r.stdout.strip())
        print("%-7s batch %2d: kumo %7.0f msgs/s (%d of %d handled)   driver alone %7.0f msgs/s   ratio %.2f"
              % (driver, batch, rate, ok, M, peer, rate / peer if peer else float("nan")))
        shutil.rmtree(d, ignore_errors=True)


def build_raw(work):
    out = os.path.join(work, "queue_raw")
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "jansson", "sqlite3", "hiredis", "libpq", "libcurl"],
                        capture_output=True, text=True, check=True).stdout.split()
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-std=gnu11", "-D_GNU_SOURCE", "-I" + ROOT + "/src",
                    "-I" + ROOT + "/include", os.path.join(ROOT, "bench", "queue_raw.c"), "-o", out,
                    os.path.join(BUILD, "libkumo.a"), os.path.join(BUILD, "libkumo_base.a"), *pc, "-lpthread",
                    "-ldl", "-lm"], check=True)
    return out


def main():
    work = tempfile.mkdtemp(prefix="kumo-qbench-")
    try:
        raw = build_raw(work)
        for driver in DRIVERS:
            cls = queue_backends.ALL[driver]
            if cls.missing:
                print("%-7s SKIPPED: %s" % (driver, cls.missing))
                continue
            backend = cls()
            backend.url, env = backend.start("jobs")
            try:
                latency(driver, backend.url, env)
                throughput(driver, backend, raw)
            finally:
                backend.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
