#!/usr/bin/env bash
# Audit export memory and speed: puts N events (default 100,000) in one organization's chain, then
# downloads the CSV and NDJSON exports while sampling the server's RSS.
#   bash benches/audit_export.sh sqlite|postgres [events]
# Uses target/release/lanyard when present, else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
n=${2:-100000}
. benches/common.sh
org=$(api -d '{"name":"Bench"}' "$base/api/v1/organizations" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
ins="INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash)"
row="'$org', s + 1, '$org', 'dsync.user.updated', 'directory', 'dir_bench', 'Okta', '[{\"type\":\"user\",\"id\":\"user_' || s || '\",\"name\":\"person' || s || '@acme.test\"}]', 1700000000000 + s, '{\"changed\":[\"name\",\"title\"]}', 'x', 'y'"
case "$db" in
  sqlite) python3 - "$work/bench.db" "$n" "$org" <<'PY'
import sqlite3, sys
db, n, org = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = sqlite3.connect(db)
c.executemany(
    "INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash) VALUES (?, ?, ?, ?, 'dsync.user.updated', 'directory', 'dir_bench', 'Okta', ?, ?, '{\"changed\":[\"name\",\"title\"]}', 'x', 'y')",
    ((f"audit_bench{s:020d}", org, s + 1, org, f'[{{"type":"user","id":"user_{s}","name":"person{s}@acme.test"}}]', 1700000000000 + s) for s in range(1, n + 1)))
c.commit()
PY
  ;;
  postgres) psql -q "$DATABASE_URL" -c "$ins SELECT 'audit_bench' || lpad(s::text, 20, '0'), $row FROM generate_series(1, $n) s" ;;
esac
peak() { awk '/VmRSS/ {print int($2/1024)}' /proc/$server/status; }
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, $n events; RSS before: $(peak) MiB"
for fmt in csv ndjson; do
  max=0
  start=$(date +%s.%N)
  curl -sf -H "Authorization: Bearer $key" "$base/api/v1/audit_events/export?organization_id=$org&format=$fmt" -o "$work/out.$fmt" &
  dl=$!
  while kill -0 $dl 2>/dev/null; do r=$(peak); [ "$r" -gt "$max" ] && max=$r; sleep 0.05; done
  wait $dl
  secs=$(python3 -c "import time;print(round(time.time()-$start,2))")
  echo "$fmt: $(wc -l <"$work/out.$fmt") lines, $(( $(stat -c %s "$work/out.$fmt") / 1048576 )) MiB in ${secs}s; server RSS peak during export ${max} MiB"
done
