#!/usr/bin/env bash
# Every C file of src/, include/, tests/unit/, fuzz/ and bench/ is as the
# committed .clang-format lays it out: `make format` applies it, and this
# check (a ctest test, so `make test` and CI run it) fails on a deviation,
# naming the files. clang-format comes from Debian (scripts/install-deps.sh).
set -euo pipefail
cd "${KUMO_SOURCE_DIR:-$(dirname "$0")/../..}"
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null || { echo "check_format: $CF is missing; run 'make deps'" >&2; exit 1; }
mapfile -t files < <(git ls-files 'src/*.[ch]' 'include/*.h' 'tests/unit/*.[ch]' 'fuzz/*.c' 'bench/*.c' 'examples/*.c' \
  2>/dev/null || find src include tests/unit fuzz bench examples -name '*.[ch]')
todo=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  # generated from assets/docs.html and dashboard.html: laid out by their generator
  [ "$f" = src/gateway/docs_page.c ] && continue
  [ "$f" = src/gateway/dashboard_page.c ] && continue
  todo+=("$f")
done
# One clang-format for all of them (one per file took a minute): each
# deviation is a "FILE:LINE:COL: error: ..." line on stderr; a file it
# cannot read or parse makes it fail without one, which fails the check.
out=$("$CF" --dry-run --Werror "${todo[@]}" 2>&1 >/dev/null) && rc=0 || rc=$?
mapfile -t bad < <(grep -oE '^[^:]+:[0-9]+:[0-9]+: (error|warning):' <<<"$out" | cut -d: -f1 | sort -u)
if [ "$rc" -ne 0 ] && [ ${#bad[@]} -eq 0 ]; then
  printf '%s\n' "$out" | head -20 >&2
  echo "check_format: $CF failed without naming a file" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files checked, ${#bad[@]} not formatted"
if [ ${#bad[@]} -ne 0 ]; then
  printf '  %s\n' "${bad[@]}" >&2
  echo "run 'make format' and commit the result" >&2
  exit 1
fi
