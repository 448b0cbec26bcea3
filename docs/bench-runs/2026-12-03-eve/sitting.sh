#!/usr/bin/env bash
# The 2026-12-03 evening sitting, A against B interleaved: embedded at the reference load
# without reads (three rounds) and with the default reads (two), two nodes without reads (two),
# each with the floor in the same run.
# Usage: sitting.sh A B   (directories holding yui, yui-floor, yui-loadtest)
set -uo pipefail; export CI=true
OUT="${OUT:-docs/bench-runs/2026-12-03-eve}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
show() { grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|floor|reads sent"; }
for round in 1 2 3; do for D in "$1" "$2"; do
  echo "=== embedded no reads $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$1/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | show
done; done
for round in 1 2; do for D in "$1" "$2"; do
  echo "=== embedded reads $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$1/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 2>&1 | show
done; done
for round in 1 2; do for D in "$1" "$2"; do
  echo "=== two nodes no reads $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$1/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $REDIS \
    --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | show
done; done
