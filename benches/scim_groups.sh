#!/usr/bin/env bash
# Runs benches/scim_groups.mjs (100-member PATCHes; a 20,000-member push while another directory
# works) against a real Lanyard on a fresh SQLite file or PostgreSQL database.
#   bash benches/scim_groups.sh sqlite|postgres [extra args for scim_groups.mjs]
# Uses target/release/lanyard when present (`cargo build --release --features ssr --bin lanyard`).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
shift || true
. benches/common.sh
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
node benches/scim_groups.mjs --base "$base" --key "$key" "$@"
