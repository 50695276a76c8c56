#!/usr/bin/env python3
"""A minimal OTLP/HTTP receiver for bench/obs.sh: answers every POST to
/v1/traces with 200 and counts the spans it was sent, protobuf (kumo's
default, read with tests/integration/otlp_pb.py) or JSON. Prints the count
to the file given as its second argument when it is stopped (SIGTERM).

    python3 bench/otlp_sink.py PORT COUNT_FILE
"""
import http.server
import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import otlp_pb  # noqa: E402

spans = 0


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global spans
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            if self.headers.get("content-type") == "application/x-protobuf":
                doc = otlp_pb.export_request(body)
            else:
                doc = json.loads(body)
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    spans += len(ss.get("spans", []))
        except ValueError:
            pass
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)

    def stop(*_):
        with open(out, "w") as f:
            f.write("%d\n" % spans)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
