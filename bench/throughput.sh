#!/usr/bin/env bash
# Warm throughput of the smallest function, three ways, in one run:
#   - kumo serving a copy of examples/hello (build/kumo up, --threads nproc),
#     as it is and with --cpu-affinity,
#   - nginx answering `return 200 "hello, world\n"` (the floor: no function),
#   - Google's functions-framework for Node serving the same hello
#     (bench/ff, `npx functions-framework --target=hello`).
# ROUNDS rounds (3) each load the four servers in turn, one at a time: a 1 s
# wrk warm-up, then the same wrk load on loopback. Prints, per round and
# server, requests/s, p50, p99, the server's own CPU time per request and
# errors; then the medians and the ratios kumo/nginx and
# kumo/functions-framework of each round (runs seconds apart, so a machine
# whose speed drifts moves both sides of a ratio) and their median.
#
#   [ROUNDS=3] bench/throughput.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]   (10 64 2)
#
# Needs a release build (make build), wrk and nginx (make deps), and node
# with npm (make deps installs them; `npm ci` in bench/ff fetches the pinned
# functions-framework from the npm registry the first time).
set -euo pipefail
shopt -s inherit_errexit # a failing wrk inside $(...) stops the run too
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
ROUNDS=${ROUNDS:-3}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: ROUNDS=$ROUNDS: expected a number of rounds, 1 or more" >&2; exit 1; }
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

parse() {  # prints: rps p50 p99 errors requests
  awk '/Requests\/sec/ {rps=$2}
       /requests in/ {n=$1}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx|Socket errors/ {sub(/^ +/, ""); gsub(/ /, "_"); err=err $0 ";"}
       END {printf "%s %s %s %s %s\n", rps, p50, p99, (err==""?"none":err), n}'
}
# The CPU time (user + system, clock ticks) of a process and everything it
# started: kumo's loops, fork servers and workers; nginx's master and
# workers; npx and node. Each process's children that have ended and been
# waited for count too (cutime, cstime): a worker that stops during the
# run is not lost.
tree_ticks() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}; ticks = {}
for p in os.listdir('/proc'):
    if not p.isdigit():
        continue
    try:
        f = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()
    except OSError:
        continue
    kids.setdefault(int(f[1]), []).append(int(p)); ticks[int(p)] = sum(int(x) for x in f[11:15])
stack, total = [root], 0
while stack:
    p = stack.pop(); total += ticks.get(p, 0); stack += kids.get(p, [])
print(total)
PY
}
# One measured run: a 1 s wrk warm-up (the first request of a round after
# another server's run finds kumo's workers and Node's JIT as they were),
# then wrk with --latency. Prints parse's fields and the server's CPU time
# per request in microseconds.
bench() {  # URL NAME PID ROUND
  wrk -t"$WRK_THREADS" -c"$CONNS" -d1s "$1" >/dev/null
  local before after
  before=$(tree_ticks "$3")
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1" > "$work/wrk-$2-$4.txt"
  after=$(tree_ticks "$3")
  read -r rps p50 p99 err n <<<"$(parse < "$work/wrk-$2-$4.txt")"
  [ -n "$n" ] || { echo "bench: wrk printed no request count for $2:" >&2; cat "$work/wrk-$2-$4.txt" >&2; exit 1; }
  python3 -c "import sys; print('$rps $p50 $p99 $err %.2f' % (($after - $before) * 1e6 / $(getconf CLK_TCK) / max(1, $n)))"
}
nginx_pid=$(cat "$work/nginx.pid")
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews every figure)"
echo "hello on loopback: $ROUNDS rounds, each loading kumo, kumo --cpu-affinity, nginx and functions-framework in turn" \
     "with wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after a 1 s warm-up; kumo --threads $LOOPS, nginx $LOOPS workers," \
     "functions-framework 1 node process"
echo "note: $(nproc) cores shared by wrk and the server under test (same machine), so every figure is" \
     "below what the server alone would reach; cpu/req is the server's own CPU time (every process of it) per request"
# A first warm-up of each (kumo starts its workers; Node's JIT warms up).
for u in "http://127.0.0.1:$KPORT/hello" "http://127.0.0.1:$K2PORT/hello" "http://127.0.0.1:$NPORT/" \
         "http://127.0.0.1:$FPORT/hello"; do
  wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "$u" >/dev/null
done
printf "%-6s %-20s %12s %10s %10s %9s  %s\n" round server "requests/s" p50 p99 "cpu/req" "non-2xx/socket errors"
: > "$work/rounds.txt"
for r in $(seq 1 "$ROUNDS"); do
  for s in kumo kumo-affinity nginx ff; do
    case $s in
      kumo) url="http://127.0.0.1:$KPORT/hello" pid=$kumo_pid label=kumo ;;
      kumo-affinity) url="http://127.0.0.1:$K2PORT/hello" pid=$kumo2_pid label="kumo --cpu-affinity" ;;
      nginx) url="http://127.0.0.1:$NPORT/" pid=$nginx_pid label=nginx ;;
      ff) url="http://127.0.0.1:$FPORT/hello" pid=$ff_pid label=functions-framework ;;
    esac
    read -r rps p50 p99 err cpu <<<"$(bench "$url" "$s" "$pid" "$r")"
    printf "%-6s %-20s %12s %10s %10s %7sus  %s\n" "$r" "$label" "$rps" "$p50" "$p99" "$cpu" "$err"
    echo "$r $s $rps $cpu" >> "$work/rounds.txt"
  done
done
# Each round's ratios compare runs made a few seconds apart, so a machine
# that slows down or speeds up between rounds moves both sides.
python3 - "$work/rounds.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r, s, rps, cpu = line.split()
    runs.setdefault(int(r), {})[s] = (float(rps), float(cpu))
def ratios(a, b):
    return [runs[r][a][0] / runs[r][b][0] for r in sorted(runs)]
def spread(v):
    return "%.2f (rounds: %s)" % (statistics.median(v), ", ".join("%.2f" % x for x in v))
med = lambda s, i: statistics.median(runs[r][s][i] for r in runs)
print("median requests/s: kumo %.0f, kumo --cpu-affinity %.0f, nginx %.0f, functions-framework %.0f"
      % (med("kumo", 0), med("kumo-affinity", 0), med("nginx", 0), med("ff", 0)))
print("median cpu/req: kumo %.2f us, kumo --cpu-affinity %.2f us, nginx %.2f us, functions-framework %.2f us"
      % (med("kumo", 1), med("kumo-affinity", 1), med("nginx", 1), med("ff", 1)))
print("ratio kumo/nginx: " + spread(ratios("kumo", "nginx")))
print("ratio kumo --cpu-affinity/nginx: " + spread(ratios("kumo-affinity", "nginx")))
print("ratio kumo/functions-framework: " + spread(ratios("kumo", "ff")))
PY
