#!/usr/bin/env bash
# Every benchmark, one command: the criterion benchmark of the exposition,
# the load benchmark against nginx, and the API-efficiency and memory run.
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin chime_exporter
echo "== criterion: building the exposition"
cargo bench --locked --bench exposition
echo "== load: exporter vs nginx on the same bytes"
scripts/bench-load.sh
echo "== API efficiency and memory"
cargo run --release --locked --example api_efficiency
