# tests/conformance/gcp.sh: start and stop throwaway Google Cloud emulators
# on loopback for the Google Cloud drivers' conformance run (run.sh gcp):
#
#   Firestore   `gcloud emulators firestore start` (Java)
#   Pub/Sub     `gcloud beta emulators pubsub start` (Java)
#   Storage     firebase-tools' storage emulator (node), through
#               tests/emulators/gcs/serve.js, `npm ci --ignore-scripts`
#               there when its node_modules is missing
#
# Sourced:
#
#   . tests/conformance/gcp.sh
#   gcp_start DIR  -> FIRESTORE_PORT, PUBSUB_PORT, GCS_PORT, GCP_PROJECT; gcp_stop
#
# Each emulator runs in a process group of its own (setsid), which stop
# signals whole: gcloud's launcher leaves Java children. None of them keeps
# data across a restart, so the drivers must make their topics,
# subscriptions and buckets again on their next call. Nothing here reaches
# Google: the emulators need no network, and the storage emulator is started
# without the rules runtime firebase-tools would fetch (serve.js says why).
# Every wait is bounded (about 40 s; the Java emulators take seconds).

# where this file is: beside the script that sources it (run.sh), or, from
# the repository's root (bench/stores.sh), tests/conformance
_gcp_here=$(cd "$(dirname "$0")" && pwd)
[ -f "$_gcp_here/gcp.sh" ] || _gcp_here=$(pwd)/tests/conformance

_gcp_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

gcp_start() {
    _gcp_dir=$1
    command -v gcloud >/dev/null || { echo "gcloud not found (the Google Cloud SDK)" >&2; return 1; }
    command -v node >/dev/null || { echo "node not found (for the storage emulator)" >&2; return 1; }
    _gcs=$_gcp_here/../emulators/gcs
    # --ignore-scripts: the one install script that matters is re2's, which
    # builds Google's RE2 from source with node-gyp when it cannot fetch a
    # binary (minutes on two cores); the storage emulator does not use it
    # (superstatic, firebase hosting, falls back to RegExp). One installer
    # at a time: the integration tests source this file beside this entry.
    (cd "$_gcs" && flock -w 600 .npm-ci.lock sh -c \
        '[ -d node_modules/firebase-tools ] || npm ci --no-audit --no-fund --ignore-scripts' >"$_gcp_dir/npm.log" 2>&1) ||
        { echo "npm ci in tests/emulators/gcs failed; see $_gcp_dir/npm.log" >&2; return 1; }
    FIRESTORE_PORT=$(_gcp_free_port)
    PUBSUB_PORT=$(_gcp_free_port)
    GCS_PORT=$(_gcp_free_port)
    GCP_PROJECT=demo-kumo
    export CLOUDSDK_CORE_DISABLE_PROMPTS=1
    # the drivers must take no token from a developer's own credentials
    unset GOOGLE_APPLICATION_CREDENTIALS FIRESTORE_EMULATOR_HOST PUBSUB_EMULATOR_HOST STORAGE_EMULATOR_HOST
    _gcp_up
}

# _gcp_spawn NAME CMD...: CMD in a new session, its pid (= its group) kept.
_gcp_spawn() {
    _name=$1
    shift
    setsid "$@" >>"$_gcp_dir/$_name.log" 2>&1 </dev/null &
    echo $! >"$_gcp_dir/$_name.pid"
}

# _gcp_wait NAME URL: until URL answers (any HTTP status), 40 s at most.
_gcp_wait() {
    for _ in $(seq 400); do
        _code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$2" 2>/dev/null)
        [ -n "$_code" ] && [ "$_code" != 000 ] && return 0
        kill -0 "$(cat "$_gcp_dir/$1.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "the $1 emulator did not start; see $_gcp_dir/$1.log" >&2
    return 1
}

_gcp_up() {
    _gcp_spawn firestore gcloud emulators firestore start --host-port="127.0.0.1:$FIRESTORE_PORT"
    mkdir -p "$_gcp_dir/pubsub-data"
    _gcp_spawn pubsub gcloud beta emulators pubsub start --host-port="127.0.0.1:$PUBSUB_PORT" \
        --data-dir="$_gcp_dir/pubsub-data"
    _gcp_spawn gcs node "$_gcp_here/../emulators/gcs/serve.js" "$GCS_PORT"
    _gcp_wait firestore "http://127.0.0.1:$FIRESTORE_PORT/" &&
        _gcp_wait pubsub "http://127.0.0.1:$PUBSUB_PORT/" &&
        _gcp_wait gcs "http://127.0.0.1:$GCS_PORT/storage/v1/b/ready/o"
}

_gcp_kill() {
    [ -f "$_gcp_dir/$1.pid" ] || return 0
    _pid=$(cat "$_gcp_dir/$1.pid")
    kill -TERM "-$_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "-$_pid" 2>/dev/null || { rm -f "$_gcp_dir/$1.pid"; return 0; }
        sleep 0.1
    done
    kill -KILL "-$_pid" 2>/dev/null || true
    rm -f "$_gcp_dir/$1.pid"
    return 0
}

gcp_stop() {
    [ -n "${_gcp_dir:-}" ] || return 0
    _gcp_kill firestore
    _gcp_kill pubsub
    _gcp_kill gcs
    rm -rf "$_gcp_dir/pubsub-data"
    return 0
}
