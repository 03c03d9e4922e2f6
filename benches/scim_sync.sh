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
org=$(api -d '{"name":"Bench"}' "$base/api/v1/organizations" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
read -r url token < <(api -d '{"type":"okta","name":"Bench"}' "$base/api/v1/organizations/$org/directories" \
  | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["scim_base_url"], d["bearer_token"])')
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores"
node benches/scim_sync.mjs --base "$url" --token "$token" --pid "$server" "$@"
