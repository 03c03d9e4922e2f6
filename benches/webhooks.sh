#!/usr/bin/env bash
# Webhook delivery throughput: events per second delivered, signed, to a local receiver that
# verifies each signature (npm standardwebhooks).
#   bash benches/webhooks.sh sqlite|postgres [events, default 2000]
# The endpoint is paused while the events are made, then enabled: the number is the time to
# drain the backlog. Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
n=${2:-2000}
extra_env="LANYARD_ALLOW_PRIVATE_NETWORK=true"
before_exit='kill $rx'
. benches/common.sh
RECEIVER_PORT=0 node tests/support/webhook_receiver.mjs >"$work/rx.log" 2>&1 &
rx=$!
for _ in $(seq 1 50); do grep -q '^READY ' "$work/rx.log" && break; sleep 0.1; done
rxurl="http://127.0.0.1:$(sed -n 's/^READY //p' "$work/rx.log")"
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, $n events"
node benches/webhooks.mjs --base "$base" --key "$key" --receiver "$rxurl" --events "$n" --pid "$server"
