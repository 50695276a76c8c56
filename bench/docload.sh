#!/usr/bin/env bash
# docload.sh: how long reading a ~2 MB OpenAPI document takes (bench/
# gen_spec.py, YAML and the same as JSON), and the steps after it on the
# way to serving, with bench/docload.c:
#   - cold: the first load in a fresh process (what `kumo mock` and
#     `kumo up` pay: the tree's memory is touched for the first time),
#     median, min and max over RUNS processes, wall and CPU time;
#   - warm: the median of RUNS loads in one process (the reading itself);
#     libyaml's event loop alone (the floor for YAML), spec_load (the
#     document plus the spec over it), the router, and every operation's
#     compiled checks (kumo up compiles them before serving).
# With BASE=REV (a commit), doc.c as it was at REV is timed the same way
# first, linked into the same harness: before and after, one after the
# other on the same machine.
# Builds the libraries in Release mode in build-bench/ (or $BENCH_BUILD).
#
#   [BASE=REV] bench/docload.sh [RESOURCES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RESOURCES=${1:-80}
RUNS=${2:-9}
B=${BENCH_BUILD:-build-bench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target kumo_project >/dev/null
python3 bench/gen_spec.py "$work/big.yaml" "$RESOURCES"
python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], "w"))' \
  "$work/big.yaml" "$work/big.json"
harness() { # harness OUT [EXTRA_SOURCE]
  ${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude bench/docload.c ${2:-} -o "$1" \
    "$B/libkumo_project.a" "$B/libkumo_openapi.a" "$B/libkumo_base.a" \
    $(pkg-config --libs jansson yaml-0.1 libpcre2-8) -lpthread -ldl -lm
}
harness "$work/docload"
versions="docload"
if [ -n "${BASE:-}" ]; then
  git show "$BASE:src/openapi/doc.c" >"$work/doc_base.c"
  harness "$work/docload_base" "$work/doc_base.c" # its doc.c's symbols win over the library's
  versions="docload_base docload"
fi

# median, min and max of the numbers on stdin
stats() { sort -n | awk '{a[NR] = $1} END {printf "%6.1f ms (min %.1f, max %.1f)", a[int((NR + 1) / 2)], a[1], a[NR]}'; }

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other jobs skew the figures)"
for doc in big.yaml big.json; do
  f="$work/$doc"
  echo "== $doc, $(wc -c <"$f") bytes"
  for v in $versions; do
    name="doc.c now"
    [ "$v" = docload_base ] && name="doc.c at $BASE"
    echo "  $name:"
    for clock in wall cpu; do
      cpu=0
      [ "$clock" = cpu ] && cpu=1
      t=$(for _ in $(seq "$RUNS"); do DOCLOAD_CPU=$cpu "$work/$v" "$f" 1 doc | awk '$1 == "doc_load" {print $3}'; done | stats)
      printf '    cold doc_load, %-4s (%s processes): %s\n' "$clock" "$RUNS" "$t"
    done
    echo "    warm, $RUNS runs in one process (CPU time):"
    DOCLOAD_CPU=1 "$work/$v" "$f" "$RUNS" | grep -v bytes | sed 's/^/      /'
  done
done
