#!/usr/bin/env bash
# The executables that dlopen function units (kumo-worker, kumo-host, and
# kumo itself for kumo test's units and test objects) export the SDK's
# public API (kumo_*, with kumo test's harness) to them and nothing of
# kumo's internals (kumo__*): a unit cannot bind to what may change. libc's
# stdout and stderr may show (copy relocations), and so may the four libc
# calls gateway/epoll_defer.c interposes for libh2o (epoll_ctl, epoll_wait,
# epoll_pwait, close). Every object
# is built with hidden visibility; KUMO_API marks what is public.
#   check_exports.sh KUMO_WORKER KUMO_HOST KUMO
set -euo pipefail
bad=0
for bin in "$@"; do
  exported=$(nm -D --defined-only "$bin" | awk '{print $3}')
  internal=$(grep -c '^kumo__' <<<"$exported" || true)
  public=$(grep -c '^kumo_[a-z]' <<<"$exported" || true)
  other=$(grep -vcE '^(kumo_|_|__|data_start|_edata|_end|_IO_stdin_used|stderr@|stdout@|epoll_ctl$|epoll_wait$|epoll_pwait$|close$)' <<<"$exported" || true)
  echo "$(basename "$bin"): $public public kumo_* symbols, $internal internal kumo__*, $other others exported"
  if [ "$internal" -ne 0 ]; then
    grep '^kumo__' <<<"$exported" | head -20 | sed 's/^/  exported internal: /' >&2
    bad=1
  fi
  if [ "$other" -ne 0 ]; then
    grep -vE '^(kumo_|_|__|data_start|_edata|_end|_IO_stdin_used|stderr@|stdout@|epoll_ctl$|epoll_wait$|epoll_pwait$|close$)' <<<"$exported" | head -20 | sed 's/^/  exported: /' >&2
    bad=1
  fi
  if [ "$public" -lt 40 ]; then
    echo "  $(basename "$bin") exports only $public kumo_* symbols; units need the SDK" >&2
    bad=1
  fi
done
exit $bad
