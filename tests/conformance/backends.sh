# tests/conformance/backends.sh: start and stop throwaway Redis and
# PostgreSQL servers on free loopback ports, for the conformance runs
# (run.sh) and the store benchmarks (bench/stores.sh). Sourced, not run:
#
#   . tests/conformance/backends.sh
#   redis_start DIR      -> REDIS_URL, REDIS_PORT; redis_stop; redis_restart
#   postgres_start DIR   -> POSTGRES_URL, POSTGRES_PORT; postgres_stop; postgres_restart
#
# DIR is a scratch directory the caller removes. Redis keeps nothing on
# disk (--save '' --appendonly no), so a restart empties it. PostgreSQL
# runs from a fresh initdb in DIR/pg with trust authentication on
# 127.0.0.1 only and its socket in DIR; PostgreSQL refuses to run as root,
# so as root the server runs as the "postgres" user (runuser) and DIR is
# handed to it. POSTGRES_OPTS adds server options (e.g. "-c fsync=off").
# Every wait is bounded (about 10 s).

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a command as the user PostgreSQL runs as.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

redis_start() {
    _redis_dir=$1
    REDIS_PORT=$(free_port)
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    _redis_up
}

_redis_up() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --pidfile "$_redis_dir/redis.pid" --logfile "$_redis_dir/redis.log" --dir "$_redis_dir" >/dev/null || return 1
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "redis-server did not start on port $REDIS_PORT; see $_redis_dir/redis.log" >&2
    return 1
}

redis_stop() {
    [ -n "${REDIS_PORT:-}" ] || return 0
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    [ -f "$_redis_dir/redis.pid" ] && kill -9 "$(cat "$_redis_dir/redis.pid")" 2>/dev/null
    return 0
}

redis_restart() {
    redis_stop && _redis_up
}

postgres_start() {
    _pg_dir=$1
    POSTGRES_PORT=$(free_port)
    POSTGRES_URL="postgres://kumo@127.0.0.1:$POSTGRES_PORT/kumo"
    [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL's initdb not found (PG_BIN=$PG_BIN)" >&2; return 1; }
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$_pg_dir" || return 1
    fi
    as_pg "$PG_BIN/initdb" -D "$_pg_dir/pg" -U kumo -A trust -E UTF8 >"$_pg_dir/initdb.log" 2>&1 || {
        echo "initdb failed; see $_pg_dir/initdb.log" >&2
        return 1
    }
    _pg_up || return 1
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$POSTGRES_PORT" -U kumo kumo || return 1
}

_pg_up() {
    as_pg "$PG_BIN/pg_ctl" -D "$_pg_dir/pg" -l "$_pg_dir/pg.log" -w -t 10 \
        -o "-p $POSTGRES_PORT -k $_pg_dir -c listen_addresses=127.0.0.1 ${POSTGRES_OPTS:-}" start >/dev/null || {
        echo "PostgreSQL did not start; see $_pg_dir/pg.log" >&2
        return 1
    }
}

postgres_stop() {
    [ -n "${_pg_dir:-}" ] && [ -f "$_pg_dir/pg/postmaster.pid" ] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$_pg_dir/pg" -m fast -w -t 10 stop >/dev/null 2>&1 ||
        as_pg "$PG_BIN/pg_ctl" -D "$_pg_dir/pg" -m immediate -w -t 10 stop >/dev/null 2>&1
    return 0
}

postgres_restart() {
    postgres_stop && _pg_up
}
