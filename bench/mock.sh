#!/usr/bin/env bash
# mock.sh: `kumo mock` beside Stoplight Prism (npm @stoplight/prism-cli,
# installed here into a cache directory on first use) on the same
# documents, one server at a time, loopback only:
#   - requests/s, p50 and p99 with the same wrk load on bench/mock/
#     petstore.yaml: GET /pets (a declared example) and GET /pets/1 (an
#     answer made from the schema), 2 s warm-up each; and bare h2o
#     (bench/mock/h2o_floor.c: a fixed answer, no routing, no checks, no
#     log) under the same load, the ceiling any h2o server reaches here;
#   - the time from start to the first HTTP answer on a ~2 MB generated
#     document (bench/gen_spec.py), best and median of START_RUNS (0:
#     skipped).
#
#   bench/mock.sh [DURATION] [CONNECTIONS] [WRK_THREADS]
#
# Needs a release build (make build; KUMO_BIN for another kumo), wrk,
# node + npm and registry access on the first run. PRISM_CACHE (default
# ~/.cache/kumo-bench/prism) keeps the Prism install between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
START_RUNS=${START_RUNS:-5}
LOOPS=$(nproc)
KUMO=${KUMO_BIN:-build/kumo}
PRISM_VERSION=5.14.2
PRISM_CACHE=${PRISM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kumo-bench/prism}

command -v wrk >/dev/null || { echo "bench: wrk missing; run 'make deps'" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench: npm missing; run 'make deps'" >&2; exit 1; }
[ -x "$KUMO" ] || { echo "bench: $KUMO missing; run 'make build'" >&2; exit 1; }
PRISM="$PRISM_CACHE/node_modules/.bin/prism"
if [ ! -x "$PRISM" ] || ! "$PRISM" --version 2>/dev/null | grep -qx "$PRISM_VERSION"; then
  echo "installing @stoplight/prism-cli@$PRISM_VERSION into $PRISM_CACHE" >&2
  mkdir -p "$PRISM_CACHE"
  npm install --no-audit --no-fund --silent --prefix "$PRISM_CACHE" "@stoplight/prism-cli@$PRISM_VERSION" >&2
fi

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(free_port)
PPORT=$(free_port)
SPORT=$(free_port)
FPORT=$(free_port)
kumo_pid=""
prism_pid=""
floor_pid=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  [ -n "$floor_pid" ] && kill -TERM "$floor_pid" 2>/dev/null && wait "$floor_pid" 2>/dev/null || true
  # prism runs node children: stop the process group setsid gave it
  [ -n "$prism_pid" ] && kill -TERM -- "-$prism_pid" 2>/dev/null && wait "$prism_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

DOC=bench/mock/petstore.yaml
"$KUMO" mock "$DOC" --port "$KPORT" --threads "$LOOPS" >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!
setsid "$PRISM" mock -h 127.0.0.1 -p "$PPORT" "$DOC" >"$work/prism.out" 2>"$work/prism.err" &
prism_pid=$!

up() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ]; }
for _ in $(seq 1 600); do
  up "http://127.0.0.1:$KPORT/pets/1" && up "http://127.0.0.1:$PPORT/pets/1" && break
  sleep 0.05
done
up "http://127.0.0.1:$KPORT/pets/1" || { echo "bench: kumo mock does not answer" >&2; cat "$work/kumo.err" >&2; exit 1; }
up "http://127.0.0.1:$PPORT/pets/1" || { echo "bench: prism does not answer" >&2; cat "$work/prism.err" >&2; exit 1; }

parse() { # prints: rps p50 p99 errors
  awk '/Requests\/sec/ {rps=$2}
       /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
       /Non-2xx|Socket errors/ {sub(/^ +/, ""); gsub(/ /, "_"); err=err $0 ";"}
       END {printf "%s %s %s %s\n", rps, p50, p99, (err==""?"none":err)}'
}
bench() {
  wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "$1" >/dev/null
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1" | tee "$work/wrk-$2.txt" | parse
}
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the cores skews every figure)"
echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after a 2 s warm-up each; kumo mock --threads $LOOPS; prism $PRISM_VERSION" \
  "(one Node process); $(nproc) cores shared by wrk and the server under test"
printf '%-34s %12s %10s %10s  %s\n' "server, request" "requests/s" "p50" "p99" "errors"
declare -A RPS PR
for path in /pets /pets/1; do
  read -r krps kp50 kp99 kerr <<<"$(bench "http://127.0.0.1:$KPORT$path" kumo)"
  read -r prps pp50 pp99 perr <<<"$(bench "http://127.0.0.1:$PPORT$path" prism)"
  printf '%-34s %12s %10s %10s  %s\n' "kumo mock, GET $path" "$krps" "$kp50" "$kp99" "$kerr"
  printf '%-34s %12s %10s %10s  %s\n' "prism, GET $path" "$prps" "$pp50" "$pp99" "$perr"
  PR[$path]=$prps
  RPS[$path]=$(awk -v k="$krps" -v p="$prps" 'BEGIN {printf "%.0f", (p > 0 ? k / p : 0)}')
done
echo "kumo/prism requests/s: GET /pets ${RPS[/pets]}x, GET /pets/1 ${RPS[/pets/1]}x (aim: at least 50x)"
# the floor: bare h2o, same loops, same load
cc -O2 -o "$work/h2o_floor" bench/mock/h2o_floor.c -lh2o-evloop -lssl -lcrypto -lz -lpthread
"$work/h2o_floor" "$FPORT" "$LOOPS" >/dev/null 2>&1 &
floor_pid=$!
for _ in $(seq 1 100); do up "http://127.0.0.1:$FPORT/pets" && break; sleep 0.05; done
read -r frps fp50 fp99 ferr <<<"$(bench "http://127.0.0.1:$FPORT/pets" floor)"
printf '%-34s %12s %10s %10s  %s\n' "bare h2o (h2o_floor.c), GET /pets" "$frps" "$fp50" "$fp99" "$ferr"
awk -v f="$frps" -v a="${PR[/pets]}" -v b="${PR[/pets/1]}" 'BEGIN {
  printf "bare h2o/prism: GET /pets %.0fx, GET /pets/1 %.0fx: the most any server on h2o reaches here\n",
    (a > 0 ? f / a : 0), (b > 0 ? f / b : 0) }'
kill -TERM "$floor_pid" && wait "$floor_pid" 2>/dev/null || true
floor_pid=""
kill -TERM "$kumo_pid" && wait "$kumo_pid" 2>/dev/null || true
kumo_pid=""
kill -TERM -- "-$prism_pid" 2>/dev/null && wait "$prism_pid" 2>/dev/null || true
prism_pid=""

# start to serving on a ~2 MB document, YAML and the same as JSON
[ "$START_RUNS" -gt 0 ] || exit 0 # START_RUNS=0: requests/s only
python3 bench/gen_spec.py "$work/big.yaml" 80
python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
  "$work/big.yaml" "$work/big.json"
echo "start to first answer (ms, best and median of $START_RUNS), GET /v1/res0 of bench/gen_spec.py's document:"
for doc in big.yaml big.json; do
  size=$(wc -c <"$work/$doc")
  read -r kbest kmed <<<"$(python3 bench/mock_start.py "$START_RUNS" "$SPORT" /v1/res0 \
    "$KUMO" mock "$work/$doc" --port '{port}' --threads "$LOOPS")"
  read -r pbest pmed <<<"$(python3 bench/mock_start.py "$START_RUNS" "$SPORT" /res0 \
    "$PRISM" mock -h 127.0.0.1 -p '{port}' "$work/$doc")"
  printf '  %-9s %8s bytes: kumo mock %5s ms (median %s), prism %6s ms (median %s)\n' "$doc" "$size" \
    "$kbest" "$kmed" "$pbest" "$pmed"
done
