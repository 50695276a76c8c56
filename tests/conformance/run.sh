#!/bin/sh
# tests/conformance/run.sh DRIVER: runs the store conformance suite
# (conformance.c) against one driver, starting the backend's server first
# when it needs one, on a free loopback port, and stopping it after.
#
#   DRIVER   stores tested                       server
#   sqlite   kv, queue, topic, sqlite:TMP/*.db   none
#   file     blob, file:TMP/blob                 none
#   redis    kv, queue, topic, redis://...:P     redis-server (backends.sh)
#   postgres kv and queue, postgres://...        PostgreSQL (backends.sh)
#   aws      kv dynamodb://, blob s3://, queue sqs://, topic sns://, on moto_server (moto.sh)
#   gcp      kv firestore://, blob gs://, queue and topic pubsub://, on the Firestore,
#            Pub/Sub and (firebase-tools') Cloud Storage emulators (gcp.sh)
#   azure    kv aztable://, blob azblob://, queue azqueue://, on Azurite (azure.sh)
#
# For a server the suite gets --restart-cmd "run.sh --control DRIVER", which
# it runs with "stop" and "start" around its outage phase; RESTART_CMD in the
# environment replaces it (RESTART_CMD= with nothing skips the phase).
# CONFORMANCE is the suite's binary (ctest sets it; default build/conformance).
# Everything lives in a mktemp directory removed at exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/backends.sh"
. "$here/moto.sh"
. "$here/gcp.sh"
. "$here/azure.sh"

# The restart hook: the suite runs "$0 --control DRIVER stop|start"; the
# server's port and directory come through the environment exported below.
if [ "${1:-}" = "--control" ]; then
    driver=$2 action=$3
    case "$driver/$action" in
    redis/stop) redis_stop ;;
    redis/start) _redis_up ;;
    postgres/stop) postgres_stop ;;
    postgres/start) _pg_up ;;
    aws/stop) moto_stop ;;
    aws/start) _moto_up ;;
    gcp/stop) gcp_stop ;;
    gcp/start) _gcp_up ;;
    azure/stop) azurite_stop ;;
    azure/start) _azurite_up ;;
    *) echo "run.sh --control: unknown '$driver $action'" >&2; exit 2 ;;
    esac
    exit $?
fi

driver=${1:-}
bin=${CONFORMANCE:-$here/../../build/conformance}
[ -x "$bin" ] || { echo "run.sh: no conformance binary at $bin; set CONFORMANCE" >&2; exit 2; }
tmp=$(mktemp -d /tmp/kumo-conformance-XXXXXX)
stop_server=true
cleanup() {
    $stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

restart="$here/run.sh --control $driver"
case "$driver" in
sqlite)
    set -- --kv "sqlite:$tmp/kv.db" --queue "sqlite:$tmp/queue.db" --topic "sqlite:$tmp/orders.topic.db"
    restart=
    ;;
file)
    set -- --blob "file:$tmp/blob"
    restart=
    ;;
redis)
    redis_start "$tmp" || exit 1
    stop_server=redis_stop
    export REDIS_PORT _redis_dir
    set -- --kv "$REDIS_URL" --queue "$REDIS_URL" --topic "$REDIS_URL"
    ;;
postgres)
    postgres_start "$tmp" || exit 1
    stop_server=postgres_stop
    export POSTGRES_PORT _pg_dir
    set -- --kv "$POSTGRES_URL" --queue "$POSTGRES_URL"
    ;;
aws)
    moto_start "$tmp" || exit 1
    stop_server=moto_stop
    export MOTO_PORT MOTO_ENDPOINT _moto_dir
    set -- --kv "dynamodb://{name}?endpoint=$MOTO_ENDPOINT" --blob "s3://{name}?endpoint=$MOTO_ENDPOINT" \
        --queue "sqs://{name}?endpoint=$MOTO_ENDPOINT" \
        --topic "sns://{name}?endpoint=$MOTO_ENDPOINT&max_receives=2&queue.alpha={name}-alpha&queue.beta={name}-beta&queue.gamma={name}-gamma"
    ;;
gcp)
    gcp_start "$tmp" || exit 1
    stop_server=gcp_stop
    export FIRESTORE_PORT PUBSUB_PORT GCS_PORT _gcp_dir
    set -- --kv "firestore://{name}?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$FIRESTORE_PORT" \
        --blob "gs://{name}?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$GCS_PORT" \
        --queue "pubsub://{name}?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$PUBSUB_PORT" \
        --topic "pubsub://{name}?project=$GCP_PROJECT&endpoint=http://127.0.0.1:$PUBSUB_PORT&max_receives=2"
    ;;
azure)
    azurite_start "$tmp" || exit 1
    stop_server=azurite_stop
    export AZURITE_BLOB_PORT AZURITE_QUEUE_PORT AZURITE_TABLE_PORT _az_dir
    a=$AZURITE_ACCOUNT
    # Table names are letters and digits only: one table holds the kv store.
    set -- --kv "aztable://$a/kumoconf?endpoint=$AZURITE_TABLE" --blob "azblob://$a/{name}?endpoint=$AZURITE_BLOB" \
        --queue "azqueue://$a/{name}?endpoint=$AZURITE_QUEUE"
    ;;
*)
    echo "usage: run.sh sqlite|file|redis|postgres|aws|gcp|azure" >&2
    exit 2
    ;;
esac
restart=${RESTART_CMD-$restart}
echo "conformance: $driver"
if [ -n "$restart" ]; then
    "$bin" "$@" --restart-cmd "$restart" || exit $?
else
    "$bin" "$@" || exit $?
fi
# The cloud drivers again over kumo's own HTTP client, as kumo-host runs them
# (sdk/stores/cloud.h): every phase but the outage, which the first run had.
case "$driver" in
aws | gcp | azure)
    echo "conformance: $driver over kumo's own HTTP client"
    "$bin" "$@" --transport builtin
    ;;
esac
