#!/usr/bin/env bash
# What observability costs, in instructions: examples/hello served by the
# same kumo build under valgrind's callgrind (one loop), configured as in
# bench/obs.sh (off, nolog: metrics and traces at 100% exported to a live
# endpoint, down: the endpoint closed), each driven with the same wrk load.
# Prints the gateway process's instructions per request (its loop, the
# exporter and every other thread; the workers are not counted, they do
# the same work in every configuration) and each one's excess over off,
# split into the loop thread and the rest.
#
# Instruction counts do not move with other work on the machine, so this
# is the figure to watch while the cores are busy; bench/obs.sh gives the
# requests/s the issue's aim is stated in, which needs a quiet machine.
#
#   bench/obs_instr.sh [SECONDS]   (10; the load is wrk -t1 -c2)
#   KEEP=DIR keeps the callgrind files (one per thread) for callgrind_annotate
#
# Needs a release build (make build), valgrind, wrk and nginx (make deps).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-10}
KUMO=${KUMO_BIN:-build/kumo}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$KUMO" ] || { echo "bench: $KUMO not built; run 'make build'" >&2; exit 1; }
for t in valgrind callgrind_annotate callgrind_control wrk; do
  command -v $t >/dev/null || { echo "bench: $t missing; run 'make deps'" >&2; exit 1; }
done

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK=$(free_port); CLOSED=$(free_port)
vg_pids=()
cleanup() {
  for p in "${vg_pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && "$NGINX" -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 64; }
http {
  access_log off;
  client_max_body_size 64m;
  client_body_temp_path $work;
  server { listen 127.0.0.1:$SINK; location / { default_type application/json; return 200 "{}"; } }
}
NGINX
"$NGINX" -p "$work" -c "$work/nginx.conf"

declare -A yaml=(
  [off]=$'observability:\n  enabled: false'
  [nolog]=$'observability:\n  logs: {max_size: 0}\n  traces: {endpoint: "http://127.0.0.1:'"$SINK"$'", sampler: always_on}'
  [down]=$'observability:\n  logs: {max_size: 0}\n  traces: {endpoint: "http://127.0.0.1:'"$CLOSED"$'", sampler: always_on}'
)
declare -A total loop
echo "gateway instructions per request (callgrind, one loop, wrk -t1 -c2 for ${SECONDS_RUN}s after 3 s of warm-up)"
for name in off nolog down; do
  cp -r examples/hello "$work/$name"
  rm -rf "$work/$name/.kumo"
  printf '%s\n' "${yaml[$name]}" >>"$work/$name/kumo.yaml"
  port=$(free_port)
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cg.$name" \
    "$KUMO" up "$work/$name" --port "$port" --admin-port "$(free_port)" --threads 1 \
    >"$work/$name.out" 2>"$work/$name.err" &
  vg=$!
  vg_pids+=($vg)
  for _ in $(seq 1 600); do
    [ "$(curl -s --max-time 2 "http://127.0.0.1:$port/hello")" = "hello, world" ] && break
    sleep 0.1
  done
  wrk -t1 -c2 -d3s "http://127.0.0.1:$port/hello" >/dev/null
  callgrind_control -z "$vg" >/dev/null 2>&1
  n=$(wrk -t1 -c2 -d"${SECONDS_RUN}s" "http://127.0.0.1:$port/hello" | awk '/requests in/ {print $1}')
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  # one file per thread: the loop is the thread that served the requests
  # (the most instructions); the rest is everything else of the gateway
  read -r t l < <(for f in "$work"/cg."$name".*-*; do
      awk '/^(summary|totals):/ {print $2; exit}' "$f"
    done | sort -n | awk '{s += $1; m = $1} END {print s, m}')
  total[$name]=$(awk -v t="$t" -v n="$n" 'BEGIN {printf "%.0f", t / n}')
  loop[$name]=$(awk -v t="$l" -v n="$n" 'BEGIN {printf "%.0f", t / n}')
  printf "  %-6s %8d requests  %7d per request (loop %d, other threads %d)\n" "$name" "$n" \
    "${total[$name]}" "${loop[$name]}" $((total[$name] - loop[$name]))
  kill -TERM "$vg" 2>/dev/null; wait "$vg" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$work"/cg."$name".*-* "$KEEP"/ && echo "$n" >"$KEEP/requests.$name"
done
for name in nolog down; do
  printf "%-6s - off: %+d instructions per request (loop %+d, other threads %+d), %+.1f%%\n" "$name" \
    $((total[$name] - total[off])) $((loop[$name] - loop[off])) \
    $(((total[$name] - loop[$name]) - (total[off] - loop[off]))) \
    "$(awk -v a="${total[$name]}" -v b="${total[off]}" 'BEGIN {print (a - b) * 100 / b}')"
done
