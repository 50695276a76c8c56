#!/usr/bin/env bash
# How much of the machine's CPU request-body validation takes at full load.
#   1. bench/validate.sh: ns per validation of the ~1.9 KB order of
#      bench/validate.c against its Order schema (in-process, -O2);
#   2. kumo serves bench/validation (POST /orders validates the same order
#      against the same schema; POST /orders-raw is the same operation with
#      a schema-less JSON body; both handlers answer 204) and wrk POSTs the
#      order to each for DURATION seconds;
#   3. prints requests/s of both, and
#        share = ns per validation x requests/s / (cores x 1e9)
#      the fraction of all the machine's CPU time spent validating at the
#      /orders rate.
#
#   bench/validation-share.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]   (10 64 2)
#
# Needs a release build (make build), wrk (make deps), python3 with yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
LOOPS=${KUMO_THREADS:-$(nproc)}
CORES=$(nproc)
KUMO=${KUMO_BIN:-build/kumo}

[ -x "$KUMO" ] || { echo "bench: $KUMO not built; run 'make build'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk missing; run 'make deps'" >&2; exit 1; }
# The served schema must be validate.c's (openapi.yaml is generated from it).
python3 bench/validation/order.py check bench/validation/openapi.yaml

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(free_port); APORT=$(free_port)
kumo_pid=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews every figure)"
# 1. ns per validation, before the server runs (nothing else on the cores).
vline=$(bench/validate.sh)
echo "$vline"
NS=$(sed -n 's/.*: \([0-9.]*\) ns per validation (valid).*/\1/p' <<<"$vline")
CBYTES=$(sed -n 's/^validate: \([0-9]*\)-byte order.*/\1/p' <<<"$vline")
[ -n "$NS" ] || { echo "bench: cannot read ns per validation from bench/validate.sh" >&2; exit 1; }

# 2. the server and the body
python3 bench/validation/order.py body >"$work/order.json"
BYTES=$(wc -c <"$work/order.json")
[ "$BYTES" = "$CBYTES" ] || echo "bench: warning: body is $BYTES bytes, validate.c's is $CBYTES" >&2
cp -r bench/validation "$work/project"
rm -rf "$work/project/.kumo"
"$KUMO" up "$work/project" --port "$KPORT" --admin-port "$APORT" --threads "$LOOPS" \
  >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!

post() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
           --data-binary @"$1" "http://127.0.0.1:$KPORT$2"; }
for _ in $(seq 1 300); do
  [ "$(post "$work/order.json" /orders)" = 204 ] && break
  sleep 0.05
done
[ "$(post "$work/order.json" /orders)" = 204 ] || { echo "bench: kumo does not accept the order" >&2; cat "$work/kumo.err" >&2; exit 1; }
[ "$(post "$work/order.json" /orders-raw)" = 204 ] || { echo "bench: /orders-raw does not answer 204" >&2; exit 1; }
# The schema is really enforced: a wrong status enum is refused.
sed 's/"status":"paid"/"status":"lost"/' "$work/order.json" >"$work/bad.json"
[ "$(post "$work/bad.json" /orders)" = 400 ] || { echo "bench: /orders did not refuse an invalid order" >&2; exit 1; }

parse() {  # prints: rps p50 p99 errors
  awk '/Requests\/sec/ {rps=$2}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx|Socket errors/ {sub(/^ +/, ""); gsub(/ /, "_"); err=err $0 ";"}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err==""?"none":err)}'
}
load() {  # warm-up (starts the workers), then the measured run
  BODY_FILE="$work/order.json" wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -s bench/validation/post.lua \
    "http://127.0.0.1:$KPORT$1" >/dev/null
  BODY_FILE="$work/order.json" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    -s bench/validation/post.lua "http://127.0.0.1:$KPORT$1" | tee "$work/wrk-$2.txt" | parse
}
read -r srps sp50 sp99 serr <<<"$(load /orders schema)"
read -r rrps rp50 rp99 rerr <<<"$(load /orders-raw raw)"

echo "POST of a $BYTES-byte JSON order on loopback: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after a 2 s" \
     "warm-up each; kumo --threads $LOOPS; $CORES cores shared by wrk and kumo"
printf "%-34s %12s %10s %10s  %s\n" operation "requests/s" p50 p99 "non-2xx/socket errors"
printf "%-34s %12s %10s %10s  %s\n" "/orders (Order schema)" "$srps" "$sp50" "$sp99" "$serr"
printf "%-34s %12s %10s %10s  %s\n" "/orders-raw (no schema)" "$rrps" "$rp50" "$rp99" "$rerr"
python3 - "$NS" "$srps" "$rrps" "$CORES" <<'PY'
import sys
ns, srps, rrps, cores = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
share = ns * srps / (cores * 1e9)
print("validation: %.0f ns each x %.0f requests/s = %.1f ms of CPU per second"
      " = %.2f%% of the machine's CPU time (%d cores)" % (ns, srps, ns * srps / 1e6, 100 * share, cores))
print("schema-less / schema requests/s: %.3f (the same operation without a requestBody schema)" % (rrps / srps))
# What the rate difference implies, if all of it were CPU spent per request
# (noisy: a few percent of run-to-run variation moves it a lot).
print("rate difference as CPU per request: %.1f us (validation alone, in-process: %.1f us)"
      % (cores * 1e6 * (1 / srps - 1 / rrps), ns / 1e3))
PY
