#!/usr/bin/env bash
# SCIM ingest with wrk as the load generator: Entra-shaped user creates (benches/scim_creates.lua),
# 8 connections, until N users are done, on a fresh SQLite file or PostgreSQL database; prints the
# users per second, wrk's latency distribution and the server's CPU per user.
#   bash benches/scim_wrk.sh sqlite|postgres [users, default 10000] [lookup: yes|no, default no]
# wrk (C, one thread) uses far less CPU than the Node.js generator of benches/scim_sync.sh, which
# takes most of the second core on this two-core machine; both print their figure in the README.
# Uses target/release/lanyard when present, else target/debug/lanyard (BENCH_BIN overrides).
# WARMUP=N sends N users first (default 300; 0 for none) and prints their figures apart.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
users=${2:-10000}
lookup=${3:-no}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
. benches/common.sh
scim_directory entra
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores, $users users, lookup before create: $lookup"
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# CPU of every PostgreSQL process (backends, WAL writer, checkpointer), 0 on SQLite.
pg_cpu() {
  if [ "$db" = postgres ]; then
    for p in $(pgrep -x postgres); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'
  else echo 0; fi
}
# The first requests after start open the database connections (on PostgreSQL each with a TLS
# handshake unless sslmode=disable) and prepare their statements: they are measured apart, in a
# warm-up of WARMUP users (default 300), and printed, so that the run's p99 is the steady state's.
warmup=${WARMUP:-300}
if [ "$warmup" -gt 0 ]; then
  wrk -t1 -c8 -d600s -s benches/scim_creates.lua "$url/Users" -- "$token" "$warmup" "warm$RANDOM-" "$lookup" \
    | sed -n 's/^RESULT /warm-up, the first requests after start: /p'
fi
c0=$(cpu); p0=$(pg_cpu)
wrk -t1 -c8 -d600s --latency -s benches/scim_creates.lua "$url/Users" -- "$token" "$users" "wrk$RANDOM-" "$lookup" | tee "$work/wrk.out"
c1=$(cpu); p1=$(pg_cpu)
python3 - "$work/wrk.out" "$c0" "$c1" "$(getconf CLK_TCK)" "$p0" "$p1" <<'PY'
import sys
line = next(l for l in open(sys.argv[1]) if l.startswith("RESULT "))
r = dict(kv.split("=") for kv in line.split()[1:])
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4])
users, secs = float(r["users"]), float(r["seconds"])
print(f"users per second: {r['users_per_s']} ({r['created']} created, {r['failed']} failed, {r['lookups']} lookups of which {r['lookup_hits']} found the user)")
print(f"server CPU: {cpu:.1f} s over {secs:.1f} s wall ({cpu / secs * 100:.0f}% of one core), {cpu / users * 1000:.3f} ms per user")
pg = (float(sys.argv[6]) - float(sys.argv[5])) / float(sys.argv[4])
if pg:
    print(f"PostgreSQL CPU (all its processes): {pg:.1f} s ({pg / secs * 100:.0f}% of one core), {pg / users * 1000:.3f} ms per user")
if int(r["failed"]) or int(r["created"]) < users:
    sys.exit("some creates failed")
PY
# PostgreSQL: how the creates were batched (concurrent creates written in one transaction);
# SQLite: how many writes (creates and the request log's) each commit of the writer carried.
curl -sf "$base/metrics" | DB=$db python3 -c '
import os, sys, re
m = {}
for l in sys.stdin:
    r = re.match(r"(lanyard_(?:scim_create_batch|sqlite_commit)\w*)(\{[^}]*\})? ([0-9.e+]+)", l)
    if r: m[r.group(1) + (r.group(2) or "")] = float(r.group(3))
if os.environ["DB"] == "postgres":
    ok = m.get("lanyard_scim_create_batches_total{outcome=\"committed\"}", 0)
    back = m.get("lanyard_scim_create_batches_total{outcome=\"rolled_back\"}", 0)
    n = m.get("lanyard_scim_create_batched_total", 0)
    if ok:
        print(f"batches of creates: {ok:.0f} committed, {n / ok:.2f} creates per batch on average (warm-up included), {back:.0f} rolled back")
else:
    c = m.get("lanyard_sqlite_commits_total", 0)
    w = m.get("lanyard_sqlite_committed_writes_total", 0)
    if c:
        print(f"SQLite commits: {c:.0f}, {w / c:.2f} writes per commit on average (warm-up and request log included)")
'
