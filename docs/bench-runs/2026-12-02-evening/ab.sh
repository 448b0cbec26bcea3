#!/usr/bin/env bash
# The build before (BASE) against the build with the change (NEW), embedded, interleaved, each
# run with the floor in the same run. Usage: ab.sh BASE_DIR NEW_DIR [rounds] [extra fanout args]
# (each DIR holds yui, yui-loadtest, yui-floor of one release build). Reports go to OUT.
set -uo pipefail
BASE="$1"; NEW="$2"; ROUNDS="${3:-2}"; shift 3 || true
OUT="${OUT:-target/loadtest/waits}"
export CI=true
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for b in base new; do
    if [ "$b" = base ]; then D="$BASE"; else D="$NEW"; fi
    echo "=== $b round $round: fanout --rooms 200 --members 10 --rate 200 --duration 30 $*"
    timeout 600 "$D/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" \
      fanout --rooms 200 --members 10 --rate 200 --duration 30 "$@" 2>&1 \
      | tee -a "$OUT/ab.log" | grep -E "report|CPU|delivery latency|correctness"
    echo "=== $b round $round: exit ${PIPESTATUS[0]}"
    sleep 2
  done
done
