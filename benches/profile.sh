#!/usr/bin/env bash
# Profiles a benchmark while it runs: starts the given bench script, waits until its load is
# under way, records the Lanyard server (or, with --postgres, every PostgreSQL process) with
# perf for a few seconds, lets the bench finish and writes a report of where the time went
# (inclusive and self shares by function) next to the recording.
#
#   bash benches/profile.sh [--postgres] [--dwarf] [--delay S] [--secs S] [--out DIR] -- \
#        bash benches/portal.sh sqlite 2000 5
#
# --delay: seconds after the bench starts before recording (default 15: past seeding and
# warm-up in the shipped scripts; raise it for larger seeds). --secs: how long to record
# (default 6). --dwarf: call graphs from DWARF unwinding (the release build has no frame
# pointers, so without it the inclusive shares stop at the first Rust frame; the recording is
# ~200 MB and the report takes a few minutes). Output: DIR/perf.data, DIR/report.txt (default
# DIR: a new directory under /tmp).
#
# The report uses `--no-inline`: with inline frames perf runs addr2line over the whole binary
# for every address, which took over 25 minutes of CPU on this machine (2026-12-06) without
# finishing. Needs perf (`apt-get install linux-perf` on Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
target=lanyard delay=15 secs=6 callgraph=(-g) out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) target=postgres; shift ;;
    --dwarf) callgraph=(--call-graph dwarf,16384); shift ;;
    --delay) delay=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (the bench command goes after --)"; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--postgres] [--dwarf] [--delay S] [--secs S] [--out DIR] -- <bench command>"; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed"; exit 2; }
out=${out:-$(mktemp -d /tmp/lanyard-profile.XXXXXX)}
mkdir -p "$out"
"$@" >"$out/bench.log" 2>&1 &
bench=$!
sleep "$delay"
if [ "$target" = postgres ]; then
  pids=$(pgrep -x postgres | paste -sd, -)
else
  # The newest server: the one the bench started (BENCH_BIN may name a copy, lanyard-base).
  pids=$(pgrep -n -f 'lanyard[^/ ]* serve' || true)
fi
if [ -z "$pids" ]; then
  echo "no $target process to record after ${delay} s; the bench said:"
  tail -20 "$out/bench.log"
  wait "$bench" || true
  exit 1
fi
echo "recording $target (pid $pids) for ${secs} s …"
perf record "${callgraph[@]}" -F 999 -p "$pids" -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf-record.log" || {
  cat "$out/perf-record.log"
  exit 1
}
status=0
wait "$bench" || status=$?
echo "bench exited with $status; its output:"
cat "$out/bench.log"
perf report -i "$out/perf.data" --no-inline --children --sort sym -g none --percent-limit 0.5 \
  </dev/null 2>/dev/null | grep -E '^ +[0-9]' >"$out/report.txt" || true
echo "report (children, self, function), first lines; all of it in $out/report.txt:"
cut -c1-160 "$out/report.txt" | head -40
exit "$status"
