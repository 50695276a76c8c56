#!/bin/sh
# bench/validate.sh: builds bench/validate.c against the validator's
# sources (release build: -O2, no sanitizers) and prints ns per validation
# of a ~2 KB order body. Usage: bench/validate.sh [ITERATIONS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc=${CC:-cc}
$cc -std=gnu11 -O2 -DNDEBUG -D_GNU_SOURCE -I"$root/include" -I"$root/src" \
    $(pkg-config --cflags jansson libpcre2-8) \
    "$root/bench/validate.c" "$root/src/openapi/schema.c" "$root/src/openapi/schema_format.c" "$root/src/openapi/schema_validate.c" "$root/src/openapi/schema_regex.c" \
    "$root/src/openapi/pointer.c" "$root/src/base/error.c" "$root/src/base/percent.c" \
    $(pkg-config --libs jansson libpcre2-8) -lm -o "$out/validate"
"$out/validate" "${1:-20000}"
