"""The gateway's contract with clients: routing, errors as problem+json,
crashes contained, logs, limits and a clean drain on SIGTERM."""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


class FaultsTest(GatewayTest):
    project = "faults"
    project_root = PROJECTS

    def test_echo_passes_params_query_headers_body(self):
        r = requests.post(self.url("/echo/a%20b?q=x%2By+z"), data=b"hello",
                          headers={"X-Test": "t1", "X-Request-Id": "abc-123"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["x-echo"], "yes")
        self.assertEqual(r.headers["x-request-id"], "abc-123")
        body = r.json()
        self.assertEqual(body["method"], "POST")
        self.assertEqual(body["name"], "a b")
        self.assertEqual(body["q"], "x+y z")
        self.assertEqual(body["x_test"], "t1")
        self.assertEqual(body["body"], "hello")
        self.assertEqual(body["path"], "/echo/a%20b")
        self.assertEqual(body["request_id"], "abc-123")

    def test_encoded_slash_stays_in_one_parameter(self):
        r = requests.get(self.url("/echo/a%2Fb"))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["name"], "a/b")

    def test_concrete_path_beats_template(self):
        self.assertEqual(requests.get(self.url("/items/mine")).text, "mine")
        self.assertEqual(requests.get(self.url("/items/42")).text, "42")

    def test_unknown_path_is_404_problem(self):
        body = self.assertProblem(requests.get(self.url("/nope")), 404)
        self.assertEqual(body["instance"], "/nope")
        self.assertIn("request_id", body)

    def test_wrong_method_is_405_with_allow(self):
        r = requests.delete(self.url("/echo/x"))
        self.assertProblem(r, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD, POST")

    def test_options_lists_allowed_methods(self):
        r = requests.options(self.url("/echo/x"))
        self.assertEqual(r.status_code, 204)
        self.assertEqual(r.headers["allow"], "GET, HEAD, POST, OPTIONS")
        self.assertEqual(r.content, b"")

    def test_head_is_answered_by_get(self):
        r = requests.head(self.url("/items/mine"))
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["content-length"], "4")
        self.assertEqual(r.content, b"")

    def test_dot_segments_are_refused(self):
        with socket.create_connection(("127.0.0.1", self.gw.port)) as s:
            s.sendall(b"GET /echo/.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:200])

    def test_handler_error_is_500_problem(self):
        self.assertProblem(requests.get(self.url("/fail")), 500)

    def test_segfault_is_502_and_next_request_succeeds(self):
        body = self.assertProblem(requests.get(self.url("/crash")), 502)
        self.assertIn("signal 11", body["detail"])
        r = requests.get(self.url("/items/7"))
        self.assertEqual((r.status_code, r.text), (200, "7"))

    def test_abort_is_502_and_next_request_succeeds(self):
        body = self.assertProblem(requests.get(self.url("/abort")), 502)
        self.assertIn("signal 6", body["detail"])
        self.assertEqual(requests.get(self.url("/items/mine")).status_code, 200)

    def test_body_over_limit_is_413_problem(self):
        self.assertProblem(requests.post(self.url("/echo/big"), data=b"x" * (64 * 1024 + 1)), 413)
        # exactly at the limit is fine
        r = requests.post(self.url("/echo/ok"), data=b"x" * (64 * 1024))
        self.assertEqual(r.status_code, 200)

    def test_operation_without_handler_is_501(self):
        body = self.assertProblem(requests.get(self.url("/todo-later")), 501)
        self.assertIn("not_written_yet", body["detail"])

    def test_timeout_kills_worker_504_then_recovers(self):
        body = self.assertProblem(requests.get(self.url("/slow?ms=10000")), 504)
        self.assertIn("function 'faults'", body["detail"])
        r = requests.get(self.url("/slow?ms=1"))
        self.assertEqual((r.status_code, r.text), (200, "done"))

    def test_malformed_http_is_refused(self):
        with socket.create_connection(("127.0.0.1", self.gw.port)) as s:
            s.sendall(b"GARBAGE\r\n\r\n")
            data = s.recv(1024)
        self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 400"), data)
        self.assertEqual(requests.get(self.url("/items/mine")).status_code, 200)

    def test_worker_leaking_descriptors_is_replaced(self):
        # 4 descriptors leak per call; a worker is replaced once 64 are open
        # beyond its first call (checked every 16 calls). 100 calls over the
        # class's two loops give each loop's worker ~50: each is replaced.
        pids = []
        for _ in range(100):
            r = requests.get(self.url("/leak"))
            self.assertEqual(r.status_code, 200, r.text)
            pids.append(r.text)
        self.assertGreater(len(set(pids)), 2, "the leaking workers were never replaced")
        deadline = time.time() + 5
        while time.time() < deadline and "leaks file descriptors" not in self.gw.stderr():
            time.sleep(0.05)
        self.assertIn("leaks file descriptors", self.gw.stderr())

    def test_one_json_log_line_per_request(self):
        rid = "log-check-1"
        r = requests.get(self.url("/log"), headers={"X-Request-Id": rid})
        self.assertEqual(r.status_code, 200)
        deadline = time.time() + 5
        while time.time() < deadline:
            lines = [l for l in self.gw.log_lines() if l.get("request_id") == rid]
            if len(lines) >= 3:
                break
            time.sleep(0.05)
        # every line has the one shape: time, level, msg first, then fields
        for l in lines:
            self.assertEqual(list(l)[:3], ["time", "level", "msg"], l)
            self.assertRegex(l["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        access = [l for l in lines if l["msg"] == "request" and "status" in l]
        user = [l for l in lines if "status" not in l]
        self.assertEqual(len(access), 1, lines)
        a = access[0]
        for key in ("time", "request_id", "method", "path", "operation", "status", "duration_us", "worker_pid"):
            self.assertIn(key, a)
        self.assertEqual((a["method"], a["path"], a["operation"], a["status"]), ("GET", "/log", "log_twice", 200))
        self.assertGreater(a["worker_pid"], 0)
        self.assertEqual(a["level"], "info")
        self.assertEqual([u["msg"] for u in user], ['first line with a "quote"', "second line 2"])
        self.assertEqual(user[1]["level"], "warn")

    def test_health_and_readiness(self):
        r = requests.get(self.gw.admin + "/healthz")
        self.assertEqual((r.status_code, r.json()["status"]), (200, "ok"))
        self.assertEqual(requests.get(self.gw.admin + "/readyz").status_code, 200)
        # the admin port is not the API port
        self.assertProblem(requests.get(self.url("/healthz")), 404)
        # an unknown admin path is one plain problem document, not a problem
        # quoted inside another
        r = requests.get(self.gw.admin + "/nothing-here")
        self.assertProblem(r, 404)
        self.assertIn("admin endpoints: /healthz", r.json()["detail"])
        self.assertFalse(r.json()["detail"].startswith("{"), r.text)


class DrainTest(unittest.TestCase):
    def test_sigterm_completes_request_in_flight(self):
        project = copy_project("faults", PROJECTS)
        gw = Gateway(project, threads=1)
        result = {}

        def slow_call():
            try:
                r = requests.get(gw.base + "/slow?ms=1000", timeout=20)
                result["status"], result["body"] = r.status_code, r.text
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = repr(e)

        t = threading.Thread(target=slow_call)
        t.start()
        # SIGTERM only once the handler runs: it logs "slow: sleeping" first
        deadline = time.time() + 30
        while time.time() < deadline:
            if any(l.get("msg", "").startswith("slow: sleeping") for l in gw.log_lines()):
                break
            time.sleep(0.02)
        else:
            self.fail("the slow handler never started:\n" + gw.stderr())
        gw.proc.send_signal(signal.SIGTERM)
        t.join(30)
        rc = gw.stop()
        self.assertEqual(result.get("status"), 200, result)
        self.assertEqual(result.get("body"), "done")
        self.assertEqual(rc, 0, gw.stderr()[-3000:])
        # after the drain nothing listens
        with self.assertRaises(requests.ConnectionError):
            requests.get(gw.base + "/items/mine", timeout=2)

    def test_bad_project_fails_with_position(self):
        project = copy_project("faults", PROJECTS)
        with open(os.path.join(project, "kumo.yaml"), "a") as f:
            f.write("fucntions: {}\n")
        p = subprocess.run([KUMO, "up", project, "--port", "0", "--admin-port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"kumo\.yaml:\d+:\d+: .*fucntions")

    def test_compile_error_is_shown_with_file_and_line(self):
        project = copy_project("faults", PROJECTS)
        with open(os.path.join(project, "functions", "faults.c"), "a") as f:
            f.write("\nint broken(void) { return nope; }\n")
        p = subprocess.run([KUMO, "up", project, "--port", "0", "--admin-port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"faults\.c:\d+:\d+: error: .nope. undeclared")
        self.assertIn("did not compile", p.stderr)


if __name__ == "__main__":
    unittest.main()
