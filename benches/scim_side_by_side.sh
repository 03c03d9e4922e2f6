#!/usr/bin/env bash
# The same SCIM load (benches/scim_sync.mjs: Entra-shaped users, 8 clients) against the Python
# reference server scim2-server (PyPI, pinned below; in-memory storage, threaded WSGI) and then
# against Lanyard on a fresh SQLite file, one after the other; prints both and the ratio.
#   bash benches/scim_side_by_side.sh [--users 10000] [--concurrency 8] [--groups 0] …
# Extra arguments go to both runs of scim_sync.mjs. scim2-server is installed once into a venv
# under target/. Uses target/release/lanyard when present, else target/debug/lanyard.
set -euo pipefail
cd "$(dirname "$0")/.."
SCIM2_SERVER_VERSION=0.8.3
venv=$(pwd)/target/scim2-server-venv
if [ ! -x "$venv/bin/scim2-server" ] || ! "$venv/bin/pip" show scim2-server 2>/dev/null | grep -qx "Version: $SCIM2_SERVER_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "scim2-server==$SCIM2_SERVER_VERSION"
fi
args=(--groups 0 "$@")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load: $(uptime | sed 's/.*load average: //')"

run_shapes() { # label base token pid
  for shape in yes no; do
    node benches/scim_sync.mjs --base "$2" --token "$3" --pid "$4" --lookup "$shape" --prefix "$1-$shape-" \
      --result "$1-$shape" "${args[@]}" | tee -a "$out"
  done
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "=== scim2-server $SCIM2_SERVER_VERSION (Python $("$venv/bin/python" -c 'import sys;print(sys.version.split()[0])'), in memory)"
pyport=$(( 39000 + RANDOM % 900 ))
"$venv/bin/scim2-server" --port "$pyport" --bearer-token bench >/dev/null 2>&1 &
py=$!
for _ in $(seq 1 100); do curl -sf -H 'Authorization: Bearer bench' "http://127.0.0.1:$pyport/ServiceProviderConfig" >/dev/null && break; sleep 0.2; done
run_shapes python "http://127.0.0.1:$pyport" bench "$py"
kill "$py"; wait "$py" 2>/dev/null || true

echo "=== Lanyard (SQLite)"
db=sqlite
. benches/common.sh
scim_directory entra
echo "lanyard: $bin ($bin_kind)"
run_shapes lanyard "$url" "$token" "$server"

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
