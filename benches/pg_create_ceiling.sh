#!/usr/bin/env bash
# What PostgreSQL alone allows for SCIM creates on this machine: replays one create's statements
# (benches/pg_create_ceiling.py) with pgbench, 8 clients over TCP with TLS, no Lanyard in the
# loop, with 1, 4 and 8 creates per transaction, alternating, and prints creates per second and
# PostgreSQL's CPU per create (the machine's busy time minus pgbench's own). It bounds what any
# build of Lanyard can reach on PostgreSQL: with one create per transaction, as Lanyard writes
# today, PostgreSQL's own CPU per create caps the rate before Lanyard's is added. First it
# prints the machine's commit ceiling (one-row inserts, 1 and 8 clients).
#   bash benches/pg_create_ceiling.sh [seconds per run, default 15] [rounds, default 2] [sizes, default "1 4 8"]
# Needs pgbench (postgresql-client) and a built lanyard (for its migrations).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
rounds=${2:-2}
sizes=${3:-1 4 8}
command -v pgbench >/dev/null || { echo "pgbench is needed (apt-get install postgresql-client)"; exit 2; }
bin=${BENCH_BIN:-target/release/lanyard}
[ -x "$bin" ] || bin=target/debug/lanyard
name="lanyard_ceiling_$$"
work=$(mktemp -d)
cleanup() {
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name" LANYARD_DATA_DIR=$work LANYARD_LOG=warn \
  "$bin" migrate >/dev/null
psql -h 127.0.0.1 -U postgres -d "$name" -qc "INSERT INTO organizations (id, name, created_at, updated_at) VALUES ('org_bench', 'Bench', 1, 1); INSERT INTO directories (id, organization_id, kind, name, authoritative, created_at, updated_at) VALUES ('dir_bench', 'org_bench', 'entra', 'Bench', 1, 1, 1)"
for n in $sizes; do python3 benches/pg_create_ceiling.py "$n" > "$work/b$n.sql"; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pgbench: 8 clients, one thread, prepared statements, TLS on the loopback, $secs s per run"
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
# The commit ceiling: a one-row insert per transaction, 1 and 8 clients. Every create Lanyard
# answers waits for one commit's WAL flush, so with 8 clients the creates per second cannot pass
# 8 ÷ (the flush's latency + the create's own work); PostgreSQL flushes the waiting commits
# together, so the 8-client rate is several 1-client ones.
psql -h 127.0.0.1 -U postgres -d "$name" -qc "CREATE TABLE bench_commit (id BIGSERIAL PRIMARY KEY, v TEXT)"
echo "INSERT INTO bench_commit (v) VALUES ('x');" > "$work/commit.sql"
for c in 1 8; do
  out=$(PGSSLMODE=require pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$c" -j 1 -T 5 -f "$work/commit.sql" "$name" 2>&1)
  echo "commit ceiling, $c client(s): $(echo "$out" | sed -n 's/^tps = \([0-9]*\).*/\1/p') commits/s, $(echo "$out" | sed -n 's/^latency average = //p') per commit"
  echo "RESULT commit_clients=$c commits_per_s=$(echo "$out" | sed -n 's/^tps = \([0-9]*\).*/\1/p')"
done
for round in $(seq 1 "$rounds"); do
  for n in $sizes; do
    # Warm the prepared statements and the caches; not counted.
    PGSSLMODE=require pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 1 -t 5 -f "$work/b$n.sql" "$name" >/dev/null 2>&1
    b0=$(busy)
    out=$( { /usr/bin/time -f "TIME %U %S" env PGSSLMODE=require pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 1 -T "$secs" -f "$work/b$n.sql" "$name"; } 2>&1)
    b1=$(busy)
    tx=$(echo "$out" | sed -n 's/number of transactions actually processed: \([0-9]*\).*/\1/p')
    failed=$(echo "$out" | sed -n 's/number of failed transactions: \([0-9]*\).*/\1/p')
    read -r u s < <(echo "$out" | sed -n 's/^TIME //p')
    python3 - "$n" "$tx" "${failed:-0}" "$secs" "$b0" "$b1" "$u" "$s" "$(getconf CLK_TCK)" "$round" <<'PY'
import sys
n, tx, failed, secs, b0, b1 = (int(x) for x in sys.argv[1:7])
u, s, tck, rnd = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9]), sys.argv[10]
busy = (b1 - b0) / tck
client = u + s
creates = tx * n
print(f"round {rnd}  {n:>2} per transaction: {creates / secs:>6.0f} creates/s, "
      f"PostgreSQL {(busy - client) * 1000 / max(creates, 1):.3f} ms CPU per create "
      f"(machine {busy / secs:.2f} cores busy, pgbench {client / secs:.2f}; {failed} failed)")
print(f"RESULT per_tx={n} creates_per_s={creates / secs:.0f} pg_cpu_ms={(busy - client) * 1000 / max(creates, 1):.3f}")
PY
  done
done
