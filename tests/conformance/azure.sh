# tests/conformance/azure.sh: start and stop a throwaway Azurite (the Azure
# Storage emulator: Blob, Queue and Table on three loopback ports) for the
# Azure drivers' conformance run (run.sh azure). Sourced:
#
#   . tests/conformance/azure.sh
#   azurite_start DIR -> AZURITE_BLOB, AZURITE_QUEUE, AZURITE_TABLE (endpoints),
#                        AZURE_STORAGE_KEY exported; azurite_stop; _azurite_up
#
# Azurite is the npm package pinned in tests/emulators/azure/package-lock.json,
# installed there with `npm ci` when node_modules is missing (as
# tests/browser/run.sh does). It runs with --inMemoryPersistence: a restart
# (the suite's outage phase) forgets every table, container and queue, and
# the drivers must make them again on their next call. The account is
# Azurite's well-known devstoreaccount1 with its published key; nothing here
# reaches Azure. Every wait is bounded (about 20 s).

# The sourcing script sets `here` to tests/conformance (run.sh does).
AZURITE_DIR=${AZURITE_DIR:-$here/../emulators/azure}
AZURITE_ACCOUNT=devstoreaccount1
# Azurite's published development key (not a secret).
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

_az_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

azurite_install() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
        echo "azurite: node and npm are needed (apt-get install nodejs npm)" >&2
        return 1
    }
    # One installer at a time (ctest runs the conformance entry and the
    # integration test side by side): flock on a file beside node_modules.
    (cd "$AZURITE_DIR" && flock -w 600 .npm-ci.lock sh -c \
        '[ -x node_modules/.bin/azurite ] || npm ci --no-audit --no-fund >npm-ci.log 2>&1') || {
        echo "azurite: npm ci failed in $AZURITE_DIR; see $AZURITE_DIR/npm-ci.log" >&2
        return 1
    }
}

azurite_start() {
    _az_dir=$1
    azurite_install || return 1
    AZURITE_BLOB_PORT=$(_az_free_port)
    AZURITE_QUEUE_PORT=$(_az_free_port)
    AZURITE_TABLE_PORT=$(_az_free_port)
    AZURITE_BLOB="http://127.0.0.1:$AZURITE_BLOB_PORT"
    AZURITE_QUEUE="http://127.0.0.1:$AZURITE_QUEUE_PORT"
    AZURITE_TABLE="http://127.0.0.1:$AZURITE_TABLE_PORT"
    export AZURE_STORAGE_KEY="$AZURITE_KEY"
    unset AZURE_STORAGE_CONNECTION_STRING IDENTITY_ENDPOINT IDENTITY_HEADER
    _azurite_up
}

_azurite_up() {
    "$AZURITE_DIR/node_modules/.bin/azurite" --silent --inMemoryPersistence --skipApiVersionCheck \
        --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
        --blobPort "$AZURITE_BLOB_PORT" --queuePort "$AZURITE_QUEUE_PORT" --tablePort "$AZURITE_TABLE_PORT" \
        >>"$_az_dir/azurite.log" 2>&1 &
    echo $! >"$_az_dir/azurite.pid"
    for _ in $(seq 200); do
        _ok=0
        for _p in "$AZURITE_BLOB_PORT" "$AZURITE_QUEUE_PORT" "$AZURITE_TABLE_PORT"; do
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$_p/")" != 000 ] && _ok=$((_ok + 1))
        done
        [ $_ok = 3 ] && return 0
        kill -0 "$(cat "$_az_dir/azurite.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "azurite did not start on ports $AZURITE_BLOB_PORT $AZURITE_QUEUE_PORT $AZURITE_TABLE_PORT; see $_az_dir/azurite.log" >&2
    return 1
}

azurite_stop() {
    [ -n "${_az_dir:-}" ] && [ -f "$_az_dir/azurite.pid" ] || return 0
    _pid=$(cat "$_az_dir/azurite.pid")
    # In memory: nothing to flush. Azurite closes its servers at once on
    # SIGTERM but its process can linger; it gets 1 s, then SIGKILL.
    kill "$_pid" 2>/dev/null || true
    for _ in $(seq 10); do
        kill -0 "$_pid" 2>/dev/null || { rm -f "$_az_dir/azurite.pid"; return 0; }
        sleep 0.1
    done
    kill -9 "$_pid" 2>/dev/null || true
    rm -f "$_az_dir/azurite.pid"
    return 0
}
