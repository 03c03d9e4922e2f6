#!/usr/bin/env bash
# Webhook delivery throughput: events per second delivered, signed, to a local receiver that
# verifies each signature (npm standardwebhooks).
#   bash benches/webhooks.sh sqlite|postgres [events, default 2000]
# The endpoint is paused while the events are made, then enabled: the number is the time to
# drain the backlog. Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
db=${1:-sqlite}
n=${2:-2000}
bin=$root/target/release/lanyard
[ -x "$bin" ] || bin=$root/target/debug/lanyard
work=$(mktemp -d)
port=39$(( RANDOM % 90 + 10 ))
case "$db" in
  sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
  postgres)
    name="lanyard_bench_$$"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name" ;;
  *) echo "usage: $0 sqlite|postgres [events]"; exit 2 ;;
esac
export LANYARD_LISTEN=127.0.0.1:$port LANYARD_PUBLIC_URL=http://127.0.0.1:$port \
  LANYARD_DATA_DIR=$work LANYARD_RATE_LIMITS=off LEPTOS_SITE_ROOT=$root/target/site LANYARD_LOG=warn \
  LANYARD_ALLOW_PRIVATE_NETWORK=true
"$bin" migrate >/dev/null
key=$("$bin" api-key create --name bench | tail -1)
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
RECEIVER_PORT=0 node tests/support/webhook_receiver.mjs >"$work/rx.log" 2>&1 &
rx=$!
cleanup() {
  kill $server $rx 2>/dev/null || true
  wait $server 2>/dev/null || true
  [ "$db" = postgres ] && psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
for _ in $(seq 1 50); do grep -q '^READY ' "$work/rx.log" && break; sleep 0.1; done
rxurl="http://127.0.0.1:$(sed -n 's/^READY //p' "$work/rx.log")"
echo "lanyard: $bin ($( [ "$bin" = "$root/target/release/lanyard" ] && echo release || echo debug )), database: $db, $(nproc) cores, $n events"
node benches/webhooks.mjs --base "http://127.0.0.1:$port" --key "$key" --receiver "$rxurl" --events "$n" --pid "$server"
