#!/usr/bin/env bash
# Outbound call overhead (issue 15): the mean time of one sequential GET
# from a handler to a local HTTP server (nginx `return 200`, keep-alive)
#   - through kumo_http under kumo up (the egress path: a frame to the
#     gateway, its libcurl multi thread, the result frame back),
#   - through kumo_http under kumo-host (in process, libcurl easy),
#   - with libcurl directly in a small C program (bench/outbound_raw.c),
# side by side, one run, and the ratios. The times are taken inside the
# handler (bench/outbound/functions/loop.c), so the request that starts
# the loop is not counted.
#
#   bench/outbound.sh [CALLS]      default 20000
#
# Needs a release build (make build), nginx and a C compiler with libcurl.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
KUMO=${KUMO_BIN:-build/kumo}
HOST=${KUMO_HOST:-$(dirname "$KUMO")/kumo-host}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$KUMO" ] || { echo "bench: $KUMO missing; run 'make build'" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "bench: nginx missing; run 'make deps'" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NPORT=$(free_port); KPORT=$(free_port); APORT=$(free_port); HPORT=$(free_port)
kumo_pid=""; host_pid=""; nginx_started=""
cleanup() {
  [ -n "$kumo_pid" ] && kill "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && "$NGINX" -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
NGINX
"$NGINX" -p "$work" -c "$work/nginx.conf"
nginx_started=1
UP="http://127.0.0.1:$NPORT"

${CC:-cc} -O2 bench/outbound_raw.c -o "$work/outbound_raw" $(pkg-config --cflags --libs libcurl)
cp -r bench/outbound "$work/project"

export KUMO_SERVICE_UP_URL=$UP
"$KUMO" up "$work/project" --port "$KPORT" --admin-port "$APORT" --threads 1 >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$kumo_pid" 2>/dev/null || { cat "$work/kumo.err" >&2; exit 1; }
  sleep 0.05
done
PORT=$HPORT "$HOST" http "$work/project" loop >"$work/host.out" 2>&1 &
host_pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$HPORT/loop?n=1" >/dev/null 2>&1 && break
  sleep 0.05
done

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['$1'])"; }
# a warm-up each, then the measured run
"$work/outbound_raw" "$UP/" 1000 >/dev/null
read -r _ raw _ rawerr <<<"$("$work/outbound_raw" "$UP/" "$N")"
curl -sf "http://127.0.0.1:$KPORT/loop?n=1000" >/dev/null
kout=$(curl -sf --max-time 600 "http://127.0.0.1:$KPORT/loop?n=$N")
curl -sf "http://127.0.0.1:$HPORT/loop?n=1000" >/dev/null
hout=$(curl -sf --max-time 600 "http://127.0.0.1:$HPORT/loop?n=$N")
kus=$(field us_per_call <<<"$kout"); kerr=$(field errors <<<"$kout")
hus=$(field us_per_call <<<"$hout"); herr=$(field errors <<<"$hout")

echo "outbound GET to nginx on loopback, $N sequential calls each, $(nproc) CPUs"
printf "%-36s %12s %12s %8s\n" "" "us/call" "calls/s" "errors"
row() { python3 -c "import sys; print('%-36s %12.1f %12.0f %8s' % (sys.argv[1], float(sys.argv[2]), 1e6/float(sys.argv[2]), sys.argv[3]))" "$@"; }
row "libcurl directly (outbound_raw.c)" "$raw" "$rawerr"
row "kumo_http under kumo-host" "$hus" "$herr"
row "kumo_http under kumo up (egress)" "$kus" "$kerr"
python3 -c "import sys; r, h, k = map(float, sys.argv[1:]); print('overhead: kumo-host +%.1f us (%.2fx), kumo up +%.1f us (%.2fx)' % (h - r, h / r, k - r, k / r))" "$raw" "$hus" "$kus"
