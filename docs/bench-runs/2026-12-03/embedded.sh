#!/usr/bin/env bash
# Embedded, the reference load without reads, A against B interleaved (no regression check:
# the search follower's longer gather also runs on SQLite). Usage: embedded.sh A B
set -uo pipefail; export CI=true
OUT="${OUT:-docs/bench-runs/2026-12-03}"
for round in 1 2; do for D in "$1" "$2"; do
  echo "=== embedded no reads $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$1/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | grep -E "report:|CPU|latency \(ms\)|correctness|floor"
done; done
