#!/usr/bin/env bash
# Where the embedded hub's CPU goes beside the floor's, at the reference load without reads:
# the floor alone and the hub alone, interleaved, each thread's CPU and context switches over
# 8 s mid-run (ctx.sh), and the load tester's own figure for the whole run.
# Usage: split.sh HUB_DIR FLOOR_DIR ROUNDS
set -uo pipefail; export CI=true
H="$1"; F="$2"; R="${3:-2}"; OUT="${OUT:-docs/bench-runs/2026-12-07-pm}"; HERE=$(dirname "$0")
one() {
  local label=$1 how=$2 bin=$3 name=$4
  echo "=== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 300 "$F/yui-loadtest" --out "$OUT" "$how" "$bin" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 > "/tmp/split-$label.log" 2>&1 &
  local p=""
  for _ in $(seq 1 120); do p=$(pgrep -x "$name" | head -1); [ -n "$p" ] && break; sleep 0.5; done
  sleep 14; bash "$HERE/ctx.sh" "$p" 8 | grep -v "cpu    0.0"
  wait
  grep -E "report|node 0 CPU|delivery latency|correctness" "/tmp/split-$label.log"
}
for r in $(seq 1 "$R"); do
  one "floor-r$r" --spawn-floor "$F/yui-floor" yui-floor
  one "hub-r$r" --spawn-hub "$H/yui" yui
done
