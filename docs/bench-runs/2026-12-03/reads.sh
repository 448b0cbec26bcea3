#!/usr/bin/env bash
# Two nodes, the reference load with the default reads, A against B interleaved (the rooms a
# batch only reads in are no longer locked). Usage: reads.sh A B
set -uo pipefail; export CI=true
PG=postgres://postgres@127.0.0.1:5432/postgres; RD=redis://127.0.0.1:6379
OUT="${OUT:-docs/bench-runs/2026-12-03}"
for round in 1 2; do for D in "$1" "$2"; do
  echo "=== two nodes reads $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$1/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 2>&1 | grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|floor"
done; done
