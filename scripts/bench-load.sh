#!/usr/bin/env bash
# Load benchmark: warm /metrics of the release binary against nginx serving
# the identical bytes, at 1, 16 and 128 connections, plain and gzip.
#
#   scripts/bench-load.sh            (needs: wrk, nginx; installs them as root)
#   SHAPES="10000x10" scripts/bench-load.sh
#
# Each shape is ACCOUNTSxBOTS behind the cache (--demo with generated
# accounts, no throttling): by default 100 accounts x 100 bots and 10,000
# accounts x 10 bots (the many-accounts case: Chime allows 10 chatbots an
# account). Loopback only; each run is 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT_EXPORTER=19891
PORT_NGINX=19892
DURATION=${DURATION:-10s}
SHAPES=${SHAPES:-100x100 10000x10}
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
cargo build --release --locked --bin chime_exporter >/dev/null
work=$(mktemp -d)
exporter_pid=
cleanup() {
  [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

run_shape() {
accounts=${1%x*}
per_account=${1#*x}
total=$(( accounts * per_account ))
target/release/chime_exporter --demo --demo.accounts "$accounts" --demo.bots-per-account "$per_account" \
  --demo.throttle-ratio 0 --chime.cache-ttl 1h --chime.rate-limit 10000 --chime.concurrency 8 \
  --web.max-requests 0 --web.listen-address 127.0.0.1:$PORT_EXPORTER --log.level warn &
exporter_pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT_EXPORTER/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
# Wait until every bot is in.
for _ in $(seq 1 300); do
  [ "$(curl -fs "http://127.0.0.1:$PORT_EXPORTER/metrics" | grep -c '^chime_bot_info{')" -ge "$total" ] && break
  sleep 0.5
done
mkdir -p "$work/www"
curl -fs "http://127.0.0.1:$PORT_EXPORTER/metrics" -o "$work/www/metrics"
curl -fs -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT_EXPORTER/metrics" -o "$work/www/metrics.gz"
bots=$(grep -c '^chime_bot_info{' "$work/www/metrics")
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/openmetrics-text;
  sendfile on;
  keepalive_requests 100000;
  gzip_static on;
  server {
    listen 127.0.0.1:$PORT_NGINX;
    root $work/www;
  }
}
NGINX
# nginx's workers run as www-data: let them read the files.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/"*
nginx -c "$work/nginx.conf"
# Both servers must answer 200 with the same bytes.
cmp <(curl -fs "http://127.0.0.1:$PORT_NGINX/metrics") "$work/www/metrics"
cmp <(curl -fs -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT_NGINX/metrics") "$work/www/metrics.gz"
sleep 0.5

# "Requests/sec", p50 and p99 latency (ms) from wrk --latency.
measure() {
  local url=$1 conns=$2 gz=$3
  local args=(-t "$(( conns < 2 ? 1 : 2 ))" -c "$conns" -d "$DURATION" --latency)
  [ "$gz" = gzip ] && args+=(-H 'Accept-Encoding: gzip')
  wrk "${args[@]}" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50=ms($2) } /^ +99%/ { p99=ms($2) } /^Requests\/sec/ { rps=$2 }
    END { printf "%.0f %.2f %.2f", rps, p50, p99 }'
}

echo "accounts: $accounts; bots: $bots; exposition $(stat -c %s "$work/www/metrics") bytes, gzip $(stat -c %s "$work/www/metrics.gz") bytes; $(nproc) cores"
echo
echo "| encoding | connections | exporter req/s | nginx req/s | ratio | exporter p50 / p99 (ms) | nginx p50 / p99 (ms) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for gz in plain gzip; do
  for c in 1 16 128; do
    read -r e_rps e_p50 e_p99 <<<"$(measure "http://127.0.0.1:$PORT_EXPORTER/metrics" "$c" "$gz")"
    read -r n_rps n_p50 n_p99 <<<"$(measure "http://127.0.0.1:$PORT_NGINX/metrics" "$c" "$gz")"
    ratio=$(awk -v a="$e_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')
    echo "| $gz | $c | $e_rps | $n_rps | $ratio | $e_p50 / $e_p99 | $n_p50 / $n_p99 |"
  done
done
kill "$exporter_pid" 2>/dev/null || true
wait "$exporter_pid" 2>/dev/null || true
kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
rm -f "$work/nginx.pid"
sleep 1
echo
}

for shape in $SHAPES; do
  run_shape "$shape"
done
