#!/usr/bin/env bash
# Memory under a large import (issue 17, target 8): 100,000 users created by 8 SCIM clients on a
# fresh SQLite file; prints the server's RSS and the WAL file's size every 10 s, then the peaks.
#   bash benches/scim_memory.sh [extra args for scim_sync.mjs, e.g. --users 20000]
set -euo pipefail
cd "$(dirname "$0")/.."
db=sqlite
. benches/common.sh
scim_directory entra
echo "lanyard: $bin ($bin_kind), SQLite, $(nproc) cores, load: $(uptime | sed 's/.*load average: //')"
node benches/scim_sync.mjs --base "$url" --token "$token" --pid "$server" --users 100000 --groups 0 --lookup no \
  --wal "$work/bench.db-wal" --every 10 --result memory "$@"
echo "database file: $(du -m "$work/bench.db" | cut -f1) MiB"
