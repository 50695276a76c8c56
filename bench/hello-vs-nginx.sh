#!/usr/bin/env bash
# Serves examples/hello through kumo and nginx's `return 200` on loopback,
# loads both with wrk for the same duration and connections, and prints
# requests/s, p50 and p99 for each and the ratio kumo/nginx.
#
#   bench/hello-vs-nginx.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]
#
# Needs a release build (make build) and wrk and nginx (make deps).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
LOOPS=${KUMO_THREADS:-$(nproc)}
KUMO=${KUMO_BIN:-build/kumo}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

[ -x "$KUMO" ] || { echo "bench: $KUMO not built; run 'make build'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk missing; run 'make deps'" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "bench: nginx missing; run 'make deps'" >&2; exit 1; }

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); APORT=$(free_port); NPORT=$(free_port)
kumo_pid=""; nginx_started=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && "$NGINX" -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cp -r examples/hello "$work/hello"
rm -rf "$work/hello/.kumo"
"$KUMO" up "$work/hello" --port "$KPORT" --admin-port "$APORT" --threads "$LOOPS" \
  >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!

cat >"$work/nginx.conf" <<NGINX
worker_processes $LOOPS;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NPORT reuseport;
    location / { default_type text/plain; return 200 "hello, world\n"; }
  }
}
NGINX
"$NGINX" -p "$work" -c "$work/nginx.conf"
nginx_started=1

for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$KPORT/hello" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break
  sleep 0.05
done
[ "$(curl -s "http://127.0.0.1:$KPORT/hello")" = "hello, world" ] || { echo "bench: kumo does not answer"; cat "$work/kumo.err"; exit 1; }

# Warm both up (the first kumo request starts the workers).
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$KPORT/hello" >/dev/null
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$NPORT/" >/dev/null

run() { wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1"; }
parse() {  # prints: rps p50 p99 errors
  awk '/Requests\/sec/ {rps=$2}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx|Socket errors/ {err=err $0 ";"}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err==""?"none":err)}'
}
k=$(run "http://127.0.0.1:$KPORT/hello" | tee "$work/wrk-kumo.txt" | parse)
n=$(run "http://127.0.0.1:$NPORT/" | tee "$work/wrk-nginx.txt" | parse)
read -r krps kp50 kp99 kerr <<<"$k"
read -r nrps np50 np99 nerr <<<"$n"

echo "hello on loopback: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, $LOOPS server threads/processes, $(nproc) cores"
printf "%-8s %12s %10s %10s  %s\n" server "requests/s" p50 p99 errors
printf "%-8s %12s %10s %10s  %s\n" kumo "$krps" "$kp50" "$kp99" "$kerr"
printf "%-8s %12s %10s %10s  %s\n" nginx "$nrps" "$np50" "$np99" "$nerr"
python3 -c "print('ratio kumo/nginx: %.2f' % ($krps / $nrps))"
