# tests/conformance/moto.sh: start and stop a throwaway moto server (every
# AWS service on one loopback port) for the AWS drivers' conformance run
# (run.sh aws). Sourced, not run:
#
#   . tests/conformance/moto.sh
#   moto_start DIR   -> MOTO_PORT, MOTO_ENDPOINT, AWS_* exported; moto_stop; moto_restart
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
    command -v moto_server >/dev/null || { echo "moto_server not found (pip install 'moto[server]')" >&2; return 1; }
    MOTO_PORT=$(_moto_free_port)
    MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    unset AWS_SESSION_TOKEN AWS_PROFILE
    _moto_up
}

_moto_up() {
    moto_server -H 127.0.0.1 -p "$MOTO_PORT" >>"$_moto_dir/moto.log" 2>&1 &
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
