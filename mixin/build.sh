#!/usr/bin/env bash
# Regenerates the mixin's files: the dashboard, the Prometheus rules, the
# Kubernetes PrometheusRule and the rules of the multi-cluster test.
#   mixin/build.sh            write them in place
#   mixin/build.sh DIR        write them under DIR instead (CI compares)
#   MIXIN_OVERRIDES='{throttledRatio: 0.2}' mixin/build.sh DIR
#                             with _config overridden
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
jsonnetfmt --test "$root"/mixin/*.libsonnet "$root"/mixin/*.jsonnet "$root"/mixin/*/*.libsonnet "$root"/mixin/tests/*.jsonnet \
  || { echo "jsonnetfmt: run jsonnetfmt -i on the files above" >&2; exit 1; }
mkdir -p "$out/deploy/prometheus" "$out/deploy/kubernetes" "$out/dashboards" "$out/mixin/tests"
cd "$root/mixin"
jsonnet -S -m "$out" --ext-code "overrides=${MIXIN_OVERRIDES:-{\}}" build.jsonnet >/dev/null
