"""otlp_pb.py: reads an OTLP/HTTP protobuf ExportTraceServiceRequest into
the shape of its JSON mapping (resourceSpans, ids in hex, 64-bit numbers
as strings, enums as integers), so the tests check both encodings with
the same code. Written from the OTLP .proto field numbers; no protobuf
package is on these machines.

A strict reader: a wrong wire type for a known field, a length past the
end, or a varint over ten bytes raises ValueError, so an encoder bug fails
the test instead of being skipped over.
"""
import struct


def _varint(b, i):
    shift = value = 0
    for k in range(10):
        if i >= len(b):
            raise ValueError("varint past the end")
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        if c < 0x80:
            return value, i
        shift += 7
    raise ValueError("varint over ten bytes")


def fields(b):
    """(field number, wire type, value) for each field of message b: an int
    for varint, fixed64 and fixed32, bytes for length-delimited."""
    i = 0
    out = []
    while i < len(b):
        tag, i = _varint(b, i)
        num, wt = tag >> 3, tag & 7
        if num == 0:
            raise ValueError("field number 0")
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            if i + 8 > len(b):
                raise ValueError("fixed64 past the end")
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif wt == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise ValueError("length %d past the end" % n)
            v = bytes(b[i:i + n])
            i += n
        elif wt == 5:
            if i + 4 > len(b):
                raise ValueError("fixed32 past the end")
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def _want(wt, expected, what):
    if wt != expected:
        raise ValueError("%s: wire type %d, expected %d" % (what, wt, expected))


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def any_value(b):
    for num, wt, v in fields(b):
        if num == 1:
            _want(wt, 2, "AnyValue.string_value")
            return {"stringValue": v.decode("utf-8")}  # strict: protobuf strings are UTF-8
        if num == 2:
            _want(wt, 0, "AnyValue.bool_value")
            return {"boolValue": bool(v)}
        if num == 3:
            _want(wt, 0, "AnyValue.int_value")
            return {"intValue": str(_signed(v))}
    return {}


def key_value(b):
    kv = {}
    for num, wt, v in fields(b):
        if num == 1:
            _want(wt, 2, "KeyValue.key")
            kv["key"] = v.decode("utf-8")
        elif num == 2:
            _want(wt, 2, "KeyValue.value")
            kv["value"] = any_value(v)
    return kv


def link(b):
    out = {}
    for num, wt, v in fields(b):
        if num == 1:
            out["traceId"] = v.hex()
        elif num == 2:
            out["spanId"] = v.hex()
        elif num == 6:
            _want(wt, 5, "Link.flags")
            out["flags"] = v
    return out


def span(b):
    s = {"attributes": []}
    for num, wt, v in fields(b):
        if num in (1, 2, 4):
            _want(wt, 2, "Span id")
            s[{1: "traceId", 2: "spanId", 4: "parentSpanId"}[num]] = v.hex()
        elif num == 5:
            _want(wt, 2, "Span.name")
            s["name"] = v.decode("utf-8")
        elif num == 6:
            _want(wt, 0, "Span.kind")
            s["kind"] = v
        elif num in (7, 8):
            _want(wt, 1, "Span time")
            s["startTimeUnixNano" if num == 7 else "endTimeUnixNano"] = str(v)
        elif num == 9:
            _want(wt, 2, "Span.attributes")
            s["attributes"].append(key_value(v))
        elif num == 13:
            _want(wt, 2, "Span.links")
            s.setdefault("links", []).append(link(v))
        elif num == 14:
            s["droppedLinksCount"] = v
        elif num == 15:
            _want(wt, 2, "Span.status")
            st = {}
            for n2, w2, v2 in fields(v):
                if n2 == 2:
                    st["message"] = v2.decode("utf-8")
                elif n2 == 3:
                    _want(w2, 0, "Status.code")
                    st["code"] = v2
            s["status"] = st
    return s


def export_request(b):
    """The JSON-shaped dict of an ExportTraceServiceRequest."""
    out = {"resourceSpans": []}
    for num, wt, v in fields(b):
        if num != 1:
            continue
        _want(wt, 2, "resource_spans")
        rs = {"resource": {"attributes": []}, "scopeSpans": []}
        for n2, w2, v2 in fields(v):
            if n2 == 1:
                rs["resource"]["attributes"] = [key_value(a) for n3, w3, a in fields(v2) if n3 == 1]
            elif n2 == 2:
                ss = {"scope": {}, "spans": []}
                for n3, w3, v3 in fields(v2):
                    if n3 == 1:
                        for n4, w4, v4 in fields(v3):
                            if n4 in (1, 2):
                                ss["scope"]["name" if n4 == 1 else "version"] = v4.decode("utf-8")
                    elif n3 == 2:
                        ss["spans"].append(span(v3))
                rs["scopeSpans"].append(ss)
        out["resourceSpans"].append(rs)
    return out
