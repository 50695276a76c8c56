#!/usr/bin/env bash
# mock_instr.sh: user-space instructions per request of `kumo mock` on
# bench/mock/petstore.yaml (GET /pets and GET /pets/1) and of bare h2o
# (bench/mock/h2o_floor.c) under callgrind, one loop, keep-alive requests
# from one Python client: the difference between runs of N1 and N2
# requests, divided by N2 - N1 (start-up cancels out). A figure other
# work on the machine does not move, unlike requests/s.
#
#   bench/mock_instr.sh [KUMO...]      (default build/kumo; several to compare)
#
# Needs valgrind and a C compiler with libh2o-evloop's headers.
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-1000}
N2=${N2:-3000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v valgrind >/dev/null || { echo "bench: valgrind missing" >&2; exit 1; }
cc -O2 -o "$work/h2o_floor" bench/mock/h2o_floor.c -lh2o-evloop -lssl -lcrypto -lz -lpthread
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/reqs.py" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(200):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", path); c.getresponse().read(); break
    except OSError:
        import time; time.sleep(0.05)
for i in range(n - 1):
    c.request("GET", path); r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
# instr PATH CMD...: instructions per request
instr() {
  local path=$1 n total=()
  shift
  for n in "$N1" "$N2"; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n" "$@" >/dev/null 2>"$work/err" &
    local pid=$!
    python3 "$work/reqs.py" "$port" "$path" "$n"
    kill -TERM "$pid"
    wait "$pid" || true
    total+=("$(awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.$n")")
  done
  echo $(((total[1] - total[0]) / (N2 - N1)))
}
printf '%-40s %10s %10s\n' "server" "/pets" "/pets/1"
printf '%-40s %10s %10s\n' "bare h2o (bench/mock/h2o_floor.c)" \
  "$(instr /pets "$work/h2o_floor" "$port" 1)" "$(instr /pets/1 "$work/h2o_floor" "$port" 1)"
for k in "${@:-build/kumo}"; do
  printf '%-40s %10s %10s\n' "$k mock" \
    "$(instr /pets "$k" mock bench/mock/petstore.yaml --port "$port" --threads 1)" \
    "$(instr /pets/1 "$k" mock bench/mock/petstore.yaml --port "$port" --threads 1)"
done
