#!/usr/bin/env bash
# Portal page throughput next to /healthz on the same server: an organization whose directory
# holds N users (pushed over SCIM by benches/scim_sync.mjs: 10,000 by default, and 10 groups
# of up to 1,000 members), a
# portal session with every intent, then wrk on /healthz, the overview page (/portal) and the
# directories page (/portal/directories), each run twice in turn at the same concurrency.
# Prints requests per second of each and the overview's share of /healthz.
#   bash benches/portal.sh sqlite|postgres [users, default 10000] [seconds per run, default 10]
# Needs wrk (`apt-get install wrk`). Uses target/release/lanyard when present (build it with
# `cargo build --release --features ssr --bin lanyard`), else target/debug/lanyard.
# Set THREADS and CONNECTIONS to change wrk's load (default 2 threads, 16 connections), PAGES to
# measure other paths (default "/healthz /portal /portal/directories"; the share is printed when
# both /healthz and /portal are among them).
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-sqlite}
users=${2:-10000}
secs=${3:-10}
threads=${THREADS:-2}
connections=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
. benches/common.sh
scim_directory okta
echo "lanyard: $bin ($bin_kind), database: $db, $(nproc) cores"
echo "seeding: $users users and 10 groups over SCIM …"
node benches/scim_sync.mjs --base "$url" --token "$token" --users "$users" --groups 10 \
  --max-members 1000 --lookup no >"$work/seed.log"
grep -E '^users created per second|^group phase' "$work/seed.log" | sed 's/^/  seed: /'
link=$(api -d "{\"organization_id\":\"$org\",\"intents\":[\"sso\",\"domain_verification\",\"dsync\",\"invitations\",\"audit_logs\",\"log_streams\"]}" \
  "$base/api/v1/portal/links" | python3 -c 'import sys,json;print(json.load(sys.stdin)["link"])')
cookie=$(curl -s -o /dev/null -D - -X POST -H "Origin: $base" -H 'Sec-Fetch-Site: same-origin' "$link" \
  | sed -n 's/^[Ss]et-[Cc]ookie: \(lanyard_session=[^;]*\).*/\1/p' | tr -d '\r')
[ -n "$cookie" ] || { echo "the setup link gave no session"; exit 1; }
for page in /portal/directories /portal; do
  code=$(curl -s -o "$work/page.html" -w '%{http_code}' -H "Cookie: $cookie" "$base$page")
  [ "$code" = 200 ] || { echo "$page answered $code"; exit 1; }
done
grep -q "$users people synced" "$work/page.html" || { echo "the overview does not show $users people"; exit 1; }

# Requests per second wrk reports for one path (failed or non-2xx answers make the run fail).
rate() {
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${secs}s" --timeout 30s -H "Cookie: $cookie" "$base$1")
  if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
    echo "$1: errors during the run:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {printf "%.1f", $2}' <<<"$out"
}
echo "wrk: $threads threads, $connections connections, ${secs} s per run; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best
for round in ${ROUNDS:-1 2}; do
  for path in ${PAGES:-/healthz /portal /portal/directories}; do
    r=$(rate "$path")
    printf '  round %s  %-22s %10s requests/s   (load %s)\n' "$round" "$path" "$r" "$(cut -d' ' -f1 /proc/loadavg)"
    best[$path]=$(python3 -c 'import sys; print(max(float(a) for a in sys.argv[1:] if a))' "$r" "${best[$path]:-}")
  done
done
echo "best of the runs, requests/s:"
for path in ${PAGES:-/healthz /portal /portal/directories}; do printf '  %-22s %10s\n' "$path" "${best[$path]}"; done
[ -n "${best[/healthz]:-}" ] && [ -n "${best[/portal]:-}" ] || exit 0
python3 -c "import sys; h,o=map(float,sys.argv[1:]); print(f'overview / healthz: {100*o/h:.1f} %')" "${best[/healthz]}" "${best[/portal]}"
