"""Request smuggling primitives (issue 12): an HTTP/1.1 request with both
Transfer-Encoding and Content-Length, or with two Content-Length fields that
differ, is answered 400 problem+json and its connection closed (RFC 9112
6.1, 6.3), so nothing pipelined behind it is read; under kumo up and
kumo-host alike. Well-framed requests (one Content-Length, repeated
identical ones, chunked alone, pipelined) are served as before."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from kumo_harness import KUMO, Gateway, GatewayTest, copy_project, free_port, wait_for

HOST = os.environ.get("KUMO_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-host")
HTTP_HOST = os.environ.get("KUMO_HTTP_HOST") or os.path.join(os.path.dirname(KUMO), "kumo-http")
BODY = b'{"title":"framing"}'


def exchange(port, data):
    """Sends raw bytes, reads until the server closes (or 10 s pass)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(data)
    out, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    return out, closed


def statuses(raw):
    """The status of each response in raw, in order (a body does not end
    with a line break, so the next status line may follow it directly)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


def post(extra, body=BODY):
    return (b"POST /todos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra + b"\r\n" + body)


SMUGGLED = b"GET /todos?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n"
CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)


class FramingChecks:
    port = None

    def refused(self, data):
        raw, closed = exchange(self.port(), data + SMUGGLED)
        self.assertEqual(statuses(raw), [400], raw[:600])
        self.assertIn(b"application/problem+json", raw)
        self.assertIn(b"connection: close", raw.lower())
        self.assertTrue(closed, "the connection is closed after the 400")
        return json.loads(raw.split(b"\r\n\r\n", 1)[1])

    def test_two_different_content_lengths(self):
        doc = self.refused(post(b"Content-Length: %d\r\nContent-Length: 0\r\n" % len(BODY)))
        self.assertIn("two Content-Length", doc["detail"])
        self.refused(post(b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(BODY)))

    def test_content_length_with_chunked(self):
        doc = self.refused(post(b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", CHUNKED))
        self.assertIn("Transfer-Encoding and Content-Length", doc["detail"])
        self.refused(post(b"Transfer-Encoding: chunked\r\ncontent-length: 4\r\n", CHUNKED))

    def test_well_framed_requests_are_served(self):
        # repeated identical lengths (RFC 9112 6.3 lets a server take them)
        raw, _ = exchange(self.port(), post(b"Content-Length: %d\r\nContent-Length:  %d \r\nConnection: close\r\n"
                                            % (len(BODY), len(BODY))))
        self.assertEqual(statuses(raw), [201], raw[:600])
        raw, _ = exchange(self.port(), post(b"Transfer-Encoding: chunked\r\nConnection: close\r\n", CHUNKED))
        self.assertEqual(statuses(raw), [201], raw[:600])
        # two pipelined requests on one connection, both answered
        raw, _ = exchange(self.port(), post(b"Content-Length: %d\r\n" % len(BODY)) +
                          b"GET /todos?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(statuses(raw), [201, 200], raw[:600])


class GatewayFramingTest(FramingChecks, GatewayTest):
    project = "todo"

    def port(self):
        return self.gw.port


class HostFramingTest(FramingChecks, unittest.TestCase):
    binary = HOST

    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("todo")
        gw = Gateway(cls.dir, threads=1)  # builds the unit
        if gw.stop() != 0:
            raise AssertionError(gw.stderr()[-3000:])
        cls.data = tempfile.mkdtemp(prefix="kumo-framing-")
        cls.host_port = free_port()
        cls.log = open(os.path.join(cls.data, "host.log"), "w+")
        cls.proc = subprocess.Popen([cls.binary, "http", cls.dir, "todos"], stdout=cls.log, stderr=cls.log,
                                    env=dict(os.environ, PORT=str(cls.host_port), KUMO_DATA=cls.data))

        def up():
            try:
                socket.create_connection(("127.0.0.1", cls.host_port)).close()
                return True
            except OSError:
                return False

        if not wait_for(up, timeout=60):
            raise AssertionError("kumo-host did not start")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(60)
        cls.log.close()
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)
        shutil.rmtree(cls.data, ignore_errors=True)
        if rc != 0:
            raise AssertionError("kumo-host exited with %d" % rc)

    def port(self):
        return self.host_port


@unittest.skipUnless(os.path.exists(HTTP_HOST), "kumo-http is not built (KUMO_HTTP_HOST=%s)" % HTTP_HOST)
class LeanFramingTest(HostFramingTest):
    """The same under kumo-http (kumo's own HTTP/1.1 server)."""
    binary = HTTP_HOST


if __name__ == "__main__":
    unittest.main()
