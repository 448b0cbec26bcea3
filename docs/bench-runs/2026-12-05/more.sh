#!/usr/bin/env bash
# Two nodes with the default read traffic, and two-node saturation, base against new, interleaved.
# Usage: more.sh BASE NEW
set -uo pipefail; export CI=true
B="$1"; N="$2"; OUT="${OUT:-docs/bench-runs/2026-12-05}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
run() { local d="$1"; shift; echo "=== $(basename "$d") $* $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 "$B/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" --nodes 2 --database-url $PG --redis-url $REDIS --floor "$d/yui-floor" "$@" 2>&1 | grep -vE "WARN|INFO"; }
for d in "$B" "$N"; do run "$d" fanout --rooms 200 --members 10 --rate 200 --duration 30; done
for d in "$B" "$N"; do run "$d" saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50; done
