#!/usr/bin/env bash
# Runs benches/scim_sync.mjs against a real Lanyard on a fresh SQLite file or PostgreSQL database.
#   bash benches/scim_sync.sh sqlite|postgres [extra args for scim_sync.mjs]
# Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
shift || true
. benches/common.sh
scim_directory okta
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores"
node benches/scim_sync.mjs --base "$url" --token "$token" --pid "$server" "$@"
