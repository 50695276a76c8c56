#!/bin/sh
# Runs the browser tests: installs playwright-core from package-lock.json
# when node_modules is missing, then node's test runner on the test files
# named (default: docs.test.mjs). Needs node, npm and Debian's chromium
# (CHROMIUM to use another); KUMO_BIN names the kumo to test (default:
# build/kumo of this checkout).
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules/playwright-core ]; then
    npm ci --no-audit --no-fund
fi
[ $# -gt 0 ] || set -- docs.test.mjs
exec node --test "$@"
