#!/usr/bin/env python3
"""kumo-http beside kumo-host http, the two hosts an image can carry, on the
same unit (examples/hello, built by kumo build):

  - start: from the process's spawn to its first 200 on GET /hello (the
    client connects and asks every 0.5 ms), RUNS starts each, the two
    hosts taking turns; p50 and p90;
  - warm: wrk against GET /hello for SECONDS with 1 and 16 connections
    (each host answers one request at a time), requests per second.

usage: bench/http_host.py [RUNS] [SECONDS]   (defaults 50, 5)
needs: make build, wrk
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KUMO_BUILD", os.path.join(ROOT, "build"))
HOSTS = [("kumo-host", os.path.join(BUILD, "kumo-host")), ("kumo-http", os.path.join(BUILD, "kumo-http"))]
REQ = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(port, deadline):
    while time.perf_counter() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            time.sleep(0.0005)
            continue
        s.sendall(REQ)
        data = s.recv(4096)
        s.close()
        if data.startswith(b"HTTP/1.1 200"):
            return time.perf_counter()
    return None


def start_once(binary, project, data):
    port = free_port()
    env = dict(os.environ, PORT=str(port), KUMO_DATA=data)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "http", project, "hello"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t1 = first_answer(port, t0 + 10)
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    if t1 is None:
        raise SystemExit("%s did not answer within 10 s" % binary)
    return (t1 - t0) * 1000


def wrk(binary, project, data, seconds, conns):
    port = free_port()
    p = subprocess.Popen([binary, "http", project, "hello"], env=dict(os.environ, PORT=str(port), KUMO_DATA=data),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_answer(port, time.perf_counter() + 10)
        out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "http://127.0.0.1:%d/hello" % port],
                             capture_output=True, text=True).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        return float(m.group(1)) if m else 0.0
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = tempfile.mkdtemp(prefix="kumo-bench-host-")
    try:
        project = os.path.join(tmp, "hello")
        shutil.copytree(os.path.join(ROOT, "examples", "hello"), project)
        subprocess.run([os.path.join(BUILD, "kumo"), "build", "--target", "gcp", project], check=True,
                       capture_output=True)
        data = os.path.join(tmp, "data")
        times = {name: [] for name, _ in HOSTS}
        for _ in range(runs):
            for name, binary in HOSTS:
                times[name].append(start_once(binary, project, data))
        print("examples/hello, %d starts each (interleaved), spawn to first 200 on GET /hello, ms" % runs)
        for name, _ in HOSTS:
            t = sorted(times[name])
            print("  %-10s p50 %6.2f  p90 %6.2f  min %6.2f" % (name, statistics.median(t), t[int(len(t) * 0.9)],
                                                                 t[0]))
        if shutil.which("wrk"):
            print("warm GET /hello with wrk, %d s each, requests/s" % seconds)
            for conns in (1, 16):
                row = []
                for name, binary in HOSTS:
                    row.append((name, wrk(binary, project, data, seconds, conns)))
                print("  %2d connections: " % conns +
                      "  ".join("%s %.0f" % r for r in row) + "  (kumo-http/kumo-host %.2f)" %
                      (row[1][1] / row[0][1] if row[0][1] else 0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
