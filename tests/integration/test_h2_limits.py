"""The front's header limits (issue 12, failure 1: HTTP/2 header
amplification), over raw HTTP/2 frames (h2c, prior knowledge) and
HTTP/1.1, under kumo up and kumo-host.

HPACK lets a client index one 4,000-byte field once and repeat it with one
byte per reference: one 16 KB HEADERS frame decodes to 64 MB of fields,
which the gateway used to copy into the frame it sends a worker. Now a
request whose fields exceed kumo.yaml's http.max_headers (count) or
http.max_header_bytes (bytes of names and values) is answered 431
problem+json before anything copies them:

- examples/hello (defaults: 100 fields, 8 KiB): eight amplified requests
  get 431 and the gateway's resident memory stays small; 100 fields of
  7.8 KB in all are served; the refusal has its access log line.
- projects/headers (http: max_headers 150, max_header_bytes 2Ki): 150 HTTP/2
  fields are served, more bytes than 2 KiB get 431, over HTTP/1.1 too and
  on the live contract's paths; kumo-host answers the same.
- HTTP/1.1 with more than 100 fields never reaches kumo: h2o's parser
  refuses it with its own 400 and closes the connection (docs/kumo-yaml.md
  says so).

Not tested because not done: an HTTP/2 header block left open (HEADERS
without END_HEADERS, then empty CONTINUATION frames) is not cut off. h2o
2.2.5 keeps such a stream as long as a frame comes within its idle timeout
(10 s); memory stays flat, CPU follows the bytes sent. Its public API has
no hook on those frames, and its internal header (h2o/http2_internal.h)
cannot be compiled from the installed package (it includes khash.h, which
is not shipped).
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import h2_raw as H
from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for %d" % pid)


def amplified_block(path="/hello"):
    """One 16 KB header block: a 4,000-byte field indexed once, then
    referenced with one byte each: about 12,000 fields, 48 MB decoded."""
    block = H.request_block(path) + H.literal_indexed_new_name("x-a", "a" * 4000)
    return block + H.indexed(62) * (16384 - len(block))


def repeated_block(path, count, value):
    """`count` fields named x-a with `value`: indexed once, then referenced."""
    return H.request_block(path) + H.literal_indexed_new_name("x-a", value) + H.indexed(62) * (count - 1)


def h2_get(port, block, stream_id=1):
    c = H.Connection(port)
    try:
        c.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, stream_id, block))
        return c.response(stream_id)
    finally:
        c.close()


def h1_get(port, path, fields):
    """One HTTP/1.1 request with `fields` [(name, value)]: (status, headers,
    body, closed), `closed` when the server closed the connection after."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = "GET %s HTTP/1.1\r\nHost: localhost\r\n" % path
        head += "".join("%s: %s\r\n" % f for f in fields) + "\r\n"
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        s.settimeout(3)
        try:
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
        return int(lines[0].split()[1]), headers, body, closed
    finally:
        s.close()


class Limits:
    """Checks shared by kumo up and kumo-host on projects/headers."""

    def check_limits_of_headers_project(self, port, log_lines):
        # 150 fields (the default would refuse more than 100), 1,500 bytes.
        r = h2_get(port, repeated_block("/hello", 150, "0123456"))
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["body"], b"hello, world\n")
        # 3 x 1,000 bytes: over 2 KiB (the default 8 KiB would serve it).
        r = h2_get(port, repeated_block("/hello", 3, "b" * 1000))
        self.assertEqual(r["status"], 431, r)
        doc = json.loads(r["body"])
        self.assertEqual(doc["status"], 431)
        self.assertIn("max_header_bytes", doc["detail"])
        # 151 fields.
        r = h2_get(port, repeated_block("/hello", 151, "0"))
        self.assertEqual(r["status"], 431, r)
        self.assertIn("max_headers", json.loads(r["body"])["detail"])
        # The same over HTTP/1.1, on the operation and the live contract.
        for path in ("/hello", "/openapi.json", "/docs"):
            status, headers, body, _ = h1_get(port, path, [("x-big", "c" * 3000)])
            self.assertEqual(status, 431, body)
            self.assertEqual(headers.get("content-type"), "application/problem+json")
            doc = json.loads(body)
            self.assertEqual((doc["status"], doc["title"]), (431, "Request Header Fields Too Large"))
            self.assertEqual(doc["instance"], path)
            self.assertEqual(doc["request_id"], headers.get("x-request-id"))
        status, _, _, _ = h1_get(port, "/openapi.json", [("x-small", "c" * 100)])
        self.assertEqual(status, 200)
        def refused():
            return [l for l in log_lines() if l.get("msg") == "request" and l.get("status") == 431]

        lines = wait_for(lambda: len(refused()) >= 5 and refused()) or refused()
        self.assertGreaterEqual(len(lines), 5, lines)
        self.assertEqual({l["path"] for l in lines}, {"/hello", "/openapi.json", "/docs"})


class DefaultLimitsTest(unittest.TestCase):
    """examples/hello: the defaults (100 fields, 8 KiB)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("hello")
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])

    def lines_431(self):
        return [l for l in self.gw.log_lines() if l.get("status") == 431]

    def test_amplified_headers_get_431_and_memory_stays_small(self):
        for _ in range(8):
            r = h2_get(self.gw.port, amplified_block())
            self.assertEqual(r["status"], 431, r)
            doc = json.loads(r["body"])
            self.assertEqual(doc["status"], 431)
            self.assertEqual(doc["title"], "Request Header Fields Too Large")
            self.assertEqual(doc["instance"], "/hello")
            self.assertTrue(doc["request_id"])
        # Each used to cost 48 MB copied into a frame (the 8 together took
        # the gateway past 500 MB); refused, they cost a few.
        self.assertLess(rss_mb(self.gw.proc.pid), 100)
        lines = wait_for(lambda: len(self.lines_431()) >= 8 and self.lines_431()) or self.lines_431()
        self.assertGreaterEqual(len(lines), 8, lines)
        self.assertEqual(lines[0]["msg"], "request")
        self.assertEqual(lines[0]["path"], "/hello")

    def test_just_under_the_limits_is_served(self):
        # 100 fields of 78 bytes (name and value): 7,800 of 8,192.
        r = h2_get(self.gw.port, repeated_block("/hello", 100, "v" * 75))
        self.assertEqual(r["status"], 200, r)
        self.assertEqual(r["body"], b"hello, world\n")
        status, _, body, closed = h1_get(self.gw.port, "/hello", [("x-h%02d" % i, "v" * 70) for i in range(99)])
        self.assertEqual((status, closed), (200, False), body)

    def test_over_the_bytes_over_http1_gets_431(self):
        status, headers, body, _ = h1_get(self.gw.port, "/hello", [("x-h%02d" % i, "v" * 90) for i in range(99)])
        self.assertEqual(status, 431, body)
        self.assertEqual(headers.get("content-type"), "application/problem+json")
        self.assertIn("max_header_bytes", json.loads(body)["detail"])

    def test_http1_over_100_fields_is_refused_by_h2o(self):
        """h2o's HTTP/1.1 parser holds at most 100 fields: more is its own
        400 (not problem+json), and the connection is closed. kumo never
        sees the request; docs/kumo-yaml.md says so."""
        status, _, _, closed = h1_get(self.gw.port, "/hello", [("x-h%03d" % i, "v") for i in range(101)])
        self.assertEqual((status, closed), (400, True))


class ConfiguredLimitsTest(unittest.TestCase, Limits):
    """projects/headers under kumo up: kumo.yaml's http: is what counts."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("headers", PROJECTS)
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo up exited with %d after SIGTERM:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report in kumo's output:\n" + err[-6000:])

    def test_limits_from_kumo_yaml(self):
        self.check_limits_of_headers_project(self.gw.port, self.gw.log_lines)


@unittest.skipUnless(os.path.exists(HOST), "SKIPPED: kumo-host is not built (KUMO_HOST=%s)" % HOST)
class HostLimitsTest(unittest.TestCase, Limits):
    """projects/headers under kumo-host http (built by kumo up first)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("headers", PROJECTS)
        gw = Gateway(cls.dir)  # builds the unit
        gw.stop()
        cls.port = free_port()
        cls.log = tempfile.NamedTemporaryFile("w+", prefix="kumo-host-", suffix=".log", delete=False)
        env = dict(os.environ, PORT=str(cls.port), KUMO_DATA=os.path.join(os.path.dirname(cls.dir), "data"))
        cls.proc = subprocess.Popen([HOST, "http", cls.dir, "hello"], env=env, stdout=cls.log, stderr=cls.log)

        def up():
            if cls.proc.poll() is not None:
                raise AssertionError("kumo-host exited:\n" + cls.output())
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                return True
            except OSError:
                return False

        if not wait_for(up, timeout=60):
            raise AssertionError("kumo-host did not start:\n" + cls.output())

    @classmethod
    def output(cls):
        cls.log.flush()
        with open(cls.log.name, errors="replace") as f:
            return f.read()

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        rc = cls.proc.wait(30)
        out = cls.output()
        os.unlink(cls.log.name)
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo-host exited with %d:\n%s" % (rc, out[-4000:]))
        if "ERROR: AddressSanitizer" in out or "runtime error:" in out:
            raise AssertionError("sanitizer report in kumo-host's output:\n" + out[-6000:])

    def log_lines(self):
        out = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def test_limits_from_kumo_yaml(self):
        self.check_limits_of_headers_project(self.port, self.log_lines)

    def test_amplified_headers_get_431_and_memory_stays_small(self):
        for _ in range(8):
            r = h2_get(self.port, amplified_block())
            self.assertEqual(r["status"], 431, r)
        self.assertLess(rss_mb(self.proc.pid), 100)


if __name__ == "__main__":
    unittest.main()
