#!/usr/bin/env bash
# Operations per second of kv get and put of 1 KiB values with 1 and 16
# concurrent callers, through kumo's API (bench/stores.c, one process per
# caller, each with its own connection) and directly with the backend's own
# client, for the SQLite, Redis, PostgreSQL and DynamoDB drivers, and the
# ratio kumo/direct.
#
#   bench/stores.sh [SECONDS] [DRIVERS]     defaults: 5 "sqlite redis postgres dynamodb"
#
# Direct figures: redis-benchmark -t get,set -d 1024 -c C over the same
# number of keys (-r); pgbench -M prepared with the driver's own get and
# upsert statements on its table; for SQLite, bench/sqlite_raw.c running the
# driver's own statements (a put: BEGIN IMMEDIATE, version clock, upsert,
# COMMIT) on the same file. Note what each side does per operation:
# kumo's Redis put is a Lua script (version check, INCR of the version
# clock, HSET, index ZADD) where redis-benchmark's SET is one command, and
# kumo's get is an HMGET of value and version. Servers are throwaway ones
# on free loopback ports (tests/conformance/backends.sh), stopped on exit.
# DynamoDB is moto's server (tests/conformance/moto.sh), against which
# the direct side is boto3 (bench/ddb_raw.py) doing the driver's own
# GetItem and UpdateItem: both sides are bounded by moto, a Python server,
# so the figures say what the abstraction costs beside AWS's own SDK on the
# same server, not how fast DynamoDB is.
# Firestore is the gcloud Firestore emulator (tests/conformance/gcp.sh), the
# direct side python's requests (bench/firestore_raw.py) making the
# driver's own REST calls (batchGet, commit): Google's python client is not
# installed here. Both are bounded by the emulator (Java) likewise.
# Builds the libraries in Release mode in build-bench/ (or $BENCH_BUILD).
# DRIVERS may also name firestore (not run by default: it starts Java).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-5}
DRIVERS=${2:-sqlite redis postgres dynamodb}
KEYS=1000
B=${BENCH_BUILD:-build-bench}
work=$(mktemp -d)
chmod 755 "$work"
. tests/conformance/backends.sh
. tests/conformance/moto.sh
. tests/conformance/gcp.sh
cleanup() {
    redis_stop || true
    postgres_stop || true
    moto_stop || true
    gcp_stop || true
    rm -rf "$work"
}
trap cleanup EXIT

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target kumo_sdk >/dev/null
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude $(pkg-config --cflags jansson hiredis libpq) \
  bench/stores.c -o "$work/stores" "$B/libkumo.a" "$B/libkumo_proto.a" "$B/libkumo_base.a" \
  $(pkg-config --libs jansson sqlite3 hiredis libpq libcurl openssl) -lpthread -ldl -lm
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE bench/sqlite_raw.c -o "$work/sqlite_raw" $(pkg-config --libs sqlite3)

ratio() { python3 -c "import sys; k, d = float(sys.argv[1]), float(sys.argv[2]); print(f'{k/d:.2f}' if d else 'n/a')" "$1" "$2"; }
row() { printf '%-9s %-4s %3s  %10s  %10s  %6s\n' "$@"; }

kumo_rate() { # OP CALLERS
    KUMO_STORE_BENCH=$url "$work/stores" "$1" "$2" "$SECONDS_EACH" "$KEYS" | awk '{print $3}'
}

redis_direct() { # OP CALLERS
    local t=get
    [ "$1" = put ] && t=set
    local n=$(( $2 == 1 ? 30000 : 150000 ))
    redis-benchmark -p "$REDIS_PORT" -t "$t" -d 1024 -c "$2" -n "$n" -r "$KEYS" -q 2>/dev/null |
        tr '\r' '\n' | awk -F'[: ]+' '/requests per second/ {printf "%.0f\n", $2}' | tail -1
}

pg_direct() { # OP CALLERS
    local value
    value=$(printf 'x%.0s' $(seq 1024))
    cat >"$work/get.sql" <<EOF
\set k random(0, $((KEYS - 1)))
SELECT value, version FROM kumo_kv WHERE store = 'bench' AND key = convert_to('key:' || :k, 'UTF8') AND (expires_at IS NULL OR expires_at > now());
EOF
    cat >"$work/put.sql" <<EOF
\set k random(0, $((KEYS - 1)))
INSERT INTO kumo_kv (store, key, value, version, expires_at) VALUES ('bench', convert_to('key:' || :k, 'UTF8'), '$value'::bytea, nextval('kumo_kv_version'), NULL) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, version = excluded.version, expires_at = excluded.expires_at RETURNING version;
EOF
    local j=$(( $2 < $(nproc) ? $2 : $(nproc) ))
    as_pg pgbench -n -M prepared -c "$2" -j "$j" -T "$SECONDS_EACH" -f "$work/$1.sql" "$url" 2>/dev/null |
        awk '/^tps/ {printf "%.0f\n", $3}'
}

echo "kv, 1 KiB values, $KEYS keys, ${SECONDS_EACH}s per figure, $(nproc) CPUs"
row driver op callers "kumo ops/s" "direct" ratio
for driver in $DRIVERS; do
    case $driver in
    sqlite)
        url="sqlite:$work/bench.db"
        ;;
    redis)
        redis_start "$work"
        url=$REDIS_URL
        ;;
    postgres)
        postgres_start "$work"
        url=$POSTGRES_URL
        ;;
    dynamodb)
        moto_start "$work"
        url="dynamodb://kumo-bench?region=us-east-1&endpoint=$MOTO_ENDPOINT"
        ;;
    firestore)
        gcp_start "$work"
        url="firestore://bench?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$FIRESTORE_PORT"
        ;;
    *) echo "unknown driver $driver (sqlite, redis, postgres, dynamodb, firestore)" >&2; exit 2 ;;
    esac
    # Warm-up (discarded): a fresh server allocates WAL and caches as it goes.
    kumo_rate put 16 >/dev/null
    for op in get put; do
        for c in 1 16; do
            k=$(kumo_rate "$op" "$c")
            case $driver in
            sqlite) d=$("$work/sqlite_raw" "$op" "$c" "$SECONDS_EACH" "$KEYS" "$work/bench.db" | awk '{print $3}') ;;
            redis) d=$(redis_direct "$op" "$c") ;;
            dynamodb) d=$(python3 -P bench/ddb_raw.py "$op" "$c" "$SECONDS_EACH" "$KEYS" kumo-bench bench "$MOTO_ENDPOINT" | awk '{print $3}') ;;
            firestore) d=$(python3 -P bench/firestore_raw.py "$op" "$c" "$SECONDS_EACH" "$KEYS" "http://127.0.0.1:$FIRESTORE_PORT" "$GCP_PROJECT" bench | awk '{print $3}') ;;
            *) d=$(pg_direct "$op" "$c") ;;
            esac
            row "$driver" "$op" "$c" "$k" "$d" "$(ratio "$k" "$d")"
        done
    done
    case $driver in
    redis) redis_stop ;;
    postgres) postgres_stop ;;
    dynamodb) moto_stop ;;
    firestore) gcp_stop ;;
    esac
done
