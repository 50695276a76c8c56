#!/usr/bin/env bash
# spec-load.sh: how long kumo takes from start to serving an OpenAPI
# document, and where that time goes.
#   1. In-process: kumo__spec_load + kumo__router_build on a generated
#      single-file OpenAPI 3.0 document (bench/gen_spec.py: about 2 MB,
#      400 operations), best of RUNS (bench/spec_load.c).
#   2. From process start to the first HTTP answer (bench/mock_start.py,
#      best and median of START_RUNS), with the median of each step the
#      process notes under KUMO_START_TIMES=1 (base/starttime.h):
#      `kumo mock` and `kumo up` on that document as YAML and as JSON
#      (for kumo up without its x-kumo-handler keys: a spec-only project,
#      every operation answering 501), and both on bench/mock/petstore.yaml
#      (a petstore-sized project).
#    Each line of steps ends with what lies outside them: exec (spawn to
#    kumo's constructors: fork, exec, the dynamic linker) and answer
#    (ready to the first answer), then the process's CPU time at ready and
#    at the first answer (medians; CPU moves less with the machine's load).
# Builds the libraries in Release mode in build-bench/ (or $BENCH_BUILD)
# for part 1; part 2 runs build/kumo (KUMO_BIN for another). With
# KUMO_BEFORE=<another kumo> (a build of an earlier commit), each start
# of part 2 is timed with that kumo too, right before this one, so that
# before and after meet the same load.
#
#   bench/spec-load.sh [RESOURCES] [RUNS]        (START_RUNS, default 9)
set -euo pipefail
cd "$(dirname "$0")/.."
RESOURCES=${1:-80}
RUNS=${2:-5}
START_RUNS=${START_RUNS:-9}
B=${BENCH_BUILD:-build-bench}
KUMO=${KUMO_BIN:-build/kumo}
BEFORE=${KUMO_BEFORE:-}
LOOPS=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$KUMO" ] || { echo "bench: $KUMO missing; run 'make build'" >&2; exit 1; }

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target kumo_project >/dev/null
python3 bench/gen_spec.py "$work/big.yaml" "$RESOURCES"
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude bench/spec_load.c -o "$work/spec_load" \
  "$B/libkumo_project.a" "$B/libkumo_openapi.a" "$B/libkumo_base.a" \
  $(pkg-config --libs jansson yaml-0.1 libpcre2-8) -lpthread -ldl -lm
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other jobs skew every figure)"
echo "document: $(wc -c <"$work/big.yaml") bytes"
"$work/spec_load" "$work/big.yaml" "$RUNS"

# the projects: the document as YAML and JSON, for kumo up without its
# handlers; petstore
yaml2json() { python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' "$1" "$2"; }
yaml2json "$work/big.yaml" "$work/big.json"
for kind in yaml json; do
  mkdir -p "$work/up-$kind"
  grep -v 'x-kumo-handler' "$work/big.yaml" >"$work/up-$kind/openapi.yaml"
  [ "$kind" = json ] && yaml2json "$work/up-$kind/openapi.yaml" "$work/up-$kind/openapi.json" &&
    rm "$work/up-$kind/openapi.yaml"
  printf 'name: big-%s\napi: openapi.%s\n' "$kind" "$kind" >"$work/up-$kind/kumo.yaml"
done
mkdir -p "$work/up-pet"
cp bench/mock/petstore.yaml "$work/up-pet/openapi.yaml"
printf 'name: pet\napi: openapi.yaml\n' >"$work/up-pet/kumo.yaml"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_one() { # start_one LABEL PATH COMMAND...
  local label=$1 path=$2
  shift 2
  local out
  out=$(START_BREAKDOWN=1 python3 bench/mock_start.py "$START_RUNS" "$port" "$path" "$@")
  read -r best med <<<"$(head -1 <<<"$out")"
  printf '%-28s %5s ms (median %s)\n' "$label" "$best" "$med"
  tail -n +2 <<<"$out"
}
start() { # start LABEL PATH KUMO ARGS...: with KUMO_BEFORE, that kumo first
  local label=$1 path=$2
  shift 3
  if [ -n "$BEFORE" ]; then
    start_one "$label, before" "$path" "$BEFORE" "$@"
    start_one "$label, after" "$path" "$KUMO" "$@"
  else
    start_one "$label" "$path" "$KUMO" "$@"
  fi
}
echo "start to first answer (best and median of $START_RUNS; --threads $LOOPS):"
start "kumo mock, 2 MB YAML" /v1/res0 "$KUMO" mock "$work/big.yaml" --port '{port}' --threads "$LOOPS"
start "kumo mock, 2 MB as JSON" /v1/res0 "$KUMO" mock "$work/big.json" --port '{port}' --threads "$LOOPS"
start "kumo mock, petstore" /pets "$KUMO" mock bench/mock/petstore.yaml --port '{port}' --threads "$LOOPS"
for kind in yaml json; do
  start "kumo up, 2 MB $(tr a-z A-Z <<<"$kind")" /v1/res0 "$KUMO" up "$work/up-$kind" --port '{port}' \
    --admin-port -1 --threads "$LOOPS"
done
start "kumo up, petstore" /pets "$KUMO" up "$work/up-pet" --port '{port}' --admin-port -1 --threads "$LOOPS"
