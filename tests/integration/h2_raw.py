"""A raw HTTP/2 client over cleartext (h2c, prior knowledge) for tests that
need frames no ordinary client sends: a hand-written HPACK encoder (just
the representations the tests use) and frame reading good enough to find
a response's :status and body.

The encoder writes:
- indexed fields (one byte for the static table's :method GET, :scheme http
  and for dynamic-table entry 62, the most recently indexed field),
- literals without indexing on a static name (:path, :authority),
- literals with incremental indexing on a new name (the field that the
  one-byte references then repeat).
Strings are never Huffman-coded. Responses are read for their :status only,
which h2o writes either as a static-table index or as a literal of three
digits (never Huffman-coded); the body comes from DATA frames.
"""
import json
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4

# RFC 7541 appendix A: the static table's :status entries.
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def hpack_int(value, prefix_bits, first_byte_flags):
    """RFC 7541 5.1: an integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = [first_byte_flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_str(s):
    """RFC 7541 5.2: a string literal, not Huffman-coded."""
    b = s if isinstance(s, bytes) else s.encode()
    return hpack_int(len(b), 7, 0x00) + b


def indexed(index):
    """6.1: a field from the static (1-61) or dynamic (62 on) table."""
    return hpack_int(index, 7, 0x80)


def literal_static_name(index, value):
    """6.2.2: a literal without indexing whose name is a static entry."""
    return hpack_int(index, 4, 0x00) + hpack_str(value)


def literal_indexed_new_name(name, value):
    """6.2.1: a literal with incremental indexing and a new name: it
    becomes dynamic-table entry 62."""
    return b"\x40" + hpack_str(name) + hpack_str(value)


def literal_new_name(name, value):
    """6.2.2: a literal without indexing and a new name."""
    return b"\x00" + hpack_str(name) + hpack_str(value)


def request_block(path, method_get=True, authority="localhost"):
    """The pseudo-header fields of a GET (index 2) or POST (index 3) over
    http (index 6)."""
    return (indexed(2 if method_get else 3) + indexed(6) + literal_static_name(4, path) +
            literal_static_name(1, authority))


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


class Connection:
    """One h2c connection: the preface and an empty SETTINGS are sent at
    once; the server's SETTINGS are acknowledged as they are read."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self, need):
        while len(self.buf) < need:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.closed = True
                return False
            self.buf += chunk
        return True

    def read_frame(self):
        """(type, flags, stream_id, payload), or None when the server closed."""
        if not self._fill(9):
            return None
        length = struct.unpack(">I", b"\x00" + self.buf[:3])[0]
        ftype, flags = self.buf[3], self.buf[4]
        stream_id = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        if not self._fill(9 + length):
            return None
        payload = self.buf[9:9 + length]
        self.buf = self.buf[9 + length:]
        if ftype == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        return ftype, flags, stream_id, payload

    def response(self, stream_id, deadline_s=30):
        """The response on `stream_id`: {"status", "body", "reset", "goaway"}.
        `status` is None when the stream was reset or the connection
        closed (or went away) before any HEADERS."""
        out = {"status": None, "body": b"", "reset": None, "goaway": None}
        end = time.time() + deadline_s
        while time.time() < end:
            f = self.read_frame()
            if f is None:
                return out
            ftype, flags, sid, payload = f
            if ftype == GOAWAY:
                out["goaway"] = struct.unpack(">I", payload[4:8])[0]
                if out["status"] is None:
                    return out
            if sid != stream_id:
                continue
            if ftype == HEADERS:
                if out["status"] is None:
                    out["status"] = status_of(headers_payload(flags, payload))
                if flags & END_STREAM:
                    return out
            elif ftype == DATA:
                out["body"] += data_payload(flags, payload)
                if flags & END_STREAM:
                    return out
            elif ftype == RST_STREAM:
                out["reset"] = struct.unpack(">I", payload[:4])[0]
                return out
        raise AssertionError("no complete response on stream %d within %ds" % (stream_id, deadline_s))

    def json_body(self, resp):
        return json.loads(resp["body"].decode())


def headers_payload(flags, payload):
    pad = 0
    if flags & 0x8:  # PADDED
        pad = payload[0]
        payload = payload[1:]
    if flags & 0x20:  # PRIORITY
        payload = payload[5:]
    return payload[:len(payload) - pad]


def data_payload(flags, payload):
    if flags & 0x8:
        return payload[1:len(payload) - payload[0]]
    return payload


def status_of(block):
    """:status, the first field h2o writes: an indexed static entry (8-14)
    or a literal without indexing on name index 8 with three digits."""
    if not block:
        return None
    b = block[0]
    if b & 0x80:
        return STATIC_STATUS.get(b & 0x7F)
    if b == 0x08 and len(block) >= 5 and block[1] == 3:
        return int(block[2:5])
    return None
