#!/usr/bin/env bash
# Embedded reference load with the default reads, base against new, interleaved, the floor in
# each run, with the hub's CPU per thread over 8 s mid-run.
# Usage: sitting.sh BASE_DIR NEW_DIR ROUNDS [extra fanout args]   (dirs hold yui, yui-floor, yui-loadtest)
set -uo pipefail; export CI=true
B="$1"; N="$2"; R="${3:-2}"; shift 3 || true
OUT="${OUT:-docs/bench-runs/2026-12-07}"
TC=docs/bench-runs/2026-12-03-eve/commit-cost/threadcpu.sh
one() {
  local label=$1 d=$2; shift 2
  echo "=== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) args: $*"
  timeout 300 "$B/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" --floor "$B/yui-floor" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 "$@" > "/tmp/sitting-$label.log" 2>&1 &
  local p=""
  for _ in $(seq 1 60); do p=$(pgrep -f "^$d/yui serve" | head -1); [ -n "$p" ] && break; sleep 1; done
  sleep 12; bash $TC "$p" 8 | grep -v " 0.0 ms/s"
  wait
  grep -E "report|hub CPU|floor CPU|delivery latency|correctness|reads" "/tmp/sitting-$label.log"
}
for r in $(seq 1 "$R"); do
  one "base-r$r" "$B" "$@"
  one "new-r$r" "$N" "$@"
done
