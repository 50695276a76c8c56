#!/bin/sh
# Installs what kumo needs to build, run and test, from Debian's packages.
# Idempotent: packages already installed are not asked for again, and
# apt-get runs only when something is missing. Needs root (or sudo).
set -eu

PACKAGES="build-essential cmake pkg-config clang libclang-rt-14-dev
libh2o-evloop-dev libjansson-dev libyaml-dev libsqlite3-dev sqlite3 libssl-dev libpcre2-dev
zlib1g-dev libseccomp-dev libhiredis-dev libpq-dev libcurl4-openssl-dev libbearssl-dev
redis-server postgresql python3 python3-requests python3-yaml curl wrk nginx-light chromium
skopeo umoci zip unzip clang-format tzdata prometheus prometheus-alertmanager
binutils gdb gdbserver"
# The browser test (tests/browser) runs on Node; a machine with its own node keeps it.
command -v node >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "kumo: installing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "kumo: need root to install:$missing" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
