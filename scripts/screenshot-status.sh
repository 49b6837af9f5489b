#!/usr/bin/env bash
# The README's picture of the status page: the exporter on the demo backend,
# its /status rendered by headless Chromium (Debian's chromium).
#   scripts/screenshot-status.sh [binary]     -> docs/status.png
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/chime_exporter}
PORT=19894
[ -x "$BIN" ] || cargo build --release --locked --bin chime_exporter
"$BIN" --demo --chime.cache-ttl 15s --web.listen-address 127.0.0.1:$PORT --log.level warn &
pid=$!
profile=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$profile"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
# Long enough for a throttled refresh or two, so the page shows one.
sleep "${WAIT:-20}"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --window-size=1500,1050 \
  --screenshot=docs/status.png "http://127.0.0.1:$PORT/status" 2>/dev/null
echo "docs/status.png written"
