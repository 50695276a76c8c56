#!/usr/bin/env bash
# What observability costs on the warm path, in one run: examples/hello
# served by the same kumo build three ways,
#   off    observability: {enabled: false}  (nothing recorded)
#   on     metrics, the log store, and traces at 100% (always_on) exported
#          to a live OTLP/HTTP endpoint: nginx answering 200 and discarding
#          the body, so that the collector's own work (a real one runs on
#          another machine) does not take this machine's two cores from
#          kumo; bench/otlp_sink.py is a receiver that counts what it gets,
#          for checking the export by hand
#   nolog  as on, without the log store (observability.logs.max_size 0):
#          the issue's own definition, metrics and traces at 100%
#   down   as nolog, with the exporter's endpoint on a closed port (the
#          issue's "exporter down, the same"); what the log store costs is
#          on against nolog
# each under the same wrk load, in ROUNDS interleaved rounds (the order
# turning each round) so drift on the machine hits all three alike.
# Prints every round, the median requests/s of each, on/off and down/off
# of the medians, and the median of each round's own on/off and down/off
# (the figure drift moves least). Aim (issue 14): 0.97 or above.
#
#   bench/obs.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS] [ROUNDS]   (10 64 2 3)
#
# Needs a release build (make build), wrk and nginx (make deps).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
ROUNDS=${4:-3}
LOOPS=${KUMO_THREADS:-$(nproc)}
KUMO=${KUMO_BIN:-build/kumo}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$KUMO" ] || { echo "bench: $KUMO not built; run 'make build'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk missing; run 'make deps'" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "bench: nginx missing; run 'make deps'" >&2; exit 1; }

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK=$(free_port); CLOSED=$(free_port)
pids=()
nginx_started=""
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -n "$nginx_started" ] && "$NGINX" -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# the live OTLP endpoint: 200 to every POST, the body read and dropped
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 256; }
http {
  access_log off;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$SINK;
    location / { default_type application/json; return 200 "{}"; }
  }
}
NGINX
"$NGINX" -p "$work" -c "$work/nginx.conf"
nginx_started=1

declare -A port admin gw
start() {  # name, observability: block
  cp -r examples/hello "$work/$1"
  rm -rf "$work/$1/.kumo"
  printf '%s\n' "$2" >>"$work/$1/kumo.yaml"
  port[$1]=$(free_port); admin[$1]=$(free_port)
  "$KUMO" up "$work/$1" --port "${port[$1]}" --admin-port "${admin[$1]}" --threads "$LOOPS" \
    >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  gw[$1]=$!
}
start off $'observability:\n  enabled: false'
start on $'observability:\n  traces: {endpoint: "http://127.0.0.1:'"$SINK"$'", sampler: always_on}'
start nolog $'observability:\n  logs: {max_size: 0}\n  traces: {endpoint: "http://127.0.0.1:'"$SINK"$'", sampler: always_on}'
start down $'observability:\n  logs: {max_size: 0}\n  traces: {endpoint: "http://127.0.0.1:'"$CLOSED"$'", sampler: always_on}'

up() { [ "$(curl -s --max-time 1 "$1")" = "hello, world" ]; }
for name in off on nolog down; do
  for _ in $(seq 1 300); do up "http://127.0.0.1:${port[$name]}/hello" && break; sleep 0.05; done
  up "http://127.0.0.1:${port[$name]}/hello" || { echo "bench: kumo ($name) does not answer" >&2; cat "$work/$name.err" >&2; exit 1; }
done

rps() { awk '/Requests\/sec/ {print $2}'; }
declare -A runs cpu
# CPU time of a kumo up and everything under it (fork servers, workers,
# the store's and the exporter's threads), in clock ticks: what a request
# costs, which other work on the machine moves far less than requests/s
tree() { echo "$1"; for c in $(pgrep -P "$1"); do tree "$c"; done; }
cpu_ticks() {
  local sum=0 p
  for p in $(tree "$1"); do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$sum"
}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews every figure)"
echo "hello on loopback: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after a 2 s warm-up each; kumo --threads $LOOPS"
order=(off on nolog down)
printf "%-6s %10s %10s %10s %10s\n" round off on nolog down
for r in $(seq 1 "$ROUNDS"); do
  declare -A got=()
  # the order turns each round (off on nolog down, on nolog down off...):
  # whichever goes first after the idle pause is not always the same one
  for k in 0 1 2 3; do
    name=${order[$(( (k + r - 1) % 4 ))]}
    url="http://127.0.0.1:${port[$name]}/hello"
    wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "$url" >/dev/null
    t0=$(cpu_ticks "${gw[$name]}")
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" "$url")
    t1=$(cpu_ticks "${gw[$name]}")
    got[$name]=$(echo "$out" | rps)
    runs[$name]="${runs[$name]:-} ${got[$name]}"
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    cpu[$name]="${cpu[$name]:-} $(awk -v t=$((t1 - t0)) -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" \
      'BEGIN {printf "%.2f", t * 1e6 / hz / (n > 0 ? n : 1)}')"
  done
  printf "%-6s%10s %10s %10s %10s\n" "$r" "${got[off]}" "${got[on]}" "${got[nolog]}" "${got[down]}"
done
metric() { curl -s "http://127.0.0.1:${admin[$1]}/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
python3 - "${runs[off]}" "${runs[on]}" "${runs[nolog]}" "${runs[down]}" \
  "${cpu[off]}" "${cpu[on]}" "${cpu[nolog]}" "${cpu[down]}" <<'PY'
import statistics, sys
names = ["off", "on", "nolog", "down"]
rps = {n: [float(x) for x in a.split()] for n, a in zip(names, sys.argv[1:5])}
cpu = {n: [float(x) for x in a.split()] for n, a in zip(names, sys.argv[5:9])}
med = {n: statistics.median(v) for n, v in rps.items()}
print("median requests/s:   " + "  ".join("%s %.0f" % (n, med[n]) for n in names))
print("CPU per request (us, kumo and its workers, median):   " +
      "  ".join("%s %.1f" % (n, statistics.median(cpu[n])) for n in names))
# Each round's own ratio compares runs a few seconds apart, so a drift of
# the machine over the run (it moves by a quarter here) cancels out.
for n in names[1:]:
    paired = statistics.median(x / o for x, o in zip(rps[n], rps["off"]))
    print("%-5s/off  requests/s: ratio of the medians %.3f, median of the rounds' ratios %.3f   "
          "CPU per request: %.3f   (aim: requests/s 0.97 or above)"
          % (n, med[n] / med["off"], paired, statistics.median(cpu[n]) / statistics.median(cpu["off"])))
PY
for name in on nolog down; do
  echo "$name: spans exported $(metric "$name" kumo_trace_spans_exported_total || true)," \
       "dropped $(metric "$name" kumo_trace_spans_dropped_total || true); log lines dropped from the store $(metric "$name" kumo_log_lines_dropped_total || true);" \
       "gateway RSS $(ps -o rss= -p "$(pgrep -f "kumo up $work/$name " | head -1)" 2>/dev/null || echo '?') KiB"
done
