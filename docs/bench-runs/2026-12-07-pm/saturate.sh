#!/usr/bin/env bash
# Saturation, embedded, default reads, base against new, interleaved, the floor in each run.
# Usage: saturate.sh BASE_DIR NEW_DIR ROUNDS
set -uo pipefail; export CI=true
B="$1"; N="$2"; R="${3:-1}"; OUT="${OUT:-docs/bench-runs/2026-12-07-pm}"
for r in $(seq 1 "$R"); do
  for d in "$B" "$N"; do
    l=$([ "$d" = "$B" ] && echo base || echo new)
    echo "=== $l-r$r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 900 "$B/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" --floor "$B/yui-floor" \
      saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50 2>&1 \
      | grep -E "report|last_good_rate|correctness"
  done
done
