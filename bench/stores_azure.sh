#!/usr/bin/env bash
# Operations per second of kv get and put of 1 KiB values with 1 and 16
# concurrent callers on Azure Table storage: through kumo's API (the
# aztable:// driver, bench/stores.c, one process per caller) and with
# Azure's own JavaScript client (@azure/data-tables, bench/aztable_raw.mjs,
# its callers concurrent async loops in one process, as that SDK is used)
# doing the driver's own operations on the same
# table, partition and keys, and the ratio kumo/direct.
#
#   bench/stores_azure.sh [SECONDS]     default 5
#
# The server is Azurite (tests/conformance/azure.sh; installed with npm ci
# into tests/emulators/azure with the client when missing), in memory on
# free loopback ports, stopped on exit. Azurite is a Node.js server: both
# sides are bounded by it, so the figures say what kumo's driver costs
# beside Azure's own SDK on the same server, not how fast Table storage is.
# Builds the SDK in Release mode in build-bench/ (or $BENCH_BUILD).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-5}
KEYS=1000
TABLE=kumobench
B=${BENCH_BUILD:-build-bench}
work=$(mktemp -d)
here=tests/conformance
. tests/conformance/azure.sh
cleanup() {
    azurite_stop || true
    rm -rf "$work"
}
trap cleanup EXIT

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target kumo_sdk >/dev/null
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude $(pkg-config --cflags jansson hiredis libpq) \
  bench/stores.c -o "$work/stores" "$B/libkumo.a" "$B/libkumo_proto.a" "$B/libkumo_base.a" \
  $(pkg-config --libs jansson sqlite3 hiredis libpq libcurl openssl) -lpthread -ldl -lm
azurite_start "$work"
url="aztable://$AZURITE_ACCOUNT/$TABLE?endpoint=$AZURITE_TABLE"

ratio() { python3 -c "import sys; k, d = float(sys.argv[1]), float(sys.argv[2]); print(f'{k/d:.2f}' if d else 'n/a')" "$1" "$2"; }
row() { printf '%-9s %-4s %3s  %10s  %10s  %6s\n' "$@"; }
kumo_rate() { KUMO_STORE_BENCH=$url "$work/stores" "$1" "$2" "$SECONDS_EACH" "$KEYS" | awk '{print $3}'; }
direct_rate() { node bench/aztable_raw.mjs "$1" "$2" "$SECONDS_EACH" "$KEYS" "$TABLE" bench "$AZURITE_TABLE" | awk '{print $3}'; }

echo "kv on Azure Table storage (Azurite), 1 KiB values, $KEYS keys, ${SECONDS_EACH}s per figure, $(nproc) CPUs"
row driver op callers "kumo ops/s" "direct" ratio
kumo_rate put 16 >/dev/null # warm-up (discarded); also writes every key for the gets
for op in get put; do
    for c in 1 16; do
        k=$(kumo_rate "$op" "$c")
        d=$(direct_rate "$op" "$c")
        row aztable "$op" "$c" "$k" "$d" "$(ratio "$k" "$d")"
    done
done
