#!/usr/bin/env bash
# What the document's security costs per request (issue 16): examples/hello's
# handler served by kumo up under three operations of one document, the
# same handler behind each: GET /open (security: []), GET /key (an apiKey
# header checked against kumo.yaml's keys: SHA-256 and constant-time
# compares) and GET /basic (HTTP Basic against a sha512crypt credentials
# file; the first check of a user:password runs crypt, the next ones hit
# the five-minute cache of successful checks). Each gets a 2 s wrk warm-up,
# then DURATION s; prints requests/s, p50 and p99 per path and the cost of
# each check against /open. GET /jwt takes an ES256 bearer token checked
# against a JWKS file: `jwt` sends one token (verified once, then answered
# by the verified-token cache), `jwtcold` cycles through 20000 distinct
# tokens (a wrk script), so nearly every request verifies a signature. Then bench/auth_check.c: the CPU of one check
# in process, first and cached, for an API key and Basic users hashed with
# yescrypt, bcrypt and sha512crypt.
#
#   bench/auth.sh [DURATION_S] [CONNECTIONS] [WRK_THREADS]   (10 64 2)
#
# Needs a release build (make build), wrk, openssl, python3 with
# cryptography, and a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-64}
WRK_THREADS=${3:-2}
LOOPS=${KUMO_THREADS:-$(nproc)}
KUMO=${KUMO_BIN:-build/kumo}
[ -x "$KUMO" ] || { echo "bench: $KUMO not built; run 'make build'" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk missing; run 'make deps'" >&2; exit 1; }

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port); APORT=$(free_port)
kumo_pid=""
cleanup() {
  [ -n "$kumo_pid" ] && kill -TERM "$kumo_pid" 2>/dev/null && wait "$kumo_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/p/functions"
cp examples/hello/functions/hello.c "$work/p/functions/"
cat >"$work/p/kumo.yaml" <<'YAML'
name: authbench
api: openapi.yaml
functions:
  hello: {sources: [functions/hello.c]}
security:
  Key: {keys: ["${env:BENCH_KEY}"]}
  Basic: {file: users.htpasswd}
  Jwt: {issuer: kumo-bench, audience: hello, jwks_file: jwks.json}
YAML
cat >"$work/p/openapi.yaml" <<'YAML'
openapi: 3.0.3
info: {title: authbench, version: "1"}
components:
  securitySchemes:
    Key: {type: apiKey, in: header, name: X-API-Key}
    Basic: {type: http, scheme: basic}
    Jwt: {type: http, scheme: bearer, bearerFormat: JWT}
paths:
  /open:
    get: {operationId: open, x-kumo-handler: hello.hello, security: [], responses: {"200": {description: ok}}}
  /key:
    get: {operationId: key, x-kumo-handler: hello.hello, security: [{Key: []}], responses: {"200": {description: ok}}}
  /basic:
    get: {operationId: basic, x-kumo-handler: hello.hello, security: [{Basic: []}], responses: {"200": {description: ok}}}
  /jwt:
    get: {operationId: jwt, x-kumo-handler: hello.hello, security: [{Jwt: []}], responses: {"200": {description: ok}}}
YAML
# An ES256 key (its public half in jwks.json), one token for the cached
# run, and 20000 distinct ones a wrk script cycles through for the cold
# run (the verified-token cache holds 4096: almost every one is verified)
python3 - "$work" <<'PY'
import base64, json, sys, time
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
w = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = ec.generate_private_key(ec.SECP256R1())
pub = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256", "use": "sig",
       "x": b64(pub.x.to_bytes(32, "big")), "y": b64(pub.y.to_bytes(32, "big"))}
json.dump({"keys": [jwk]}, open(w + "/p/jwks.json", "w"))
head = b64(json.dumps({"alg": "ES256", "kid": "bench", "typ": "JWT"}).encode())
def token(i):
    body = b64(json.dumps({"iss": "kumo-bench", "aud": "hello", "sub": "user%d" % i, "jti": str(i),
                           "exp": int(time.time()) + 3600}).encode())
    r, s = decode_dss_signature(key.sign((head + "." + body).encode(), ec.ECDSA(hashes.SHA256())))
    return head + "." + body + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
open(w + "/token", "w").write(token(0))
with open(w + "/cold.lua", "w") as f:
    f.write("local t = {\n")
    for i in range(1, 20001):
        f.write('"%s",\n' % token(i))
    f.write("}\nlocal n = 0\nrequest = function()\n  n = n + 1\n"
            "  return wrk.format(nil, nil, {[\"Authorization\"] = \"Bearer \" .. t[n % #t + 1]})\nend\n")
PY
echo "bench:$(openssl passwd -6 -salt benchsalt bench-pw)" >"$work/p/users.htpasswd"
BENCH_KEY=k-bench-0123456789 "$KUMO" up "$work/p" --port "$PORT" --admin-port "$APORT" --threads "$LOOPS" \
  >"$work/kumo.out" 2>"$work/kumo.err" &
kumo_pid=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$kumo_pid" 2>/dev/null || { cat "$work/kumo.err" >&2; exit 1; }
  sleep 0.1
done

run() { # name path header...; SCRIPT=FILE: wrk runs that script too (its request() sets the headers)
  local name=$1 path=$2; shift 2
  local args=()
  for h in "$@"; do args+=(-H "$h"); done
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "http://127.0.0.1:$PORT$path")
  [ -n "${SCRIPT:-}" ] && args+=(-s "$SCRIPT")
  [ "$code" = 200 ] || { echo "bench: $path answered $code" >&2; exit 1; }
  wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "${args[@]}" "http://127.0.0.1:$PORT$path" >/dev/null
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${args[@]}" "http://127.0.0.1:$PORT$path" \
    >"$work/$name.txt"
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/$name.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$name.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/$name.txt")
  printf '%-6s %12s req/s   p50 %-9s p99 %-9s\n' "$name" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/$name.rps"
}

echo "kumo up, $LOOPS loops; wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s"
run open /open
run key /key "X-API-Key: k-bench-0123456789"
run basic /basic "Authorization: Basic $(printf 'bench:bench-pw' | base64)"
run jwt /jwt "Authorization: Bearer $(cat "$work/token")"
SCRIPT=$work/cold.lua run jwtcold /jwt "Authorization: Bearer $(cat "$work/token")"
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
r = {n: float(open("%s/%s.rps" % (w, n)).read()) for n in ("open", "key", "basic", "jwt", "jwtcold")}
for n in ("key", "basic", "jwt", "jwtcold"):
    print("%-6s %.3f of /open, %.2f us more per request" % (n, r[n] / r["open"], 1e6 / r[n] - 1e6 / r["open"]))
PY

# the CPU of one check, in process (no network, no handler)
mkdir -p "$work/c"
cat >"$work/c/spec.yaml" <<'YAML'
openapi: 3.0.3
info: {title: b, version: "1"}
components:
  securitySchemes:
    Key: {type: apiKey, in: header, name: X-API-Key}
    B: {type: http, scheme: basic}
paths:
  /key: {get: {operationId: key, security: [{Key: []}], responses: {"200": {description: ok}}}}
  /y: {get: {operationId: y, security: [{B: []}], responses: {"200": {description: ok}}}}
  /b: {get: {operationId: b, security: [{B: []}], responses: {"200": {description: ok}}}}
  /s: {get: {operationId: s, security: [{B: []}], responses: {"200": {description: ok}}}}
  /j: {get: {operationId: j, security: [{J: []}], responses: {"200": {description: ok}}}}
YAML
sed -i 's/^    B: {type: http, scheme: basic}$/&\n    J: {type: http, scheme: bearer}/' "$work/c/spec.yaml"
printf 'security:\n  Key: {keys: ["${env:BENCH_KEY}"]}\n  B: {file: users.htpasswd}\n  J: {issuer: kumo-bench, audience: hello, jwks_file: jwks.json}\n' >"$work/c/cfg.yaml"
cp "$work/p/jwks.json" "$work/c/"
sed -n '2,2001s/^"\(.*\)",$/\1/p; 2001q' "$work/cold.lua" >"$work/c/tokens"
cat >"$work/c/mk.c" <<'C'
#include <crypt.h>
#include <stdio.h>
static void line(const char *u, const char *prefix, unsigned long cost)
{
    struct crypt_data cd = {0};
    char s[CRYPT_GENSALT_OUTPUT_SIZE];
    crypt_gensalt_rn(prefix, cost, NULL, 0, s, sizeof s);
    printf("%s:%s\n", u, crypt_r("pw", s, &cd));
}
int main(void)
{
    line("y", "$y$", 0);
    line("b", "$2b$", 10);
    line("s", "$6$", 0);
    return 0;
}
C
${CC:-cc} "$work/c/mk.c" -lcrypt -o "$work/c/mk" && "$work/c/mk" >"$work/c/users.htpasswd"
${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -Iinclude bench/auth_check.c -o "$work/c/auth_check" \
  build/libkumo_auth.a build/libkumo_project.a build/libkumo_openapi.a build/libkumo_base.a \
  "$(sed -n 's/^BEARSSL_LIB:FILEPATH=//p' build/CMakeCache.txt)" \
  $(pkg-config --libs jansson yaml-0.1 libpcre2-8 libcrypto libcurl) -lcrypt -lpthread -lm
echo "one check, in process:"
BENCH_KEY=k-bench-0123456789 "$work/c/auth_check" "$work/c"
