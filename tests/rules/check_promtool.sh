#!/usr/bin/env bash
# `kumo monitors rules` on examples/todo (and on a project with monitors:
# of its own), then `promtool check rules` (Debian's prometheus package) on
# the output: the rules a user loads into their Prometheus must be valid.
# Without promtool the test says so and exits 77 (ctest: Skipped).
set -euo pipefail
KUMO=${1:?usage: check_promtool.sh PATH/TO/kumo}
cd "${KUMO_SOURCE_DIR:-$(dirname "$0")/../..}"
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIPPED: promtool is not installed (apt-get install prometheus); the rules were not checked" | tee /dev/stderr
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$KUMO" monitors rules examples/todo --output "$tmp/todo.yml"
promtool check rules "$tmp/todo.yml"
for alert in KumoLatencyP99High KumoErrorRateHigh KumoLongRunning KumoRequestRateAnomaly KumoErrorRateAnomaly \
             KumoLatencyAnomaly; do
  grep -q "alert: $alert\$" "$tmp/todo.yml" || { echo "check_promtool: no $alert rule in the output" >&2; exit 1; }
done

# bounds of its own, another long-running share (read from the histogram), events
cp -r examples/todo "$tmp/proj"
rm -rf "$tmp/proj/.kumo"
sed -i '/^monitors:/,$d' "$tmp/proj/kumo.yaml" # the example's own monitors: (last in the file) replaced
cat >>"$tmp/proj/kumo.yaml" <<'YAML'
monitors:
  defaults: {p50: 20ms, long_running: 50%, window: 10m}
  createTodo: {p99: 50ms, p95: 30ms, errors: 0.5%, window: 90s}
  listNotifications: {anomalies: false, errors: false, probe: false}
alerts: {for: 30s}
YAML
"$KUMO" monitors rules "$tmp/proj" > "$tmp/proj.yml"
promtool check rules "$tmp/proj.yml"
grep -q 'le=\\"5\\"' "$tmp/proj.yml" || { echo "check_promtool: the 50% long-running rule does not read the histogram" >&2; exit 1; }
grep -q 'for: "30s"' "$tmp/proj.yml"
echo "check_promtool: the rules of both projects pass promtool"
