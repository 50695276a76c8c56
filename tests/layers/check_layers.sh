#!/usr/bin/env bash
# The dependency rule of src/, checked on every #include "folder/...":
# each folder may include only itself and the layers below it
# (docs/architecture.md, "Layers"). The build links one library per layer
# in the same order, so most upward calls are a link error too; this
# check also catches an upward include of a header-only declaration.
set -euo pipefail
cd "${KUMO_SOURCE_DIR:-$(dirname "$0")/../..}"

declare -A allow=(
  [base]="base"
  [proto]="base proto"
  [sandbox]="base sandbox"
  [openapi]="base openapi"
  [project]="base openapi project"
  [sdk]="base proto sdk"
  [worker]="base proto sandbox sdk worker"
  [runtime]="base proto sandbox openapi project runtime"
  [obs]="base proto openapi project obs"
  [auth]="base proto openapi project auth"
  [gateway]="base proto sandbox openapi project auth sdk runtime obs gateway"
  [host]="base proto sandbox openapi project auth sdk runtime obs gateway host"
  [deploy]="base proto sandbox openapi project auth sdk runtime obs gateway host deploy"
  [emulate]="base proto sandbox openapi project auth sdk runtime obs gateway host deploy emulate"
  [testkit]="base proto sandbox openapi project auth sdk runtime obs gateway host testkit"
  [cli]="base proto sandbox openapi project auth sdk runtime obs gateway host deploy emulate testkit cli"
)

bad=0
checked=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [ -z "${allow[$layer]+x}" ]; then
    echo "check_layers: src/$layer has no place in the dependency rule; add it to tests/layers/check_layers.sh and docs/architecture.md" >&2
    bad=$((bad + 1))
    continue
  fi
  while IFS=: read -r file line text; do
    target=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$text")
    checked=$((checked + 1))
    case " ${allow[$layer]} " in
      *" $target "*) ;;
      *) echo "$file:$line: $layer may not include $target/ (allowed: ${allow[$layer]})" >&2; bad=$((bad + 1)) ;;
    esac
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include "[^/"]+/' "$dir" --include='*.c' --include='*.h' --include='*.in' || true)
done
echo "check_layers: $checked includes checked, $bad outside the rule"
[ "$bad" -eq 0 ]
