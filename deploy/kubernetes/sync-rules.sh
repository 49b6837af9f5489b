#!/usr/bin/env bash
# Regenerates prometheusrule.yaml from ../prometheus/rules.yml.
set -euo pipefail
cd "$(dirname "$0")"
{
  sed -n '1,/^spec:$/p' prometheusrule.yaml
  grep -v '^#' ../prometheus/rules.yml | sed 's/^/  /'
} > prometheusrule.yaml.new
mv prometheusrule.yaml.new prometheusrule.yaml
