#!/usr/bin/env bash
# A soak of examples/todo (issue 12): kumo up (release build) on a fresh
# copy of the example, the peak of a mixed todo load measured for a few
# seconds, then MINUTES of that mix (create, get, list, update, delete,
# attachments up and down, notifications received and acked) at about 80%
# of the peak with a random worker SIGKILLed every 30 s. Every minute it
# prints requests, unexpected errors, the calls a killed worker had, and
# the gateway's RSS and open descriptors (/proc/PID/status, /proc/PID/fd);
# at the end it reads back every acknowledged write and drains the
# notifications, and prints what is missing (expected 0). The driver is
# bench/soak.py.
#
#   bench/soak.sh [MINUTES]   (10)
#
# Needs a release build (make build) and python3. Exits 1 when something
# acknowledged is missing, an unexpected error was seen, or the gateway did
# not stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
LOOPS=${KUMO_THREADS:-$(nproc)}
KUMO=${KUMO_BIN:-build/kumo}

[ -x "$KUMO" ] || { echo "soak: $KUMO not built; run 'make build'" >&2; exit 1; }
case "$MINUTES" in ''|*[!0-9.]*) echo "soak: MINUTES must be a number, not '$MINUTES'" >&2; exit 1;; esac

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); APORT=$(free_port)
kumo_pid=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cp -r examples/todo "$work/todo"
rm -rf "$work/todo/.kumo"
"$KUMO" up "$work/todo" --port "$PORT" --admin-port "$APORT" --threads "$LOOPS" \
  >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!
for _ in $(seq 1 600); do
  curl -sf --max-time 1 "http://127.0.0.1:$APORT/readyz" >/dev/null && break
  kill -0 "$kumo_pid" 2>/dev/null || { echo "soak: kumo up exited" >&2; cat "$work/kumo.err" >&2; exit 1; }
  sleep 0.05
done
curl -sf --max-time 1 "http://127.0.0.1:$APORT/readyz" >/dev/null ||
  { echo "soak: kumo up is not ready" >&2; cat "$work/kumo.err" >&2; exit 1; }

echo "soak: $KUMO up a copy of examples/todo, --threads $LOOPS, $(nproc) cores shared with the driver;" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
python3 bench/soak.py --base "http://127.0.0.1:$PORT" --gateway-pid "$kumo_pid" --minutes "$MINUTES" || rc=$?

kill -TERM "$kumo_pid"
stop_rc=0
wait "$kumo_pid" || stop_rc=$?
kumo_pid=""
echo "gateway: stopped with status $stop_rc after SIGTERM; $(grep -c '"level":"error"' "$work/kumo.err" || true) error lines in its log"
[ "$stop_rc" -eq 0 ] || rc=1
exit "$rc"
