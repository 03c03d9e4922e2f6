#!/usr/bin/env bash
# SCIM ingest (issue 17, target 1): 10,000 Entra-shaped users from 8 clients on SQLite and on
# PostgreSQL, in the shapes of benches/scim_sync.sh (lookup by userName then create, then 100
# groups) and creates only; prints each run and a summary beside the targets.
#   bash benches/scim_ingest.sh [sqlite] [postgres] [-- extra args for scim_sync.mjs]
set -euo pipefail
cd "$(dirname "$0")/.."
dbs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do dbs+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#dbs[@]} -gt 0 ] || dbs=(sqlite postgres)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
for db in "${dbs[@]}"; do
  echo "=== $db: lookup + create, then groups; load: $(uptime | sed 's/.*load average: //')"
  bash benches/scim_sync.sh "$db" --result "$db-lookup" "$@" | tee -a "$out"
  echo "=== $db: creates only; load: $(uptime | sed 's/.*load average: //')"
  bash benches/scim_sync.sh "$db" --lookup no --groups 0 --result "$db-create" "$@" | tee -a "$out"
done
python3 - "$out" <<'PY'
import sys
r = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        _, name, *kv = line.split()
        r[name] = dict(x.split("=") for x in kv)
target = {"sqlite": 3000, "postgres": 2300}
print()
print(f"{'run':26} {'users/s':>8} {'target':>8} {'create p99':>11} {'CPU ms/user':>12}")
for name, v in r.items():
    db, shape = name.split("-")
    goal = f"≥{target[db]}" if shape == "create" else "≥2000"
    print(f"{db + ' ' + ('creates only' if shape == 'create' else 'lookup + create'):26} {v['users_per_s']:>8} {goal:>8} {v['create_p99'] + ' ms':>11} {v['cpu_ms_per_user']:>12}")
PY
