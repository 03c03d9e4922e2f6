#!/usr/bin/env bash
# Audited writes: SCIM creates into one organization's directory, then into eight organizations'
# directories at once (each its own IdP with the same number of clients), printed side by side;
# before that, what one create costs the database, measured one at a time (load-insensitive):
# SQL statements per create (the request-log row included) and, on SQLite, WAL pages per create.
#
#   bash benches/audited_writes.sh sqlite|postgres [--users N] [--concurrency C] [--orgs K]
#   bash benches/audited_writes.sh sqlite|postgres --cost-only     (the cost part alone)
# N users per directory (default 2000), C clients per directory (default 8), K organizations
# (default 8). Uses target/release/lanyard when built (see benches/common.sh). GENERATOR=node
# sends the load from one Node.js process (benches/audited_writes.mjs), as before 2026-12-07;
# the default is wrk. WARMUP=N creates (default 300) go first, not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
shift || true
users=2000 conc=8 orgs=8 cost_only=no
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users=$2; shift 2 ;;
    --concurrency) conc=$2; shift 2 ;;
    --orgs) orgs=$2; shift 2 ;;
    --cost-only) cost_only=yes; shift ;;
    *) echo "unknown option $1"; exit 2 ;;
  esac
done

if [ "$cost_only" = no ]; then
  bash "$0" "$db" --cost-only
fi

if [ "$cost_only" = yes ]; then
  # Every statement logged (slow, so never during the rate runs).
  extra_env="LANYARD_LOG=warn,sqlx::query=debug"
fi
pin=""
stop_pin() { if [ -n "$pin" ]; then kill "$pin" 2>/dev/null || true; fi; }
before_exit=stop_pin
if [ "$cost_only" = yes ]; then
  # The setup commands log every statement too: keep that out of the output.
  . benches/common.sh 2>/dev/null
else
  . benches/common.sh
fi

directory() { # org name -> "scim_base_url,bearer_token"
  local org
  org=$(api -d "{\"name\":\"$1\"}" "$base/api/v1/organizations" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
  api -d '{"type":"okta","name":"Bench"}' "$base/api/v1/organizations/$org/directories" \
    | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["scim_base_url"]+","+d["bearer_token"])'
}
wal_file=""
[ "$db" = sqlite ] && wal_file="$work/bench.db-wal"

if [ "$cost_only" = yes ]; then
  k=100
  one=$(directory "Cost")
  node benches/audited_writes.mjs --dirs "$one" --users 5 --concurrency 1 --prefix warm >/dev/null
  sleep 1
  if [ "$db" = sqlite ]; then
    # A reader pinned at an old snapshot: no checkpoint can restart the WAL, so it grows by
    # exactly the pages the creates write.
    python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN")
c.execute("SELECT COUNT(*) FROM organizations").fetchall()
time.sleep(120)' "$work/bench.db" &
    pin=$!
    sleep 0.5
  fi
  wal0=$( [ -n "$wal_file" ] && stat -c %s "$wal_file" || echo 0)
  lines0=$(grep -c 'sqlx::query' "$work/server.log" || true)
  node benches/audited_writes.mjs --dirs "$one" --users $k --concurrency 1 --prefix cost >/dev/null
  sleep 1.5
  lines1=$(grep -c 'sqlx::query' "$work/server.log" || true)
  wal1=$( [ -n "$wal_file" ] && stat -c %s "$wal_file" || echo 0)
  stmts=$(python3 -c "print(f'{($lines1 - $lines0) / $k:.1f}')")
  echo "lanyard: $bin ($bin_kind), database: $db"
  echo "cost of one SCIM create, $k creates one at a time: $stmts SQL statements per create (request log and token checks included)"
  if [ "$db" = sqlite ]; then
    python3 -c "print(f'  WAL pages written per create: {($wal1 - $wal0) / 4120 / $k:.1f} ({($wal1 - $wal0) / $k / 1024:.0f} KiB)')"
  fi
  exit 0
fi

single=$(directory "Single")
warm=$(directory "Warm-up")
many=""
for i in $(seq 1 "$orgs"); do many="$many$(directory "Org $i");"; done
generator=${GENERATOR:-wrk}
[ "$generator" = node ] || command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk), or GENERATOR=node"; exit 2; }
# The load of one run: node (benches/audited_writes.mjs, one Node.js process for every client),
# or wrk (the default since 2026-12-07: one wrk per directory, each with its C clients and
# benches/scim_creates.lua's Entra-shaped creates, started together; C, a small share of the two
# cores, where Node.js takes most of one and bounds both figures). Prints one line and
# `RATE creates/s` (every directory's creates over the slowest directory's time).
load() { # label prefix users dirs(URL,TOKEN;…)
  local label=$1 prefix=$2 n=$3 dirs=$4
  if [ "$generator" = node ]; then
    node benches/audited_writes.mjs --dirs "$dirs" --users "$n" --concurrency "$conc" --pid "$server" ${wal_file:+--wal "$wal_file"} --label "$label" --prefix "$prefix"
    return
  fi
  local c0 s0 i=0 pids=() d
  c0=$(awk '{print $14 + $15}' "/proc/$server/stat")
  s0=$(head -1 /proc/stat)
  IFS=';' read -ra each <<<"$dirs"
  for d in "${each[@]}"; do
    wrk -t1 -c"$conc" -d600s --latency -s benches/scim_creates.lua "${d%%,*}/Users" -- "${d#*,}" "$n" "$prefix$i-" no \
      >"$work/wrk-$prefix-$i.out" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  python3 - "$label" "${#each[@]}" "$conc" "$c0" "$(awk '{print $14 + $15}' "/proc/$server/stat")" "$(getconf CLK_TCK)" "$s0" "$(head -1 /proc/stat)" "$work"/wrk-"$prefix"-*.out <<'PY2'
import sys
label, dirs, conc, c0, c1, tck, s0, s1, *files = sys.argv[1:]
rs = []
for f in files:
    line = next((l for l in open(f) if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"{label}: wrk printed no result ({open(f).read()[-300:]})")
    rs.append(dict(kv.split("=") for kv in line.split()[1:]))
created = sum(int(r["created"]) for r in rs)
failed = sum(int(r["failed"]) for r in rs)
secs = max(float(r["seconds"]) for r in rs)
cpu = (float(c1) - float(c0)) / float(tck)
# The machine's idle share over the run (/proc/stat: idle + iowait of all cores): what a faster
# server could still have used.
a, b = [list(map(int, x.split()[1:])) for x in (s0, s1)]
idle = (b[3] + b[4] - a[3] - a[4]) / max(1, sum(b) - sum(a))
print(f"{label:<26} {int(dirs) * int(conc):>3} clients  n={created:>6}  {created / secs:>6.0f} creates/s  "
      f"p50 {max(float(r['p50_ms']) for r in rs):>6.1f} ms  p99 {max(float(r['p99_ms']) for r in rs):>6.1f} ms "
      f"(slowest directory's)  server CPU {cpu / secs * 100:.0f}%  machine idle {idle * 100:.0f}%")
if failed:
    print(f"  {failed} failed")
    sys.exit(1)
print(f"RATE {created / secs:.1f}")
PY2
}

echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
echo "SCIM creates (creates only), $users users per directory, $conc clients per directory, load: $generator:"
# The server's first requests open its database connections and prepare their statements: a
# warm-up of WARMUP creates (default 300, 0 for none) into an organization of its own goes
# first, so that neither timed run carries the cold start.
warmup=${WARMUP:-300}
if [ "$warmup" -gt 0 ]; then
  load "warm-up (not counted)" warm "$warmup" "$warm" | grep -v '^RATE'
fi
one=$(load "1 organization" one "$users" "$single")
echo "$one" | grep -v '^RATE'
all=$(load "$orgs organizations at once" many "$users" "$many")
echo "$all" | grep -v '^RATE'
r1=$(echo "$one" | sed -n 's/^RATE //p')
rk=$(echo "$all" | sed -n 's/^RATE //p')
python3 -c "print(f'$orgs organizations / 1 organization: {$rk / $r1:.2f}x')"
echo "load after: $(uptime | sed 's/.*load average: //')"
