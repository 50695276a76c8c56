#!/usr/bin/env bash
# Operations per second of the cloud blob and queue drivers with 1 and 16
# concurrent callers, each on its emulator: through kumo's API
# (bench/stores_blobq.c, one process per caller) and with the vendor's own
# client doing the same operations on the same server, and the ratio
# kumo/vendor.
#
#   bench/stores_blobq.sh [SECONDS] [DRIVERS]
#       defaults: 5 "s3 sqs gcs pubsub azblob azqueue"
#
#   driver   kumo       emulator                     vendor's client
#   s3       s3://      moto (moto.sh)               boto3, one process per caller (s3sqs_raw.py)
#   sqs      sqs://     moto                         boto3 (s3sqs_raw.py)
#   gcs      gs://      Firebase storage (gcp.sh)    @google-cloud/storage (blobq_raw.mjs)
#   pubsub   pubsub://  gcloud Pub/Sub (gcp.sh)      @google-cloud/pubsub, gRPC (blobq_raw.mjs)
#   azblob   azblob://  Azurite (azure.sh)           @azure/storage-blob (blobq_raw.mjs)
#   azqueue  azqueue:// Azurite                      @azure/storage-queue (blobq_raw.mjs)
#
# The node clients' callers are concurrent async loops in one process (the
# way those SDKs are used), each with its own client; they are pinned in
# bench/clients (package-lock.json, `npm ci` there on first use).
# Blob: put and get of a 1 KiB object, random keys among KEYS (100), each
# side under its own prefix of one bucket/container. Queue: send, then
# receive of one message and its ack, 1 KiB bodies. Each side sends to its
# own queue; both receive from kumo's, which the send phases filled and
# which kumo's 16 senders top up for 2 x SECONDS before each receive
# figure, kumo first, so the depth each side meets is about the same. A row marked '*' ran out of messages before SECONDS: its rate is
# over the time it ran. Every emulator is bounded by its own server (Python, Java, Node),
# so the figures say what kumo's driver costs beside the vendor's SDK on
# the same server, not how fast the cloud service is.
#
# The emulators are the conformance suite's (tests/conformance), started
# when a driver needs them on free loopback ports and stopped when no later
# driver does, and on exit. Builds the SDK in Release mode in build-bench/
# (or $BENCH_BUILD).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-5}
DRIVERS=${2:-s3 sqs gcs pubsub azblob azqueue}
KEYS=100
NAME=kumobench  # kumo's bucket, container and queue
VNAME=vendorbench # the vendor's queue
B=${BENCH_BUILD:-build-bench}
for d in $DRIVERS; do
    case $d in s3 | sqs | gcs | pubsub | azblob | azqueue) ;;
    *) echo "unknown driver $d (s3, sqs, gcs, pubsub, azblob, azqueue)" >&2; exit 2 ;;
    esac
done
work=$(mktemp -d)
chmod 755 "$work"
here=tests/conformance
. tests/conformance/moto.sh
. tests/conformance/gcp.sh
. tests/conformance/azure.sh
cleanup() {
    moto_stop || true
    gcp_stop || true
    azurite_stop || true
    rm -rf "$work"
}
trap cleanup EXIT

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j 2 --target kumo_sdk >/dev/null
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude $(pkg-config --cflags jansson hiredis libpq) \
  bench/stores_blobq.c -o "$work/stores_blobq" "$B/libkumo.a" "$B/libkumo_proto.a" "$B/libkumo_base.a" \
  $(pkg-config --libs jansson sqlite3 hiredis libpq libcurl openssl) -lpthread -ldl -lm

case " $DRIVERS " in
*" gcs "* | *" pubsub "* | *" azblob "* | *" azqueue "*)
    command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed" >&2; exit 1; }
    if [ ! -d bench/clients/node_modules ] || [ bench/clients/package-lock.json -nt bench/clients/node_modules ]; then
        (cd bench/clients && npm ci --no-audit --no-fund >"$work/npm-clients.log" 2>&1) ||
            { echo "npm ci in bench/clients failed:" >&2; tail -20 "$work/npm-clients.log" >&2; exit 1; }
    fi
    ;;
esac

backend() { case $1 in s3 | sqs) echo moto ;; gcs | pubsub) echo gcp ;; *) echo azurite ;; esac; }
started=""
ratio() {
    python3 -c "import sys
try: k, d = float(sys.argv[1]), float(sys.argv[2])
except ValueError: k, d = 0, 0
print(f'{k/d:.2f}' if d else 'n/a')" "$1" "$2"
}
row() { printf '%-8s %-10s %3s  %10s  %10s  %6s\n' "$@"; }
# "OP CALLERS RATE [(drained)]" -> RATE, with '*' when drained
rate_of() { awk '{printf "%s%s\n", $3, /drained/ ? "*" : ""}'; }

kumo_rate() { # OP CALLERS [SECONDS]
    KUMO_STORE_BENCH=$url "$work/stores_blobq" "$1" "$2" "${3:-$SECONDS_EACH}" "$KEYS" | rate_of
}
vendor_rate() { # OP CALLERS [SECONDS]
    local s=${3:-$SECONDS_EACH} VNAME=$VNAME
    # Both sides receive from kumo's queue: Azurite and moto answer a
    # receive more slowly the deeper the queue, so a queue each would
    # compare two depths as much as two clients.
    [ "$1" = queue-recv ] && VNAME=$NAME
    case $driver in
    s3) python3 -P bench/s3sqs_raw.py "$1" "$2" "$s" "$KEYS" "$MOTO_ENDPOINT" "$NAME" ;;
    sqs) python3 -P bench/s3sqs_raw.py "$1" "$2" "$s" "$KEYS" "$MOTO_ENDPOINT" "$VNAME" ;;
    gcs) METADATA_SERVER_DETECTION=none node bench/blobq_raw.mjs gcs "$1" "$2" "$s" "$KEYS" "http://127.0.0.1:$GCS_PORT" "$NAME" "$GCP_PROJECT" ;;
    pubsub) METADATA_SERVER_DETECTION=none node bench/blobq_raw.mjs pubsub "$1" "$2" "$s" "$KEYS" "127.0.0.1:$PUBSUB_PORT" "$VNAME" "$GCP_PROJECT" ;;
    azblob) node bench/blobq_raw.mjs azblob "$1" "$2" "$s" "$KEYS" "$AZURITE_BLOB" "$NAME" ;;
    azqueue) node bench/blobq_raw.mjs azqueue "$1" "$2" "$s" "$KEYS" "$AZURITE_QUEUE" "$VNAME" ;;
    esac | rate_of
}

echo "blob and queue, 1 KiB objects and messages, $KEYS keys, ${SECONDS_EACH}s per figure, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
row driver op callers "kumo ops/s" "vendor" ratio
remaining=" $DRIVERS "
for driver in $DRIVERS; do
    remaining=${remaining/ $driver / }
    be=$(backend "$driver")
    case " $started " in
    *" $be "*) ;;
    *)
        case $be in
        moto) moto_start "$work" ;;
        gcp) gcp_start "$work" ;;
        azurite) azurite_start "$work" ;;
        esac
        started="$started $be"
        ;;
    esac
    case $driver in
    s3) url="s3://$NAME/kumo?region=us-east-1&endpoint=$MOTO_ENDPOINT" ;;
    sqs) url="sqs://$NAME?region=us-east-1&endpoint=$MOTO_ENDPOINT" ;;
    gcs) url="gs://$NAME/kumo?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$GCS_PORT" ;;
    pubsub) url="pubsub://$NAME?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$PUBSUB_PORT" ;;
    azblob) url="azblob://$AZURITE_ACCOUNT/$NAME/kumo?endpoint=$AZURITE_BLOB" ;;
    azqueue) url="azqueue://$AZURITE_ACCOUNT/$NAME?endpoint=$AZURITE_QUEUE" ;;
    esac
    case $driver in
    s3 | gcs | azblob) ops="blob-put blob-get" ;;
    *) ops="queue-send queue-recv" ;;
    esac
    # Warm-up, SECONDS a side with 16 callers (discarded): makes the bucket,
    # container or queue, and warms the server (the Java emulators' JIT
    # doubled their rate over the first seconds: without it the side that
    # runs first pays for it).
    kumo_rate "${ops%% *}" 16 >/dev/null || true
    vendor_rate "${ops%% *}" 16 >/dev/null || true
    for op in $ops; do
        for c in 1 16; do
            # Top kumo's queue up before each receive figure (both sides
            # receive from it): the send phases alone left too few messages
            # for Pub/Sub's 16 receivers.
            [ "$op" = queue-recv ] && { kumo_rate queue-send 16 $((2 * SECONDS_EACH)) >/dev/null || true; }
            k=$(kumo_rate "$op" "$c") || k="${k:-} failed"
            v=$(vendor_rate "$op" "$c") || v="${v:-} failed"
            row "$driver" "$op" "$c" "$k" "$v" "$(ratio "${k%\*}" "${v%\*}")"
        done
    done
    # Stop what no later driver needs.
    for b in moto gcp azurite; do
        [ "$b" = "$be" ] || continue
        needed=0
        for d in $remaining; do [ "$(backend "$d")" = "$b" ] && needed=1; done
        if [ $needed = 0 ]; then
            case $b in moto) moto_stop ;; gcp) gcp_stop ;; azurite) azurite_stop ;; esac
        fi
    done
done
echo "* the queue ran out of messages before the time was up: the rate is over the time the callers ran"
