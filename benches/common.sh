# Sourced by the benchmark scripts: starts a real Lanyard on a fresh SQLite file or PostgreSQL
# database and cleans up on exit. Before sourcing set `db` (sqlite|postgres); optionally `extra_env`
# (more VAR=value words to export) and `before_exit` (a command run first on exit).
# Sets: root, bin (target/release/lanyard when built, else target/debug/lanyard; BENCH_BIN
# names another binary, e.g. one built from an older commit to compare), work, port,
# base (http://127.0.0.1:port), key (an API key), server (the pid), bin_kind (release|debug|given).
root=$(pwd)
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
  bin_kind=given
else
  bin=$root/target/release/lanyard
  [ -x "$bin" ] || bin=$root/target/debug/lanyard
  bin_kind=$( [ "$bin" = "$root/target/release/lanyard" ] && echo release || echo debug )
fi
work=$(mktemp -d)
# A port no socket uses now (listening or not: outgoing connections take ports in this range too,
# and a run once failed to listen on one a previous run's wrk connection still held).
while :; do
  port=$(( 37000 + RANDOM % 2000 ))
  [ -z "$(ss -Htan "sport = :$port" 2>/dev/null)" ] && break
done
case "$db" in
  sqlite) export DATABASE_URL="sqlite://$work/bench.db" ;;
  postgres)
    name="lanyard_bench_$$"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $name"
    # PG_URL replaces the server part (e.g. a Unix socket: 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql');
    # PG_PARAMS is appended (e.g. '?sslmode=disable').
    export DATABASE_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}/$name${PG_PARAMS:-}" ;;
  *) echo "usage: $0 sqlite|postgres …"; exit 2 ;;
esac
export LANYARD_LISTEN=127.0.0.1:$port LANYARD_PUBLIC_URL=http://127.0.0.1:$port \
  LANYARD_DATA_DIR=$work LANYARD_RATE_LIMITS=off LEPTOS_SITE_ROOT=$root/target/site LANYARD_LOG=warn
for kv in ${extra_env:-}; do export "${kv?}"; done
base="http://127.0.0.1:$port"
"$bin" migrate >/dev/null 2>"$work/cli.log" || { cat "$work/cli.log"; exit 1; }
key=$("$bin" api-key create --name bench 2>>"$work/cli.log" | tail -1)
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  ${before_exit:-true}
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  if [ "$db" = postgres ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$base/healthz" >/dev/null || { echo "Lanyard did not answer /healthz within 20 s:"; tail -20 "$work/server.log"; exit 1; }
api() { curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' "$@"; }
# An organization named Bench with a SCIM directory of type $1 (okta|entra). Sets org (its id),
# url (the directory's SCIM base URL) and token (its bearer token).
scim_directory() {
  org=$(api -d '{"name":"Bench"}' "$base/api/v1/organizations" | python3 -c 'import sys,json;print(json.load(sys.stdin)["id"])')
  read -r url token < <(api -d "{\"type\":\"$1\",\"name\":\"Bench\"}" "$base/api/v1/organizations/$org/directories" \
    | python3 -c 'import sys,json;d=json.load(sys.stdin);print(d["scim_base_url"], d["bearer_token"])')
}
