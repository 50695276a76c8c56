#!/usr/bin/env python3
"""Issue 6's figures: packaging, deploying and starting a packaged function.

  bench/deploy.py [COLD_STARTS]      (default 50; needs `make build`)

On a copy of examples/todo (units built once by `kumo lint`-free `kumo up`
start, so every build below packages, it does not compile):

- `kumo build --target T` for every target: wall time and artifact sizes;
- `kumo deploy --target aws` against moto's server (`moto_server`, on a
  free loopback port): wall time of the first deploy (CREATE) and of a
  second one after a change (UPDATE), then `kumo destroy --yes`;
- cold start of the aws package's bootstrap: from the process's start to
  its first response, under a minimal Lambda Runtime API served here (one
  event, then the bootstrap is killed; COLD_STARTS times): p50 and p99.
  The event is GET /todos as API Gateway payload 1.0, and the stores are
  where a deployed package has them, on AWS's services: DynamoDB, S3 and
  SQS as moto's server stands them in (KUMO_STORE_* pointing at it), so
  the first response includes opening the table and reading it.

  The same start to the first GET /next is also timed from C
  (bench/lambda_start.c, built here with cc): posix_spawn to the request
  read on a loopback socket, COLD_STARTS times, beside a peer, a C
  bootstrap that does nothing but ask for its event. Python's own fork and
  HTTP server are in the first figures, not in these.

  bench/deploy.py --compare A.zip B.zip [COLD_STARTS]

compares two aws packages of examples/todo (e.g. one built by an older
kumo): each one's size, file count and libraries, then COLD_STARTS cold
starts of each, interleaved (A, B, A, B, ...) so that the machine's load
falls on both alike.
"""
import http.server
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
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KUMO = os.environ.get("KUMO_BIN", os.path.join(ROOT, "build", "kumo"))
COMPARE = sys.argv[2:4] if len(sys.argv) > 3 and sys.argv[1] == "--compare" else None
_count = sys.argv[4:5] if COMPARE else sys.argv[1:2]
COLD = int(_count[0]) if _count else 50
TARGETS = ["aws", "gcp", "azure", "knative", "openfaas", "kubernetes"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def human(n):
    return "%.1f MiB" % (n / 1048576.0) if n >= 1048576 else "%.1f KiB" % (n / 1024.0)


def build_units(project):
    """kumo up builds the units; stop it once it serves."""
    port, admin = free_port(), free_port()
    p = subprocess.Popen([KUMO, "up", project, "--port", str(port), "--admin-port", str(admin)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)


def bench_builds(project):
    print("kumo build (examples/todo, units already compiled):")
    for t in TARGETS:
        shutil.rmtree(os.path.join(project, ".kumo", "build", t), ignore_errors=True)
        t0 = time.monotonic()
        r = subprocess.run([KUMO, "build", "--target", t, project], capture_output=True, text=True)
        ms = (time.monotonic() - t0) * 1000
        if r.returncode != 0:
            print("  %-10s failed: %s" % (t, r.stderr.strip()))
            continue
        out = os.path.join(project, ".kumo", "build", t)
        arts = sorted(os.path.join(out, n) for n in os.listdir(out))
        shown = ", ".join("%s %s" % (os.path.basename(a), human(size_of(a))) for a in arts)
        print("  %-10s %7.0f ms   %s" % (t, ms, shown))


def bench_deploy(project):
    moto = shutil.which("moto_server")
    if moto is None:
        print("deploy: skipped (moto_server not installed)")
        return
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    m = subprocess.Popen([moto, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = "http://127.0.0.1:%d" % port

        def run(*args):
            t0 = time.monotonic()
            r = subprocess.run([KUMO, *args, "--target", "aws", "--endpoint-url", url, project],
                               capture_output=True, text=True, env=env, timeout=600)
            return time.monotonic() - t0, r

        secs, r = run("deploy")
        print("kumo deploy --target aws against moto: create %.2f s (exit %d)" % (secs, r.returncode))
        yaml = os.path.join(project, "kumo.yaml")
        with open(yaml) as f:
            text = f.read()
        with open(yaml, "w") as f:
            f.write(text.replace("max_body: 8Mi}", "max_body: 8Mi, memory: 256Mi}"))
        secs, r = run("deploy")
        print("  second deploy after a change (update): %.2f s (exit %d)" % (secs, r.returncode))
        secs, r = run("destroy", "--yes")  # the stores' data goes too: it refuses without --yes
        print("  kumo destroy: %.2f s (exit %d)" % (secs, r.returncode))
        with open(yaml, "w") as f:
            f.write(text)
    finally:
        m.terminate()
        m.wait(timeout=10)


EVENT = json.dumps({"version": "1.0", "resource": "/todos", "path": "/todos", "httpMethod": "GET",
                    "headers": {"accept": "application/json"}, "multiValueHeaders": {"accept": ["application/json"]},
                    "queryStringParameters": None, "multiValueQueryStringParameters": None,
                    "requestContext": {"stage": "$default", "requestId": "bench"}, "body": None,
                    "isBase64Encoded": False}).encode()


class RuntimeAPI(http.server.BaseHTTPRequestHandler):
    """One event per bootstrap: /next hands it out once, the response
    records the time."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def run_state(self):
        # the run this connection belongs to: taken at its first request, so
        # that a killed bootstrap's last GET, read late, cannot take the
        # next run's event
        if not hasattr(self, "st"):
            self.st = self.server.state
        return self.st

    def do_GET(self):
        st = self.run_state()
        if st["given"]:
            st["stop"].wait(30)  # the bootstrap is killed meanwhile
            self.close_connection = True
            return
        st["given"] = True
        st["next"] = time.monotonic()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-%d" % st["n"])
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        st = self.run_state()
        st["done"] = time.monotonic()
        st["ok"] = b'"statusCode":200' in body or b'"statusCode": 200' in body
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        st["event"].set()


def unpack(zpath):
    task = tempfile.mkdtemp(prefix="kumo-bench-task-")
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            z.extract(info, task)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(os.path.join(task, info.filename), mode & 0o777)
    return task


class Moto:
    """moto's server on a free loopback port, standing in for DynamoDB, S3
    and SQS: where the todo package's stores are once deployed."""

    def __init__(self):
        self.proc = None
        exe = shutil.which("moto_server")
        if exe is None:
            sys.exit("bench: moto_server is not installed (the cold start reads the stores from it)")
        self.port = free_port()
        self.proc = subprocess.Popen([exe, "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("bench: moto_server did not start")

    def env(self):
        ep = "endpoint=http://127.0.0.1:%d" % self.port
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                "KUMO_STORE_TODOS": "dynamodb://todos?" + ep, "KUMO_STORE_ATTACHMENTS": "s3://attachments?" + ep,
                "KUMO_STORE_NOTIFICATIONS": "sqs://notifications?" + ep}

    def close(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Cold:
    """Cold starts of one unpacked package under the Runtime API `srv`,
    its stores on `moto`."""

    def __init__(self, zpath, srv, moto):
        self.task = unpack(zpath)
        self.srv = srv
        self.env = dict(os.environ, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % srv.server_address[1],
                        LAMBDA_TASK_ROOT=self.task, _HANDLER="todos", KUMO_DATA=os.path.join(self.task, "data"),
                        **moto.env())
        self.times, self.inits, self.failed, self.why = [], [], 0, []

    def run(self, n):
        st = {"given": False, "n": n, "event": threading.Event(), "stop": threading.Event(), "ok": False}
        self.srv.state = st
        t0 = time.monotonic()
        p = subprocess.Popen([os.path.join(self.task, "bootstrap")], env=self.env, cwd=self.task,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if st["event"].wait(30) and st["ok"]:
            self.times.append((st["done"] - t0) * 1000)
            self.inits.append((st["next"] - t0) * 1000)
        else:
            self.failed += 1
        p.kill()
        err = p.communicate()[1].decode(errors="replace")
        if not st["ok"]:
            self.why.append("run %d: %s%s" % (n, "no answer in 30 s" if not st["event"].is_set() else "answer not 200",
                                              ("; stderr: " + err.strip()[-300:]) if err.strip() else ""))
        st["stop"].set()

    def report(self, label):
        if self.times:
            times, inits = sorted(self.times), sorted(self.inits)
            print("%scold start of the aws bootstrap (process start to first response, %d runs, %d failed): "
                  "p50 %.1f ms, p99 %.1f ms" % (label, len(times), self.failed, statistics.median(times),
                                                 times[min(len(times) - 1, int(len(times) * 0.99))]))
            print("%s  of which init (process start to its first GET /next): p50 %.1f ms, p99 %.1f ms"
                  % (label, statistics.median(inits), inits[min(len(inits) - 1, int(len(inits) * 0.99))]))
        else:
            print("%scold start: every run failed" % label)
        for w in self.why:
            print("%s  failed %s" % (label, w))

    def close(self):
        shutil.rmtree(self.task, ignore_errors=True)


def launcher_ms(n):
    """What starting a process costs this script (subprocess.Popen of
    /bin/true, to its exit), p50: part of every figure above, not the
    package's."""
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.Popen(["/bin/true"]).wait()
        times.append((time.monotonic() - t0) * 1000)
    return statistics.median(times)


def c_starts(colds, labels):
    """Start to first GET /next timed from C (bench/lambda_start.c), for
    each Cold's unpacked package and for the peer, a C bootstrap that only
    asks for its event: without Python's fork and HTTP server in the
    figure. Skipped without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        print("start to first GET /next from C: skipped (no C compiler)")
        return
    tmp = tempfile.mkdtemp(prefix="kumo-bench-start-")
    try:
        prog = os.path.join(tmp, "lambda_start")
        subprocess.run([cc, "-O2", "-o", prog, os.path.join(ROOT, "bench", "lambda_start.c")], check=True)
        peer = os.path.join(tmp, "peer")
        os.mkdir(peer)
        shutil.copy(prog, os.path.join(peer, "bootstrap"))
        dirs = [peer] + [c.task for c in colds]
        out = subprocess.run([prog, str(COLD)] + dirs, env=colds[0].env, capture_output=True, text=True,
                             check=True).stdout
        names = dict(zip(dirs, ["the peer (a C bootstrap that only asks for its event)"] + labels))
        print("start to first GET /next, timed from C (bench/lambda_start.c, posix_spawn, interleaved):")
        for line in out.splitlines():
            d, _, rest = line.partition(": ")
            print("  %s: %s" % (names.get(d, d), rest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def runtime_api():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeAPI)
    srv.handle_error = lambda *a: None  # killed bootstraps leave broken connections
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def bench_cold(project):
    zpath = os.path.join(project, ".kumo", "build", "aws", "todos.zip")
    if not os.path.exists(zpath):
        print("cold start: skipped (no aws package)")
        return
    srv, moto = runtime_api(), Moto()
    c = Cold(zpath, srv, moto)
    try:
        for n in range(COLD):
            c.run(n)
        c_starts([c], ["the aws package"])
    finally:
        srv.shutdown()
        c.close()
        moto.close()
    c.report("")
    print("  the launcher alone (this script starting /bin/true, in both figures): p50 %.1f ms" % launcher_ms(COLD))


def describe(zpath):
    with zipfile.ZipFile(zpath) as z:
        names = z.namelist()
    libs = [n for n in names if n.startswith("lib/")]
    print("%s: %s, %d files, %d libraries%s" % (zpath, human(os.path.getsize(zpath)), len(names), len(libs),
                                                 " (with its own glibc and loader)" if "lib/libc.so.6" in names else
                                                 " (on the platform's glibc)"))


def compare(a, b):
    describe(a)
    describe(b)
    srv, moto = runtime_api(), Moto()
    ca, cb = Cold(a, srv, moto), Cold(b, srv, moto)
    try:
        for n in range(COLD):
            ca.run(n)
            cb.run(n)
        c_starts([ca, cb], ["A " + a, "B " + b])
    finally:
        srv.shutdown()
        ca.close()
        cb.close()
        moto.close()
    ca.report("A ")
    cb.report("B ")
    print("the launcher alone (this script starting /bin/true, in every figure): p50 %.1f ms" % launcher_ms(COLD))


def main():
    if COMPARE:
        compare(*COMPARE)
        return
    if not os.access(KUMO, os.X_OK):
        sys.exit("bench: %s not built; run 'make build'" % KUMO)
    work = tempfile.mkdtemp(prefix="kumo-bench-deploy-")
    try:
        project = os.path.join(work, "todo")
        shutil.copytree(os.path.join(ROOT, "examples", "todo"), project, ignore=shutil.ignore_patterns(".kumo"))
        build_units(project)
        bench_builds(project)
        bench_cold(project)
        bench_deploy(project)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
