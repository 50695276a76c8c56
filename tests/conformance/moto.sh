# tests/conformance/moto.sh: start and stop a throwaway moto server (every
# AWS service on one loopback port) for the AWS drivers' conformance run
# (run.sh aws). Sourced:
#
#   . tests/conformance/moto.sh
#   moto_start DIR   -> MOTO_PORT, MOTO_ENDPOINT, AWS_* exported; moto_stop; moto_restart
#
# or run, as the conformance suite's --restart-cmd (which appends stop or
# start): `sh tests/conformance/moto.sh DIR PORT stop|start`.
#
# The server is moto's WSGI app under werkzeug with threaded=False, not the
# moto_server command (threaded): moto checks a ConditionExpression and
# applies the update in two steps, so two concurrent CAS requests could both
# pass it, where DynamoDB is atomic. One request at a time restores that.
#
# DIR is a scratch directory the caller removes. moto keeps everything in
# memory, so a restart forgets every table, bucket and queue: the drivers
# must make them again on their next call. The credentials are moto's
# dummies ("testing"); nothing here reaches AWS. Every wait is bounded
# (about 15 s).

_moto_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

moto_start() {
    _moto_dir=$1
    python3 -c 'import moto.server' 2>/dev/null || { echo "moto not found (pip install 'moto[server]')" >&2; return 1; }
    MOTO_PORT=$(_moto_free_port)
    MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    unset AWS_SESSION_TOKEN AWS_PROFILE
    _moto_up
}

_moto_up() {
    MOTO_PORT=$MOTO_PORT python3 -c '
import os, signal, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
run_simple("127.0.0.1", int(os.environ["MOTO_PORT"]), DomainDispatcherApplication(create_backend_app), threaded=False)
' >>"$_moto_dir/moto.log" 2>&1 &
    echo $! >"$_moto_dir/moto.pid"
    for _ in $(seq 150); do
        curl -s -o /dev/null --max-time 1 "$MOTO_ENDPOINT/moto-api/" && return 0
        kill -0 "$(cat "$_moto_dir/moto.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "moto_server did not start on port $MOTO_PORT; see $_moto_dir/moto.log" >&2
    return 1
}

moto_stop() {
    [ -n "${_moto_dir:-}" ] && [ -f "$_moto_dir/moto.pid" ] || return 0
    _pid=$(cat "$_moto_dir/moto.pid")
    kill "$_pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$_pid" 2>/dev/null || { rm -f "$_moto_dir/moto.pid"; return 0; }
        sleep 0.1
    done
    kill -9 "$_pid" 2>/dev/null || true
    rm -f "$_moto_dir/moto.pid"
    return 0
}

moto_restart() {
    moto_stop && _moto_up
}

# Run (not sourced) with DIR PORT stop|start: the suite's restart command.
case "${0##*/}" in
moto.sh)
    if [ $# -eq 3 ]; then
        _moto_dir=$1 MOTO_PORT=$2 MOTO_ENDPOINT="http://127.0.0.1:$2"
        case $3 in
        stop) moto_stop ;;
        start) _moto_up ;;
        *) echo "usage: moto.sh DIR PORT stop|start" >&2; exit 2 ;;
        esac
    fi
    ;;
esac
