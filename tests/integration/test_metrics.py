"""GET /metrics: the Prometheus text format, scraped by a real Prometheus.

The test causes a known mix of requests (handled, refused by the contract,
unrouted), lets a real Prometheus server (Debian's `prometheus`) scrape
kumo's admin port, and reads the counts back with PromQL. A reload keeps
every counter (a reload is not a restart: PromQL's resets() stays 0), and
a reload that changes nothing adds no series. promtool lints the text.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project, free_port, wait_for

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def series_names(text):
    """The series (name and labels) a scrape exposes, values left out."""
    out = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            out.add(line.rsplit(" ", 1)[0])
    return out


def sample(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


class MetricsTest(GatewayTest):
    project = "todo"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prom = None
        cls.tmp = tempfile.mkdtemp(prefix="kumo-prom-")

    @classmethod
    def tearDownClass(cls):
        if cls.prom and cls.prom.poll() is None:
            cls.prom.terminate()
            try:
                cls.prom.wait(20)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def metrics(self):
        r = requests.get(self.gw.admin + "/metrics", timeout=5)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
        return r.text

    def start_prometheus(self):
        port = free_port()
        cfg = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: kumo\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.gw.admin_port)
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        type(self).prom = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(self.tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT)
        self.prom_url = "http://127.0.0.1:%d" % port

        def ready():
            try:
                return requests.get(self.prom_url + "/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        self.assertTrue(wait_for(ready, timeout=60), "prometheus did not become ready")

    def query(self, promql):
        r = requests.get(self.prom_url + "/api/v1/query", params={"query": promql}, timeout=5)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual(body["status"], "success", body)
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, promql, want, timeout=30):
        got = wait_for(lambda: self.query(promql) == want, timeout=timeout, step=0.25)
        self.assertTrue(got, "%s: wanted %s, Prometheus says %s" % (promql, want, self.query(promql)))

    def test_1_text_format(self):
        # the loop counts an invocation before it sends the answer: a scrape
        # right after each response sees it, every time
        def counted(text):
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("http_server_request_duration_seconds_count{")
                       and 'http_route="/todos"' in line)
        before = counted(self.metrics())
        for i in range(1, 31):
            self.assertEqual(requests.get(self.url("/todos"), timeout=5).status_code, 200)
            self.assertEqual(counted(self.metrics()), before + i)
        text = self.metrics()
        for family in ("http_server_request_duration_seconds histogram", "faas_invocations_total counter",
                       "faas_errors_total counter", "faas_timeouts_total counter", "faas_coldstarts_total counter",
                       "faas_invoke_duration_seconds histogram", "faas_init_duration_seconds histogram",
                       "kumo_replicas gauge", "kumo_queued gauge", "kumo_in_flight gauge",
                       "kumo_rejected_total counter", "kumo_reloads_total counter"):
            self.assertIn("# TYPE " + family + "\n", text)
        # a label is the route template, never the path
        self.assertIn('http_route="/todos"', text)
        self.assertIn('kumo_replicas{faas_name="todos",state="idle"}', text)
        if PROMTOOL is None:
            self.skipTest("promtool is not installed (Debian package prometheus): the lint did not run")
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_2_labels_bounded(self):
        for i in range(5):
            requests.get(self.url("/todos/%d" % (1000 + i)), timeout=5)
            requests.get(self.url("/no/such/%d" % i), timeout=5)
        text = self.metrics()
        self.assertNotIn("/todos/1000", text)
        self.assertNotIn("/no/such", text)
        self.assertIn('http_route="/todos/{id}"', text)

    def test_3_prometheus_scrape(self):
        if PROMETHEUS is None:
            self.skipTest("prometheus is not installed (Debian package prometheus): the scrape test did not run")
        base = self.metrics()
        before = {
            "list": sample(base, 'faas_invocations_total{faas_name="todos",operation="listTodos",faas_trigger="http"}')
            or 0,
        }
        for _ in range(5):
            self.assertEqual(requests.get(self.url("/todos"), timeout=5).status_code, 200)
        for _ in range(2):  # refused by the contract: no invocation, but an HTTP request
            r = requests.post(self.url("/todos"), json={"nope": 1}, timeout=5)
            self.assertEqual(r.status_code, 400, r.text)
        for _ in range(3):
            self.assertEqual(requests.get(self.url("/unrouted"), timeout=5).status_code, 404)
        self.start_prometheus()
        self.wait_value('up{job="kumo"}', 1.0)
        want_list = before["list"] + 5
        self.wait_value('sum(faas_invocations_total{operation="listTodos",faas_trigger="http"})', want_list)
        self.wait_value('sum(http_server_request_duration_seconds_count{operation="createTodo",'
                        'http_response_status_code="400"})', 2.0)
        self.assertIsNone(self.query('faas_invocations_total{operation="createTodo"}'),
                          "a request the contract refused is not an invocation")
        unrouted = self.query('sum(http_server_request_duration_seconds_count{http_route="",'
                              'http_response_status_code="404"})')
        self.assertGreaterEqual(unrouted, 3.0)
        # the buckets are there for histogram_quantile: a p99 of a few milliseconds at most
        self.assertEqual(self.query('count(faas_invoke_duration_seconds_bucket{operation="listTodos"})'), 20.0)
        p99 = self.query('histogram_quantile(0.99, sum by (le) ('
                         'http_server_request_duration_seconds_bucket{operation="listTodos"}))')
        self.assertIsNotNone(p99)
        self.assertTrue(0 < p99 < 10, p99)

        # a reload keeps the counts: the counter goes on from where it was
        series_before = series_names(self.metrics())
        # a reload with nothing changed makes no generation (issue 17): change a comment
        with open(os.path.join(self.project_dir, "kumo.yaml"), "a") as f:
            f.write("# changed\n")
        r = requests.post(self.gw.admin + "/reload", timeout=60)
        self.assertEqual(r.status_code, 200, r.text)
        series_after = series_names(self.metrics())
        self.assertEqual(series_before, series_after, "a reload that changes nothing adds or drops no series")
        for _ in range(2):
            self.assertEqual(requests.get(self.url("/todos"), timeout=5).status_code, 200)
        self.wait_value('sum(faas_invocations_total{operation="listTodos",faas_trigger="http"})', want_list + 2)
        self.wait_value("kumo_generation", 2.0)
        self.assertEqual(self.query('sum(resets(faas_invocations_total{operation="listTodos"}[5m]))'), 0.0)


class HostMetricsTest(unittest.TestCase):
    """kumo-host (Cloud Run, Knative, Kubernetes, OpenFaaS, Azure) serves the
    same metrics on $KUMO_METRICS_PORT, beside the API's port."""

    def test_host_metrics_port(self):
        d = copy_project("todo")
        host = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
        try:
            gw = Gateway(d)  # builds the unit
            self.assertEqual(gw.stop(), 0)
            port, mport = free_port(), free_port()
            e = dict(os.environ)
            e.update({"PORT": str(port), "KUMO_DATA": os.path.join(os.path.dirname(d), "host-data"),
                      "KUMO_METRICS_PORT": "nope"})
            bad = subprocess.run([host, "http", d, "todos"], env=e, capture_output=True, text=True, timeout=30)
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn("KUMO_METRICS_PORT=nope is not a port number", bad.stderr)
            e["KUMO_METRICS_PORT"] = str(mport)
            log = open(os.path.join(os.path.dirname(d), "host.log"), "w+")
            proc = subprocess.Popen([host, "http", d, "todos"], env=e, stdout=log, stderr=log)
            base, mbase = "http://127.0.0.1:%d" % port, "http://127.0.0.1:%d" % mport
            try:
                def up():
                    try:
                        return requests.get(mbase + "/metrics", timeout=1).status_code == 200
                    except requests.RequestException:
                        return False
                self.assertTrue(wait_for(lambda: proc.poll() is None and up(), timeout=30), open(log.name).read())
                for _ in range(3):
                    self.assertEqual(requests.get(base + "/todos", timeout=5).status_code, 200)
                self.assertEqual(requests.post(base + "/todos", json={"nope": 1}, timeout=5).status_code, 400)
                self.assertEqual(requests.get(base + "/metrics", timeout=5).status_code, 404,
                                 "the API's port keeps every path for the API")
                r = requests.get(mbase + "/metrics", timeout=5)
                self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
                text = r.text
                self.assertEqual(sample(text, 'faas_invocations_total{faas_name="todos",operation="listTodos",'
                                              'faas_trigger="http"}'), 3.0, text)
                self.assertEqual(sample(text, 'faas_coldstarts_total{faas_name="todos",operation="listTodos",'
                                              'faas_trigger="http"}'), 1.0, text)
                self.assertEqual(sample(text, 'http_server_request_duration_seconds_count{http_route="/todos",'
                                              'http_request_method="POST",http_response_status_code="400",'
                                              'operation="createTodo",faas_name="todos"}'), 1.0, text)
                self.assertEqual(requests.get(mbase + "/other", timeout=5).status_code, 404)
                if PROMTOOL:
                    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
                    self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
            finally:
                proc.terminate()
                rc = proc.wait(timeout=20)
                log.close()
            out = open(log.name).read()
            self.assertEqual(rc, 0, out[-3000:])
            self.assertNotIn("AddressSanitizer", out)
            self.assertNotIn("runtime error:", out)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
