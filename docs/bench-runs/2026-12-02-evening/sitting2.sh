#!/usr/bin/env bash
# Second part of the evening sitting: storms, two nodes with reads and at saturation, memory.
# Usage: sitting2.sh BASE NEW (one harness binary: NEW's yui-loadtest)
set -uo pipefail
BASE="$1"; NEW="$2"; LT="$NEW/yui-loadtest"; export CI=true
PG=postgres://postgres@127.0.0.1:5432/postgres; RD=redis://127.0.0.1:6379
OUT="${OUT:-docs/bench-runs/2026-12-02-evening}"
show() { grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|last_good|caught|KiB|floor"; }
for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  echo "=== storm embedded $b $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" resume --clients 10000 --rooms 500 --members 20 2>&1 | show
done
for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  echo "=== two nodes reads $b $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 2>&1 | show
done
for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  echo "=== two nodes saturate $b $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50 2>&1 | show
done
echo "=== memory new $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 600 "$LT" --out "$OUT" --spawn-hub "$NEW/yui" connect --connections 19000 2>&1 | show
