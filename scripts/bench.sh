#!/usr/bin/env bash
# Every benchmark, one command: the criterion benchmark of the exposition,
# the load benchmark against nginx (100 accounts of 100 bots, 10,000 of 10),
# a right scrape's latency under a flood of wrong passwords,
# and the API-efficiency and memory runs (1,000 accounts of 120 bots, 10,000
# of 10). About 45 minutes on 2 cores; run it on a quiet machine.
#   scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin chime_exporter
echo "== criterion: building the exposition"
cargo bench --locked --bench exposition
echo "== load: exporter vs nginx on the same bytes"
scripts/bench-load.sh
echo "== wrong passwords: a right scrape's latency beside 32 wrong-password clients"
scripts/bench-auth.sh
echo "== API efficiency and memory: 1,000 accounts of 120 bots"
cargo run --release --locked --example api_efficiency
echo "== API efficiency and memory: 10,000 accounts of 10 bots"
BENCH_PROFILE=accounts cargo run --release --locked --example api_efficiency
