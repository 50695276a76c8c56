#!/usr/bin/env bash
# Each executable's static thread-local storage stays small (4 KiB at most).
# glibc zeroes a thread's whole static TLS block when it creates the thread,
# and a page fault costs 10 to 30 us on the VMs kumo is measured on: 64 KiB
# of __thread buffer once cost every thread of kumo up 16 faults at its
# start (issue 19). A large per-thread buffer is malloc'd when the thread
# first needs it (gateway/access_log.c).
#   check_tls.sh EXECUTABLE...
set -euo pipefail
bad=0
for bin in "$@"; do
  size=$(readelf -lW "$bin" | awk '$1 == "TLS" { print $6 }')
  size=$((${size:-0}))
  echo "$(basename "$bin"): static TLS $size bytes"
  if [ "$size" -gt 4096 ]; then
    echo "  $(basename "$bin"): static TLS of $size bytes is over 4096; allocate large per-thread buffers on first use" >&2
    readelf -sW "$bin" | awk '$4 == "TLS" && $3 > 256 { print "  TLS symbol: " $8 " (" $3 " bytes)" }' >&2
    bad=1
  fi
done
exit $bad
