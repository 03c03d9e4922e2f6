#!/usr/bin/env bash
# Runs benches/scim_limits.mjs (a 40,000-member PATCH and a large group push while another tenant
# writes) against a real Lanyard on a fresh SQLite file or PostgreSQL database.
#   bash benches/scim_limits.sh sqlite|postgres [extra args for scim_limits.mjs]
# Uses target/release/lanyard when present (`cargo build --release --features ssr --bin lanyard`).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
shift || true
. benches/common.sh
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores"
node benches/scim_limits.mjs --base "$base" --key "$key" "$@"
