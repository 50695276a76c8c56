#!/usr/bin/env bash
# Times kumo__spec_load + kumo__router_build on a generated single-file
# OpenAPI 3.0 document (bench/gen_spec.py: about 2 MB, 400 operations) and
# prints the best of 5 runs in milliseconds. Builds the libraries in
# Release mode in build-bench/ (or $BENCH_BUILD) first.
#
#   bench/spec-load.sh [RESOURCES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RESOURCES=${1:-80}
RUNS=${2:-5}
B=${BENCH_BUILD:-build-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target kumo_project >/dev/null
python3 bench/gen_spec.py "$work/big.yaml" "$RESOURCES"
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude bench/spec_load.c -o "$work/spec_load" \
  "$B/libkumo_project.a" "$B/libkumo_openapi.a" "$B/libkumo_base.a" \
  $(pkg-config --libs jansson yaml-0.1 libpcre2-8) -lpthread -ldl -lm
echo "document: $(wc -c <"$work/big.yaml") bytes"
"$work/spec_load" "$work/big.yaml" "$RUNS"
