#!/usr/bin/env bash
# Warm throughput of the smallest function, three ways, in one run:
#   - kumo serving a copy of examples/hello (build/kumo up, --threads nproc),
#     as it is and with --cpu-affinity,
#   - nginx answering `return 200 "hello, world\n"` (the floor: no function),
#   - Google's functions-framework for Node serving the same hello
#     (bench/ff, `npx functions-framework --target=hello`).
# Each gets a 2 s wrk warm-up, then the same wrk load on loopback; prints
# requests/s, p50, p99 and errors per server and the ratios kumo/nginx and
# kumo/functions-framework.
#
#   bench/throughput.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]   (10 64 2)
#
# Needs a release build (make build), wrk and nginx (make deps), and node
# with npm (make deps installs them; `npm ci` in bench/ff fetches the pinned
# functions-framework from the npm registry the first time).
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
command -v npx >/dev/null || { echo "bench: node/npm missing; run 'make deps'" >&2; exit 1; }

# The pinned functions-framework, installed from bench/ff/package-lock.json.
if [ ! -d bench/ff/node_modules/@google-cloud/functions-framework ] ||
   [ bench/ff/package-lock.json -nt bench/ff/node_modules ]; then
  echo "bench: npm ci in bench/ff (functions-framework)" >&2
  (cd bench/ff && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); APORT=$(free_port); NPORT=$(free_port); FPORT=$(free_port)
K2PORT=$(free_port); A2PORT=$(free_port)
kumo_pid=""; kumo2_pid=""; nginx_started=""; ff_pid=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  [ -n "$kumo2_pid" ] && kill -TERM "$kumo2_pid" 2>/dev/null && wait "$kumo2_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && "$NGINX" -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  # npx runs node as a child: stop the whole process group setsid gave it.
  [ -n "$ff_pid" ] && kill -TERM -- "-$ff_pid" 2>/dev/null && wait "$ff_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# kumo
cp -r examples/hello "$work/hello"
rm -rf "$work/hello/.kumo"
"$KUMO" up "$work/hello" --port "$KPORT" --admin-port "$APORT" --threads "$LOOPS" \
  >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!
# the same with --cpu-affinity (opt-in: loop i, its fork server and its
# workers on CPU i)
cp -r "$work/hello" "$work/hello2"
"$KUMO" up "$work/hello2" --port "$K2PORT" --admin-port "$A2PORT" --threads "$LOOPS" --cpu-affinity \
  >"$work/kumo2.out" 2>"$work/kumo2.err" &
kumo2_pid=$!

# nginx: `return 200` with as many workers as kumo has loops
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

# functions-framework (one Node process: its usual deployment unit)
(cd bench/ff && exec setsid npx --no-install functions-framework --target=hello --port "$FPORT") \
  >"$work/ff.out" 2>"$work/ff.err" &
ff_pid=$!

up() { [ "$(curl -s --max-time 1 "$1")" = "hello, world" ]; }
for _ in $(seq 1 300); do
  up "http://127.0.0.1:$KPORT/hello" && up "http://127.0.0.1:$NPORT/" && up "http://127.0.0.1:$FPORT/hello" && break
  sleep 0.05
done
up "http://127.0.0.1:$KPORT/hello" || { echo "bench: kumo does not answer" >&2; cat "$work/kumo.err" >&2; exit 1; }
up "http://127.0.0.1:$K2PORT/hello" || { echo "bench: kumo --cpu-affinity does not answer" >&2; cat "$work/kumo2.err" >&2; exit 1; }
up "http://127.0.0.1:$NPORT/" || { echo "bench: nginx does not answer" >&2; cat "$work/nginx.err" >&2; exit 1; }
up "http://127.0.0.1:$FPORT/hello" || { echo "bench: functions-framework does not answer" >&2; cat "$work/ff.err" >&2; exit 1; }

parse() {  # prints: rps p50 p99 errors
  awk '/Requests\/sec/ {rps=$2}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx|Socket errors/ {sub(/^ +/, ""); gsub(/ /, "_"); err=err $0 ";"}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err==""?"none":err)}'
}
# Warm-up (the first kumo request starts its workers; Node's JIT warms up),
# then the measured run, one server at a time.
bench() {
  wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "$1" >/dev/null
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1" | tee "$work/wrk-$2.txt" | parse
}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews every figure)"
read -r krps kp50 kp99 kerr <<<"$(bench "http://127.0.0.1:$KPORT/hello" kumo)"
read -r k2rps k2p50 k2p99 k2err <<<"$(bench "http://127.0.0.1:$K2PORT/hello" kumo-affinity)"
read -r nrps np50 np99 nerr <<<"$(bench "http://127.0.0.1:$NPORT/" nginx)"
read -r frps fp50 fp99 ferr <<<"$(bench "http://127.0.0.1:$FPORT/hello" ff)"

echo "hello on loopback: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after a 2 s warm-up each;" \
     "kumo --threads $LOOPS, nginx $LOOPS workers, functions-framework 1 node process"
echo "note: $(nproc) cores shared by wrk and the server under test (same machine), so every figure is" \
     "below what the server alone would reach"
printf "%-20s %12s %10s %10s  %s\n" server "requests/s" p50 p99 "non-2xx/socket errors"
printf "%-20s %12s %10s %10s  %s\n" kumo "$krps" "$kp50" "$kp99" "$kerr"
printf "%-20s %12s %10s %10s  %s\n" "kumo --cpu-affinity" "$k2rps" "$k2p50" "$k2p99" "$k2err"
printf "%-20s %12s %10s %10s  %s\n" nginx "$nrps" "$np50" "$np99" "$nerr"
printf "%-20s %12s %10s %10s  %s\n" functions-framework "$frps" "$fp50" "$fp99" "$ferr"
python3 -c "print('ratio kumo/nginx: %.2f (with --cpu-affinity %.2f)   ratio kumo/functions-framework: %.2f' % ($krps / $nrps, $k2rps / $nrps, $krps / $frps))"
