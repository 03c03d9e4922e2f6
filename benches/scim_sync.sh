#!/usr/bin/env bash
# Runs benches/scim_sync.mjs against a real Lanyard on a fresh SQLite file or PostgreSQL database.
#   bash benches/scim_sync.sh sqlite|postgres [extra args for scim_sync.mjs]
# Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
db=${1:-sqlite}
shift || true
bin=$root/target/release/lanyard
[ -x "$bin" ] || bin=$root/target/debug/lanyard
work=$(mktemp -d)
port=38$(( RANDOM % 90 + 10 ))
case "$db" in
  sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
  postgres)
    name="lanyard_bench_$$"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name" ;;
  *) echo "usage: $0 sqlite|postgres"; exit 2 ;;
esac
export LANYARD_LISTEN=127.0.0.1:$port LANYARD_PUBLIC_URL=http://127.0.0.1:$port \
  LANYARD_DATA_DIR=$work LANYARD_RATE_LIMITS=off LEPTOS_SITE_ROOT=$root/target/site LANYARD_LOG=warn
"$bin" migrate >/dev/null
key=$("$bin" api-key create --name bench | tail -1)
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  [ "$db" = postgres ] && psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
api() { curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' "$@"; }
org=$(api -d '{"name":"Bench"}' "http://127.0.0.1:$port/api/v1/organizations" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
read -r url token < <(api -d '{"type":"okta","name":"Bench"}' "http://127.0.0.1:$port/api/v1/organizations/$org/directories" \
  | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["scim_base_url"], d["bearer_token"])')
echo "lanyard: $bin ($( [ "$bin" = "$root/target/release/lanyard" ] && echo release || echo debug )), database: $db, $(nproc) cores"
node benches/scim_sync.mjs --base "$url" --token "$token" --pid "$server" "$@"
