"""Stopping under load (issue 12, failure 2): SIGTERM or SIGINT while
clients post over keep-alive. Every request the gateway read before the
signal is finished and answered with its real status (never 502 "shutting
down" or 503); after it, each connection's next response is its last
(Connection: close) and idle connections are closed cleanly (EOF, not a
reset); the workers stop only when nothing is in flight, and the process
exits 0. Every todo acknowledged is in the store afterwards, and nothing was
written that was not acknowledged."""
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from kumo_harness import KUMO, Gateway, copy_project, free_port, wait_for

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")

CLIENTS = 8


class Poster(threading.Thread):
    """Posts todos on one keep-alive connection, reconnecting only when the
    server said Connection: close; stops at the first failure to connect or
    after `limit` requests."""

    def __init__(self, port, name, limit=400):
        super().__init__(daemon=True)
        self.port, self.name, self.limit = port, name, limit
        self.statuses, self.ids, self.errors = [], [], []
        self.last_close = None  # the Connection header of the last response

    def run(self):
        conn = None
        for i in range(self.limit):
            try:
                fresh = conn is None
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("POST", "/todos", body=json.dumps({"title": "%s-%d" % (self.name, i)}),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                body = r.read()
                self.statuses.append(r.status)
                self.last_close = r.getheader("connection")
                if r.status == 201:
                    self.ids.append(json.loads(body)["id"])
                if r.will_close:
                    conn.close()
                    conn = None
            except ConnectionRefusedError:
                return  # the listener is closed: the clean end
            except Exception as e:  # a reset or a dropped request
                self.errors.append("%r (request %d, %s connection)" % (e, i, "new" if fresh else "reused"))
                return


def count_todos(base_port):
    seen, cursor = set(), None
    while True:
        c = http.client.HTTPConnection("127.0.0.1", base_port, timeout=30)
        c.request("GET", "/todos?limit=100" + ("&cursor=" + cursor if cursor else ""))
        r = c.getresponse()
        doc = json.loads(r.read())
        c.close()
        for t in doc["items"]:
            seen.add(t["id"])
        cursor = doc.get("next")
        if not cursor:
            return seen


class DrainTest(unittest.TestCase):
    def run_once(self, sig):
        project = copy_project("todo")
        try:
            gw = Gateway(project, threads=2)
            idle = socket.create_connection(("127.0.0.1", gw.port))
            idle.sendall(b"GET /todos?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.settimeout(30)
            first = idle.recv(65536)
            self.assertIn(b" 200 ", first.split(b"\r\n")[0])
            posters = [Poster(gw.port, "c%d" % i) for i in range(CLIENTS)]
            for p in posters:
                p.start()
            # the signal comes while every client is busy
            self.assertTrue(wait_for(lambda: all(len(p.statuses) >= 5 for p in posters), timeout=60))
            gw.proc.send_signal(sig)
            for p in posters:
                p.join(120)
            # the idle keep-alive connection is closed by the server, cleanly
            self.assertEqual(idle.recv(65536), b"", "an idle connection gets EOF, not a reset")
            idle.close()
            rc = gw.proc.wait(60)
            err = gw.stderr()
            self.assertEqual(rc, 0, err[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", err)
            for p in posters:
                self.assertEqual(p.errors, [], "%s: requests failed by the stop" % p.name)
                self.assertEqual(set(p.statuses), {201}, "%s: %s" % (p.name, sorted(set(p.statuses))))
                if len(p.statuses) < p.limit:
                    self.assertEqual(p.last_close, "close", "%s: the last response says Connection: close" % p.name)
            acked = {i for p in posters for i in p.ids}
            self.assertGreater(len(acked), CLIENTS * 5)
            self.assertIn("stopped cleanly", gw.stdout() + err)
            # every acknowledged todo is stored, and nothing else was written
            again = Gateway(project, threads=1)
            try:
                self.assertEqual(count_todos(again.port), acked)
            finally:
                self.assertEqual(again.stop(), 0)
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_1_sigterm_under_load(self):
        self.run_once(signal.SIGTERM)

    def test_2_sigint_under_load(self):
        self.run_once(signal.SIGINT)

    def test_3_slow_call_in_flight_is_answered(self):
        """A call that runs for a while when the signal comes is answered
        with its own response, and its worker is stopped after it."""
        project = copy_project("faults", os.path.join(os.path.dirname(__file__), "projects"))
        try:
            gw = Gateway(project, threads=2)
            got = {}

            def slow():
                c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
                c.request("GET", "/slow?ms=1500")
                r = c.getresponse()
                got["status"], got["body"], got["conn"] = r.status, r.read(), r.getheader("connection")

            t = threading.Thread(target=slow)
            t.start()
            self.assertTrue(wait_for(lambda: "slow: sleeping" in gw.stdout() + gw.stderr(), timeout=30))
            gw.proc.send_signal(signal.SIGTERM)
            t.join(60)
            self.assertEqual((got.get("status"), got.get("body")), (200, b"done"))
            self.assertEqual(got.get("conn"), "close")
            self.assertEqual(gw.proc.wait(60), 0, gw.stderr()[-3000:])
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_4_http2_gets_goaway(self):
        """An HTTP/2 connection (prior knowledge) gets GOAWAY with NO_ERROR,
        then the server closes it cleanly."""
        project = copy_project("todo")
        try:
            gw = Gateway(project, threads=1)
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.settimeout(30)
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + b"\x04\x00" +
                      struct.pack(">I", 0))
            got = b""
            while b"\x04\x00\x00\x00\x00\x00" not in got[:64]:  # the server's SETTINGS
                got += s.recv(4096)
            gw.proc.send_signal(signal.SIGTERM)
            frames, buf = [], b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            data = got + buf
            pos = 0
            while pos + 9 <= len(data):
                length = int.from_bytes(data[pos:pos + 3], "big")
                frames.append((data[pos + 3], data[pos + 9:pos + 9 + length]))
                pos += 9 + length
            goaways = [payload for kind, payload in frames if kind == 7]
            self.assertTrue(goaways, "no GOAWAY among frames %s" % [k for k, _ in frames])
            self.assertEqual(int.from_bytes(goaways[0][4:8], "big"), 0, "GOAWAY carries NO_ERROR")
            s.close()
            self.assertEqual(gw.proc.wait(60), 0, gw.stderr()[-3000:])
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_5_kumo_host_drains_too(self):
        """kumo-host: a request sent on a kept-alive connection right after
        the signal is answered; the connection then ends with EOF."""
        self.host_drains(HOST)

    @unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built")
    def test_6_kumo_http_drains_too(self):
        """The same under kumo-http (kumo's own HTTP/1.1 server)."""
        self.host_drains(HTTP_HOST)

    def host_drains(self, binary):
        project = copy_project("todo")
        data = tempfile.mkdtemp(prefix="kumo-drain-data-")
        try:
            gw = Gateway(project, threads=1)  # builds the unit
            self.assertEqual(gw.stop(), 0)
            port = free_port()
            log = open(os.path.join(data, "host.log"), "w+")
            proc = subprocess.Popen([binary, "http", project, "todos"], stdout=log, stderr=log,
                                    env=dict(os.environ, PORT=str(port), KUMO_DATA=data))
            conn = None

            def connected():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    c.request("GET", "/todos?limit=1")
                    r = c.getresponse()
                    r.read()
                    return c if r.status == 200 else None
                except OSError:
                    return None

            conn = wait_for(connected, timeout=60)
            self.assertIsNotNone(conn)
            proc.send_signal(signal.SIGTERM)
            conn.request("POST", "/todos", body=b'{"title":"after the signal"}',
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            self.assertEqual(r.status, 201, r.read())
            r.read()
            if not r.will_close:
                self.assertEqual(conn.sock.recv(10), b"")
            conn.close()
            rc = proc.wait(60)
            log.seek(0)
            self.assertEqual(rc, 0, log.read()[-3000:])
            log.close()
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
