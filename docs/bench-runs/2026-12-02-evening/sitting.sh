#!/usr/bin/env bash
# The evening sitting of 2026-12-02 (issue 14): base (main at 4930291) against new (the search
# index follower, the batched push fan-out, the light subscription start), interleaved, every
# run with the floor in the same run, one harness binary for both. Usage: sitting.sh BASE NEW
set -uo pipefail
BASE="$1"; NEW="$2"
OUT="${OUT:-docs/bench-runs/2026-12-02-evening}"
LT="$NEW/yui-loadtest"
export CI=true
run() { # name build args...
  local name="$1" b="$2"; shift 2
  local D="$BASE"; [ "$b" = new ] && D="$NEW"
  echo "=== $name $b $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 "$LT" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" "$@" 2>&1 \
    | grep -E "report:|CPU|latency \(ms\)|correctness|last_good|floor" 
  sleep 2
}
for round in 1 2; do
  for b in base new; do run "reads r$round" $b fanout --rooms 200 --members 10 --rate 200 --duration 30; done
  for b in base new; do run "noreads r$round" $b fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0; done
done
for b in base new; do run "saturate" $b saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50; done
