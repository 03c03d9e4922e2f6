#!/usr/bin/env bash
# Webhook delivery throughput: events per second delivered, signed, to a local receiver that
# verifies each signature (npm standardwebhooks).
#   bash benches/webhooks.sh sqlite|postgres [events, default 2000] [slow-scenario events, default min(events, 5000)]
# 1. Drain: the endpoint is paused while the events are made, then enabled; the number is the
#    time to drain the backlog.
# 2. Slow endpoint: a second endpoint whose receiver never answers (each attempt ends at the
#    10 s HTTP timeout) is added; both are paused while more events are made, then enabled
#    together; the number is the healthy endpoint's rate while the other one hangs.
# Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
n=${2:-2000}
slow_n=${3:-$(( n < 5000 ? n : 5000 ))}
extra_env="LANYARD_ALLOW_PRIVATE_NETWORK=true"
. benches/common.sh
start_receiver() {
  RECEIVER_PORT=0 node tests/support/webhook_receiver.mjs >"$work/$1.log" 2>&1 &
  echo $!
}
rx=$(start_receiver rx)
slow=$(start_receiver slow)
before_exit="kill $rx $slow"
for f in rx slow; do
  for _ in $(seq 1 50); do grep -q '^READY ' "$work/$f.log" && break; sleep 0.1; done
done
rxurl="http://127.0.0.1:$(sed -n 's/^READY //p' "$work/rx.log")"
slowurl="http://127.0.0.1:$(sed -n 's/^READY //p' "$work/slow.log")"
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, $n events (slow-endpoint scenario: $slow_n)"
echo "load: $(uptime)"
node benches/webhooks.mjs --base "$base" --key "$key" --receiver "$rxurl" --slow-receiver "$slowurl" \
  --events "$n" --slow-events "$slow_n" --pid "$server"
echo "load: $(uptime)"
# PostgreSQL: how many updates of the deliveries (leases, outcomes) were heap-only (no index
# entry written; a lease is one when no index names next_attempt_at and the page has room).
# Backends report their counts within a few seconds of their last transaction: read until two
# readings a second apart agree (at most 12 s).
if [ "$db" = postgres ]; then
  hot() { psql -h 127.0.0.1 -U postgres -d "$name" -Atc "SELECT n_tup_upd || ' updates, ' || n_tup_hot_upd || ' heap-only' FROM pg_stat_user_tables WHERE relname = 'webhook_deliveries'"; }
  last=$(hot)
  for _ in $(seq 1 12); do sleep 1; now=$(hot); [ "$now" = "$last" ] && break; last=$now; done
  echo "webhook_deliveries: $now"
fi
