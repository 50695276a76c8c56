#!/usr/bin/env python3
"""httpc_server.py DIR: the HTTP/1.1 servers tests/unit/sdk/test_httpc.c
talks to, on loopback, each behaving on purpose (well or badly) by path.

It makes a CA (written to DIR/ca.pem, the test's SSL_CERT_FILE) and serves
the same handler on six ports: plain HTTP; TLS with a certificate for
"localhost" from that CA; one for "example.test" from it; one for
"localhost" from another CA; an expired one for "localhost" from the CA;
plain HTTP on [::1] (0 when there is no IPv6 loopback). It prints one line,
"PLAIN GOOD WRONGNAME UNTRUSTED EXPIRED V6", once it listens, and serves
until its stdin closes.

Every answer carries X-Conn (which connection, counted from 1 over all
ports) and X-Req (which request on that connection). Paths:

  /hello             200 "hello, world"
  /echo              200, the request body back; X-Got-Length (the request's
                     Content-Length or "none"), X-Got-Method, X-Got-Host,
                     X-Got-Target, X-Got-Names (the header names, in order)
  /chunked           "hello, world" in three chunks with extensions, a trailer
  /until-close       HTTP/1.0, no length: the body ends when the server closes
  /head              HEAD: Content-Length 1234, no body
  /204               204 No Content
  /interim           100 Continue, 103 Early Hints, then 200 "final"
  /http10            HTTP/1.0 with a length, then closed
  /http10-ka         HTTP/1.0 with Connection: keep-alive: kept
  /conn-close        Connection: close, then closed
  /close-next        answered; the next request on the connection is read
                     and the connection closed without an answer
  /idle-close        answered, then the connection closed at once
  /drop              read, then closed without an answer
  /big?n=N           N bytes, Content-Length
  /big-chunked?n=N   N bytes, chunked
  /big-close?n=N     N bytes, until close
  /bighead           a 10000-byte header
  /silent            no answer, ever (until the client goes)
  /garbage           "garbage" instead of a status line, connection kept open
  /obsfold           a header folded over two lines
  /badchunk          a chunk size that is not hex
  /short             Content-Length 10, 5 bytes, closed
  /early             413 and close before reading the body (the body is
                     read and dropped after)
  /early-nodrain     413 before reading the body, which is never read
  anything else      404 with X-Got-Target
"""
import datetime
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

lock = threading.Lock()
connections = 0


def next_connection():
    global connections
    with lock:
        connections += 1
        return connections


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_usage(cert_sign):
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(key_usage(True), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, dns, dir, file, expired=False):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (now - datetime.timedelta(days=10), now - datetime.timedelta(days=1)) if expired else \
        (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    cert = (x509.CertificateBuilder().subject_name(name(dns)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain, keyfile = os.path.join(dir, file + ".pem"), os.path.join(dir, file + ".key")
    with open(chain, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(keyfile, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(chain, keyfile)
    return ctx


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        self.request.settimeout(20)
        if self.server.tls:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def send(self, data):
        self.wfile.write(data if isinstance(data, bytes) else data.encode("latin-1"))

    def reply(self, status, body=b"", headers=(), version="HTTP/1.1", reason="OK", length=True):
        out = "%s %d %s\r\nX-Conn: %d\r\nX-Req: %d\r\n" % (version, status, reason, self.conn, self.nreq)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        if length:
            out += "Content-Length: %d\r\n" % len(body)
        self.send(out.encode("latin-1") + b"\r\n" + body)

    def wait_close(self):
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass

    def handle(self):
        self.conn = next_connection()
        self.nreq = 0
        close_next = False
        try:
            while self.one(close_next):
                close_next = self.close_next
        except (OSError, ValueError):
            pass

    def one(self, close_next):
        self.close_next = False
        line = self.rfile.readline(65537)
        if not line:
            return False
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            return False
        method, target, _ = parts
        names, headers = [], {}
        while True:
            h = self.rfile.readline(65537)
            if not h:
                return False
            h = h.decode("latin-1").rstrip("\r\n")
            if not h:
                break
            k, _, v = h.partition(":")
            names.append(k.lower())
            headers[k.lower()] = v.strip()
        self.nreq += 1
        path, _, query = target.partition("?")
        n = int(query[2:]) if query.startswith("n=") else 0

        if path == "/early":
            self.reply(413, b"too large", [("Connection", "close")], reason="Content Too Large")
            self.request.shutdown(socket.SHUT_WR)
            self.wait_close()
            return False
        if path == "/early-nodrain":
            self.reply(413, b"too large", [("Connection", "close")], reason="Content Too Large")
            time.sleep(5)
            return False

        body = self.rfile.read(int(headers["content-length"])) if "content-length" in headers else b""
        if close_next:
            return False

        if path == "/hello":
            self.reply(200, b"hello, world")
        elif path == "/echo":
            self.reply(200, body, [("X-Got-Length", headers.get("content-length", "none")), ("X-Got-Method", method),
                                   ("X-Got-Host", headers.get("host", "none")), ("X-Got-Target", target),
                                   ("X-Got-Names", ",".join(names))])
        elif path == "/chunked":
            self.send("HTTP/1.1 200 OK\r\nX-Conn: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % self.conn)
            self.send("5;name=value\r\nhello\r\n")
            time.sleep(0.01)
            self.send("2\r\n, \r\n5 ; x=\"y\"\r\nwor")
            time.sleep(0.01)
            self.send("ld\r\n0\r\nX-Trailer: yes\r\n\r\n")
        elif path == "/until-close":
            self.send("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, until the close")
            return False
        elif path == "/head":
            self.send("HTTP/1.1 200 OK\r\nX-Conn: %d\r\nContent-Length: 1234\r\n\r\n" % self.conn)
        elif path == "/204":
            self.reply(204, length=False, reason="No Content")
        elif path == "/interim":
            self.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
            self.reply(200, b"final")
        elif path == "/http10":
            self.reply(200, b"ten", version="HTTP/1.0")
            return False
        elif path == "/http10-ka":
            self.reply(200, b"ten, kept", [("Connection", "keep-alive")], version="HTTP/1.0")
        elif path == "/conn-close":
            self.reply(200, b"bye", [("Connection", "close")])
            return False
        elif path == "/close-next":
            self.reply(200, b"next one is dropped")
            self.close_next = True
        elif path == "/idle-close":
            self.reply(200, b"closing now")
            return False
        elif path == "/drop":
            return False
        elif path == "/big":
            self.reply(200, b"x" * n)
        elif path == "/big-chunked":
            self.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, n, 1000):
                k = min(1000, n - i)
                self.send(b"%x\r\n" % k + b"y" * k + b"\r\n")
            self.send("0\r\n\r\n")
        elif path == "/big-close":
            self.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"z" * n)
            return False
        elif path == "/bighead":
            self.reply(200, b"", [("X-Big", "a" * 10000)])
        elif path == "/silent":
            self.wait_close()
            return False
        elif path == "/garbage":
            self.send("garbage\r\n\r\n")
            self.wait_close()
            return False
        elif path == "/obsfold":
            self.send("HTTP/1.1 200 OK\r\nX-A: b\r\n  folded\r\nContent-Length: 0\r\n\r\n")
        elif path == "/badchunk":
            self.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
            self.wait_close()
            return False
        elif path == "/short":
            self.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
            return False
        else:
            self.reply(404, b"no such path", [("X-Got-Target", target)], reason="Not Found")
        return True


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr, tls=None):
        self.tls = tls
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        pass  # handshakes the client refuses, connections it drops: expected here


class Server6(Server):
    address_family = socket.AF_INET6


def main():
    out = sys.argv[1]
    ca_key, ca = make_ca("kumo test CA")
    other_key, other = make_ca("kumo other CA")
    with open(os.path.join(out, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    servers = [
        Server(("127.0.0.1", 0)),
        Server(("127.0.0.1", 0), make_leaf(ca_key, ca, "localhost", out, "good")),
        Server(("127.0.0.1", 0), make_leaf(ca_key, ca, "example.test", out, "wrongname")),
        Server(("127.0.0.1", 0), make_leaf(other_key, other, "localhost", out, "untrusted")),
        Server(("127.0.0.1", 0), make_leaf(ca_key, ca, "localhost", out, "expired", expired=True)),
    ]
    try:
        servers.append(Server6(("::1", 0)))
    except OSError:
        pass
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ports = [s.server_address[1] for s in servers] + [0] * (6 - len(servers))
    print(" ".join(str(p) for p in ports), flush=True)
    sys.stdin.read()  # until the test closes it (or exits); the serving threads are daemons and end with it


if __name__ == "__main__":
    main()
