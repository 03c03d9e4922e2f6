#!/usr/bin/env bash
# The same SCIM load against the Python reference server scim2-server (PyPI, pinned below;
# in-memory storage, threaded WSGI) and then against Lanyard on a fresh SQLite file, one after
# the other; prints both and the ratio. The load is wrk with benches/scim_creates.lua, the load
# script of benches/scim_wrk.sh: Entra-shaped users, 8 connections, N users, once creates only
# and once an Okta-style lookup (GET /Users?filter=userName eq …) before each create. wrk (C,
# one thread) takes a small share of the two cores, so the generator bounds neither server.
#   bash benches/scim_side_by_side.sh [users, default 10000]
# GENERATOR=node uses benches/scim_sync.mjs (Node.js) for both instead, as before 2026-12-06;
# that generator takes most of a core and bounds Lanyard's figure (README, Performance).
# scim2-server is installed once into a venv under target/. Uses target/release/lanyard when
# present, else target/debug/lanyard (BENCH_BIN overrides). WARMUP=N (default 300) users are
# sent to each server first and not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
SCIM2_SERVER_VERSION=0.8.3
users=${1:-10000}
generator=${GENERATOR:-wrk}
warmup=${WARMUP:-300}
venv=$(pwd)/target/scim2-server-venv
if [ ! -x "$venv/bin/scim2-server" ] || ! "$venv/bin/pip" show scim2-server 2>/dev/null | grep -qx "Version: $SCIM2_SERVER_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "scim2-server==$SCIM2_SERVER_VERSION"
fi
[ "$generator" = node ] || command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 2; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load: $(uptime | sed 's/.*load average: //')"
echo "load: $generator, $users users per shape, 8 connections, $warmup users of warm-up per server"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One shape (yes: lookup then create; no: creates only) against one server; appends
# `RESULT label-shape users_per_s=… cpu_ms_per_user=… p99_ms=…` to $out.
run_shape() { # label base token pid shape
  local label=$1 base=$2 tok=$3 pid=$4 shape=$5
  if [ "$generator" = node ]; then
    node benches/scim_sync.mjs --base "$base" --token "$tok" --pid "$pid" --lookup "$shape" \
      --prefix "$label-$shape-" --result "$label-$shape" --users "$users" --groups 0 | tee -a "$out"
    return
  fi
  if [ "$warmup" -gt 0 ]; then
    wrk -t1 -c8 -d600s -s benches/scim_creates.lua "$base/Users" -- "$tok" "$warmup" "$label-warm-$shape-" "$shape" >/dev/null
  fi
  local c0 c1 line
  c0=$(cpu_of "$pid")
  line=$(wrk -t1 -c8 -d600s --latency -s benches/scim_creates.lua "$base/Users" -- "$tok" "$users" "$label-$shape-" "$shape" \
    | grep '^RESULT ')
  c1=$(cpu_of "$pid")
  python3 - "$label-$shape" "$line" "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY' | tee -a "$out"
import sys
name, line, c0, c1, tck = sys.argv[1:]
r = dict(kv.split("=") for kv in line.split()[1:])
if int(r["failed"]) or int(r["created"]) < int(r["users"]) - int(r["failed"]):
    sys.exit(f"{name}: {r['failed']} requests failed")
cpu = (float(c1) - float(c0)) / float(tck)
print(f"{name}: {r['users_per_s']} users/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
      f"server CPU {cpu / float(r['users']) * 1000:.3f} ms per user ({r['created']} created, {r['lookups']} lookups)")
print(f"RESULT {name} users_per_s={r['users_per_s']} cpu_ms_per_user={cpu / float(r['users']) * 1000:.4f}")
PY
}

echo "=== scim2-server $SCIM2_SERVER_VERSION (Python $("$venv/bin/python" -c 'import sys;print(sys.version.split()[0])'), in memory)"
pyport=$(( 39000 + RANDOM % 900 ))
"$venv/bin/scim2-server" --port "$pyport" --bearer-token bench >/dev/null 2>&1 &
py=$!
for _ in $(seq 1 100); do curl -sf -H 'Authorization: Bearer bench' "http://127.0.0.1:$pyport/ServiceProviderConfig" >/dev/null && break; sleep 0.2; done
for shape in yes no; do run_shape python "http://127.0.0.1:$pyport" bench "$py" "$shape"; done
kill "$py"; wait "$py" 2>/dev/null || true

echo "=== Lanyard (SQLite)"
db=sqlite
. benches/common.sh
scim_directory entra
echo "lanyard: $bin ($bin_kind)"
for shape in yes no; do run_shape lanyard "$url" "$token" "$server" "$shape"; done

python3 - "$out" <<'PY'
import sys
r = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        _, name, *kv = line.split()
        r[name] = dict(x.split("=") for x in kv)
print()
print(f"{'shape':32} {'scim2-server':>14} {'Lanyard':>10} {'ratio':>8}")
for shape, label in (("yes", "lookup + create (users/s)"), ("no", "create only (users/s)")):
    p, l = float(r[f"python-{shape}"]["users_per_s"]), float(r[f"lanyard-{shape}"]["users_per_s"])
    print(f"{label:32} {p:14.0f} {l:10.0f} {l / p:7.1f}x")
for shape, label in (("yes", "lookup + create"), ("no", "create only")):
    p, l = float(r[f"python-{shape}"]["cpu_ms_per_user"]), float(r[f"lanyard-{shape}"]["cpu_ms_per_user"])
    print(f"server CPU ms per user, {label:16} {p:14.3f} {l:10.3f} {p / l:7.1f}x")
PY
