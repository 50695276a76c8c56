"""kumo-http, kumo-host's http adapter over kumo's own HTTP/1.1 server
(src/host/lean_http.c, http1.c), under real clients on loopback: keep-alive
and pipelining, chunked bodies, Expect: 100-continue, HTTP/1.0, HEAD, the
head and body ceilings (refused with problem+json, the connection closed
after the answer is read), the connection bound, the live contract, the
metrics port, the drain on SIGTERM, and what the executable links (no h2o,
OpenSSL, libcurl or SQLite). The same routing, contract and answers as
kumo-host are checked by the parity suites run on it (test_framing,
test_limits, test_edge, test_parity...)."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")
PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def read_all(s, timeout=10):
    """Everything the server sends until it closes (or timeout passes): the
    bytes, and whether it closed."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out, True
            out += chunk
    except socket.timeout:
        return out, False


def responses(raw):
    """Splits raw HTTP/1.1 answers: [(status, headers dict, body)]."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("an unfinished answer: %r" % raw[:200])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        n = int(fields.get("content-length", "0")) if status not in (100, 204, 304) else 0
        out.append((status, fields, rest[:n]))
        raw = rest[n:]
    return out


class Host:
    """kumo-http serving a copy of a test project (its unit built by kumo up)."""

    def __init__(self, project="lean", yaml_edit=None, env=None, spec_edit=None, preexec=None):
        self.dir = copy_project(project, PROJECTS)
        for name, edit in (("kumo.yaml", yaml_edit), ("openapi.yaml", spec_edit)):
            if edit:
                path = os.path.join(self.dir, name)
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(text.replace(*edit))
        gw = Gateway(self.dir, threads=1, env=env)  # builds the unit
        if gw.stop() != 0:
            raise AssertionError(gw.stderr()[-3000:])
        self.data = tempfile.mkdtemp(prefix="kumo-lean-")
        self.port, self.metrics_port = free_port(), free_port()
        self.log = open(os.path.join(self.data, "host.log"), "w+")
        e = dict(os.environ, PORT=str(self.port), KUMO_DATA=self.data, KUMO_METRICS_PORT=str(self.metrics_port))
        e.update(env or {})
        self.proc = subprocess.Popen([HTTP_HOST, "http", self.dir, "echo"], stdout=self.log, stderr=self.log, env=e,
                                     preexec_fn=preexec)
        if not wait_for(lambda: " serving " in self.output() or self.proc.poll() is not None, 60):
            raise AssertionError("kumo-http did not start:\n" + self.output())
        if self.proc.poll() is not None:
            raise AssertionError("kumo-http exited:\n" + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port))

    def exchange(self, data):
        s = self.connect()
        s.sendall(data)
        raw, closed = read_all(s)
        s.close()
        return raw, closed

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(60)
        out = self.output()
        self.log.close()
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)
        shutil.rmtree(self.data, ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo-http exited with %d:\n%s" % (rc, out[-4000:]))
        if "ERROR: AddressSanitizer" in out or "runtime error:" in out or "LeakSanitizer" in out:
            raise AssertionError("a sanitizer report:\n" + out[-6000:])
        return out


def echo(body, extra=b""):
    return (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n%s\r\n%s"
            % (len(body), extra, body))


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = Host()

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()

    def test_keep_alive_and_pipelining(self):
        """Three requests in one write are answered in order on one
        connection; the last asked to close it, and it closes."""
        raw, closed = self.host.exchange(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" + echo(b"first body") +
                                         b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = responses(raw)
        self.assertEqual([r[0] for r in got], [200, 200, 200], raw)
        self.assertEqual(got[0][2], b"hello from kumo-http\n")
        self.assertEqual(got[1][2], b"first body")
        self.assertEqual(got[1][1]["x-length"], "10")
        self.assertEqual(got[2][1].get("connection"), "close")
        self.assertTrue(closed)
        # http.client: one connection, several requests
        c = http.client.HTTPConnection("127.0.0.1", self.host.port, timeout=10)
        for i in range(3):
            c.request("POST", "/echo", body=b"x" * (1000 * i + 1), headers={"Content-Type": "application/octet-stream"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.read()), 1000 * i + 1)
            self.assertFalse(r.will_close)
        c.close()

    def test_chunked_body_in_pieces(self):
        """A chunked body, sent a few bytes at a time with an extension and
        a trailer, arrives whole and decoded; the next request on the
        connection is read after its last chunk."""
        s = self.host.connect()
        parts = [b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n",
                 b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\n1;name=v\r\n,\r\n", b"6\r\n world\r\n0\r\n",
                 b"X-Trailer: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]
        for p in parts:
            s.sendall(p)
            time.sleep(0.02)
        raw, closed = read_all(s)
        s.close()
        got = responses(raw)
        self.assertEqual([r[0] for r in got], [200, 200], raw)
        self.assertEqual(got[0][2], b"hello, world")
        self.assertEqual(got[0][1]["x-length"], "12")
        self.assertTrue(closed)

    def test_expect_continue(self):
        """Expect: 100-continue gets the interim answer before the body is
        sent; a body too large gets the refusal instead, and no 100."""
        s = self.host.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(10)
        interim = s.recv(1024)
        self.assertEqual(interim, b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"abcde")
        got = s.recv(65536)
        self.assertEqual(responses(got)[0][2], b"abcde")
        s.close()
        raw, closed = self.host.exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n"
                                         b"Expect: 100-continue\r\n\r\n")
        self.assertNotIn(b"100 Continue", raw)
        self.assertEqual(responses(raw)[0][0], 413)
        self.assertTrue(closed)

    def test_unknown_expectation(self):
        """An Expect other than 100-continue is refused 417 problem+json
        before the body is read, and the connection ends (its body is not
        taken for a next request)."""
        raw, closed = self.host.exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                         b"Expect: 200-ok\r\n\r\nabcde")
        got = responses(raw)
        self.assertEqual(len(got), 1, raw)
        self.assertEqual(got[0][0], 417)
        self.assertIn(b"HTTP/1.1 417 Expectation Failed\r\n", raw)
        self.assertEqual(got[0][1]["content-type"], "application/problem+json")
        self.assertIn(b"100-continue", got[0][2])
        self.assertTrue(closed)

    def test_body_ceilings(self):
        """A body over what any unit may take (the largest max_body, at
        least 1 MiB, as kumo-host's h2o) is refused 413 problem+json
        whether framed by Content-Length or chunks, before it is read; the
        answer arrives whole while the client is still sending (no reset),
        and the connection then ends. A body over this unit's own max_body
        (64 KiB) reaches the dispatch, which refuses it on a connection
        that stays open."""
        big = b"y" * (3 * 1024 * 1024)
        s = self.host.connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(big))
        try:
            s.sendall(big)
        except OSError:
            pass  # the server may stop reading; the answer must still be there
        raw, closed = read_all(s)
        s.close()
        got = responses(raw)
        self.assertEqual(got[0][0], 413, raw[:300])
        self.assertEqual(got[0][1]["content-type"], "application/problem+json")
        self.assertEqual(json.loads(got[0][2])["status"], 413)
        self.assertTrue(closed)
        chunk = b"x" * (700 * 1024)
        raw, closed = self.host.exchange(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n" +
                                         (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2 + b"0\r\n\r\n")
        self.assertEqual(responses(raw)[0][0], 413)
        self.assertTrue(closed)
        raw, _ = self.host.exchange(echo(b"z" * (64 * 1024 + 1)) + b"GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
        got = responses(raw)
        self.assertEqual([r[0] for r in got], [413, 200])
        self.assertIn("65536", json.loads(got[0][2])["detail"])
        raw, _ = self.host.exchange(echo(b"z" * (64 * 1024), b"Connection: close\r\n"))
        self.assertEqual(responses(raw)[0][0], 200)

    def test_http10_and_head(self):
        """HTTP/1.0 closes after the answer unless it asks to keep alive;
        HEAD gets the fields and no body."""
        raw, closed = self.host.exchange(b"GET /hello HTTP/1.0\r\n\r\n")
        self.assertEqual(responses(raw)[0][0], 200)
        self.assertTrue(closed)
        raw, closed = self.host.exchange(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                         b"HEAD /hello HTTP/1.0\r\n\r\n")
        got = responses(raw)
        self.assertEqual([r[0] for r in got], [200, 200])
        self.assertEqual(got[0][1]["connection"], "keep-alive")
        self.assertEqual(got[1][1]["content-length"], "21")
        self.assertEqual(got[1][2], b"")
        self.assertTrue(closed)

    def test_refused_heads(self):
        """What cannot be read safely is refused with problem+json, and
        nothing behind it on the connection is read."""
        cases = [
            (b"GET /hello HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400),
            (b"GET /hello HTTP/1.1\r\nA : 1\r\n\r\n", 400),
            (b"GET /hello HTTP/2.0\r\n\r\n", 505),
            (b"GET /hello HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(21)) + b"\r\n", 431),
            (b"GET /hello HTTP/1.1\r\nbig: " + b"v" * 2100 + b"\r\n\r\n", 431),
            (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        ]
        for data, status in cases:
            raw, closed = self.host.exchange(data + b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            got = responses(raw)
            self.assertEqual([r[0] for r in got], [status], raw[:300])
            self.assertEqual(got[0][1]["content-type"], "application/problem+json")
            self.assertEqual(got[0][1]["connection"], "close")
            self.assertTrue(closed)
        # empty lines for ever: a head that never ends
        raw, closed = self.host.exchange(b"\r\n" * 8000)
        self.assertEqual([r[0] for r in responses(raw)], [431])
        self.assertTrue(closed)

    def test_live_contract(self):
        """/openapi.json with its ETag and 304, /docs's page, and 405 for a
        write, as kumo-host serves them."""
        c = http.client.HTTPConnection("127.0.0.1", self.host.port, timeout=10)
        c.request("GET", "/openapi.json")
        r = c.getresponse()
        doc = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertIn("/echo", doc["paths"])
        etag = r.getheader("etag")
        self.assertTrue(etag and etag.startswith('"'))
        c.request("GET", "/openapi.json", headers={"If-None-Match": etag})
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (304, b""))
        c.request("GET", "/docs")
        r = c.getresponse()
        self.assertIn(b"<html", r.read().lower())
        self.assertEqual(r.getheader("x-frame-options"), "DENY")
        c.request("POST", "/openapi.yaml", body=b"")
        r = c.getresponse()
        r.read()
        self.assertEqual((r.status, r.getheader("allow")), (405, "GET, HEAD"))
        c.close()

    def test_metrics_port(self):
        c = http.client.HTTPConnection("127.0.0.1", self.host.metrics_port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        self.assertEqual(r.status, 200)
        self.assertIn("kumo_", text)
        c.request("GET", "/other")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 404)
        c.close()

    def test_access_lines(self):
        """One JSON line per request on stderr, refusals included."""
        self.host.exchange(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.host.exchange(b"GET /hello HTTP/9.9\r\n\r\n")

        def lines():
            return [json.loads(l) for l in self.host.output().splitlines() if l.startswith("{")]

        self.assertTrue(wait_for(lambda: any(l.get("status") == 505 for l in lines()), 10))
        ok = [l for l in lines() if l.get("path") == "/hello" and l.get("status") == 200]
        self.assertTrue(ok)
        self.assertEqual(ok[-1]["operation"], "hello")

    def test_links_nothing_heavy(self):
        """The point of kumo-http: no h2o, OpenSSL, libcurl or SQLite linked
        (SQLite is loaded only when an embedded store first opens)."""
        out = subprocess.run(["ldd", HTTP_HOST], capture_output=True, text=True).stdout
        for lib in ("libh2o", "libssl", "libcrypto", "libcurl", "libsqlite3", "libhiredis", "libpq", "libyaml"):
            self.assertNotIn(lib, out)


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanBoundsTest(unittest.TestCase):
    def test_connection_bound_and_drain(self):
        """With http.max_connections: 2 a third connection is not served
        while two are open, and is once one closes. On SIGTERM a kept-alive
        idle connection is closed and the process exits 0."""
        host = Host(yaml_edit=("max_headers: 20", "max_headers: 20\n  max_connections: 2"))
        try:
            a, b = host.connect(), host.connect()
            for s in (a, b):
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(10)
                self.assertIn(b" 200 ", s.recv(65536))
            third = host.connect()  # the kernel's backlog takes it; kumo-http does not
            third.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            third.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                third.recv(65536)
            a.close()
            raw, closed = read_all(third)
            self.assertEqual([r[0] for r in responses(raw)], [200])
            self.assertTrue(closed)
            third.close()
            self.assertIn("at most 2 open connections", host.output())
            # b is idle and kept alive: the drain closes it
            host.proc.send_signal(signal.SIGTERM)
            b.settimeout(10)
            self.assertEqual(b.recv(10), b"")
            b.close()
            self.assertEqual(host.proc.wait(30), 0)
        finally:
            host.stop()

    def test_drain_does_not_wait_for_a_head(self):
        """A head half sent when SIGTERM comes is not waited for: the drain
        closes that connection about a second in, as an idle one, rather
        than holding the exit until its head's own deadline (here ten
        minutes, KUMO_HTTP_IDLE_MS) or the drain's ten-second ceiling. A
        request in the same drain on another connection is still answered."""
        host = Host(env={"KUMO_HTTP_IDLE_MS": "600000"})
        try:
            half = host.connect()
            half.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            busy = host.connect()
            busy.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            busy.settimeout(10)
            self.assertIn(b" 200 ", busy.recv(65536))
            t0 = time.monotonic()
            host.proc.send_signal(signal.SIGTERM)
            half.settimeout(30)
            self.assertEqual(half.recv(100), b"")  # closed without an answer
            busy.close()
            self.assertEqual(host.proc.wait(30), 0)
            # the drain's ceiling is 10 s; the head's own deadline, 10 min
            self.assertLess(time.monotonic() - t0, 8.0)
        finally:
            host.stop()


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanTimesTest(unittest.TestCase):
    """With the idle time at 1 s (KUMO_HTTP_IDLE_MS, a testing knob): a
    head trickled a field every 0.3 s is cut off, since a head must be
    whole within the idle time of its first byte; a body trickled as
    slowly is not, since each of its bytes gets the idle time."""

    @classmethod
    def setUpClass(cls):
        cls.host = Host(env={"KUMO_HTTP_IDLE_MS": "1000"})

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()

    def trickle(self, first, pieces):
        s = self.host.connect()
        s.sendall(first)
        sent = 0
        try:
            for p in pieces:
                time.sleep(0.3)
                s.sendall(p)
                sent += 1
        except OSError:
            pass  # cut off
        raw, closed = read_all(s, timeout=10)
        s.close()
        return sent, raw, closed

    def test_head_trickle_is_cut_off(self):
        sent, raw, closed = self.trickle(b"GET /hello HTTP/1.1\r\n", [b"x-%d: 1\r\n" % i for i in range(12)] +
                                         [b"Connection: close\r\n\r\n"])
        self.assertNotIn(b" 200 ", raw)
        self.assertTrue(closed or sent < 13)

    def test_body_trickle_is_served(self):
        body = b"0123456789"
        sent, raw, closed = self.trickle(b"POST /echo HTTP/1.1\r\nContent-Type: application/octet-stream\r\n"
                                         b"Connection: close\r\nContent-Length: 10\r\n\r\n",
                                         [body[i:i + 2] for i in range(0, 10, 2)])
        self.assertEqual(sent, 5)
        self.assertEqual(responses(raw)[0][2], body)

    def test_slow_reader_keeps_its_answers(self):
        """200 answers of /docs (6 MB) pipelined to a client that reads
        them slowly: the transfer lasts longer than the idle time, and
        every answer arrives whole, since each write the client takes
        gives it the idle time again."""
        s = self.host.connect()
        s.sendall(b"GET /docs HTTP/1.1\r\nHost: x\r\n\r\n" * 199 +
                  b"GET /docs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(10)
        raw, start = b"", time.time()
        while time.time() - start < 60:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
            time.sleep(0.02)
        s.close()
        got = responses(raw)
        self.assertEqual(len(got), 200)
        self.assertEqual({r[0] for r in got}, {200})
        self.assertGreater(time.time() - start, 1.0, "too fast to prove anything: make the answers larger")

    def test_knob_checked(self):
        with self.assertRaises(AssertionError) as cm:
            Host(env={"KUMO_HTTP_IDLE_MS": "5"})
        self.assertIn("KUMO_HTTP_IDLE_MS=5: expected milliseconds, 100 to 600000", str(cm.exception))


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanResourcesTest(unittest.TestCase):
    """What connections may hold: the metrics port's are bounded (16), out
    of descriptors both ports pause instead of waking the loop for ever,
    and an idle connection does not keep a large body's buffer."""

    def cpu_s(self, pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self, pid):
        with open("/proc/%d/status" % pid) as f:
            return int([l for l in f if l.startswith("VmRSS:")][0].split()[1])

    def test_out_of_descriptors_does_not_spin(self):
        import resource

        def few_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
        host = Host(preexec=few_files)
        socks = []
        try:
            for _ in range(40):  # more than it has descriptors for, over both ports
                for port in (host.port, host.metrics_port):
                    try:
                        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                    except OSError:
                        pass
            time.sleep(0.3)
            before = self.cpu_s(host.proc.pid)
            time.sleep(2)
            self.assertLess(self.cpu_s(host.proc.pid) - before, 0.5, "the loop spins while out of descriptors")
            self.assertIn("out of file descriptors", host.output())
            for s in socks:
                s.close()
            socks = []
            c = http.client.HTTPConnection("127.0.0.1", host.port, timeout=20)
            c.request("GET", "/hello")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            for s in socks:
                s.close()
            host.stop()

    def test_idle_connections_drop_large_buffers(self):
        # under ASan, freed blocks wait in its quarantine, which RSS would
        # count: none here, so that a buffer freed is memory given back
        asan = os.environ.get("ASAN_OPTIONS", "")
        host = Host(env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0"})
        socks = []
        try:
            base = self.rss_kb(host.proc.pid)
            body = b"b" * (900 * 1024)
            for _ in range(40):
                s = host.connect()
                s.sendall(echo(body))
                s.settimeout(10)
                got = b""
                while b"\r\n\r\n" not in got:
                    got += s.recv(65536)
                self.assertIn(b" 413 ", got)  # over the unit's 64 KiB, read whole first
                socks.append(s)  # kept alive, idle
            grown = self.rss_kb(host.proc.pid) - base
            self.assertLess(grown, 12 * 1024, "%d KiB held by 40 idle connections" % grown)
        finally:
            for s in socks:
                s.close()
            host.stop()


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanApiKeyTest(unittest.TestCase):
    """An API key scheme under kumo-http: enforced, with BearSSL's SHA-256
    (base/digest.h), and libcrypto never mapped (only a token scheme
    loads it, auth/crypto_lazy.h)."""

    def test_enforced_without_libcrypto(self):
        key = "k-0123456789abcdef"
        host = Host(yaml_edit=("functions:", 'security: {Key: {keys: ["${env:LEAN_KEY}"]}}\nfunctions:'),
                    spec_edit=("paths:", "components:\n  securitySchemes:\n    Key: {type: apiKey, in: header, "
                                         "name: X-API-Key}\nsecurity: [{Key: []}]\npaths:"),
                    env={"LEAN_KEY": key})
        try:
            def get(headers):
                c = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
                c.request("GET", "/hello", headers=headers)
                r = c.getresponse()
                r.read()
                c.close()
                return r.status
            self.assertEqual(get({}), 401)
            self.assertEqual(get({"X-API-Key": "wrong"}), 401)
            self.assertEqual(get({"X-API-Key": key}), 200)
            with open("/proc/%d/maps" % host.proc.pid) as f:
                self.assertNotIn("libcrypto", f.read())
        finally:
            host.stop()


if __name__ == "__main__":
    unittest.main()
