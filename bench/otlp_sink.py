#!/usr/bin/env python3
"""A minimal OTLP/HTTP JSON receiver for bench/obs.sh: answers every POST
to /v1/traces with 200 and counts the spans it was sent. Prints the count
to the file given as its second argument when it is stopped (SIGTERM).

    python3 bench/otlp_sink.py PORT COUNT_FILE
"""
import http.server
import json
import signal
import sys

spans = 0


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global spans
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
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
