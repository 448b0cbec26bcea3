#!/usr/bin/env bash
# The other targets of issue 14 on this machine, base build, one run each (2026-12-04).
# Usage: targets.sh DIR   (a directory holding yui, yui-floor, yui-loadtest)
set -uo pipefail; export CI=true
D="$1"; OUT="${OUT:-docs/bench-runs/2026-12-04}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
run() { echo "=== $* $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; timeout 900 "$D/yui-loadtest" --out "$OUT" "$@" 2>&1 | grep -vE "WARN|INFO"; }
run --spawn-hub "$D/yui" --floor "$D/yui-floor" saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
run --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $REDIS --floor "$D/yui-floor" \
  saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
run --spawn-hub "$D/yui" --database-url $PG saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50
run --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $REDIS resume --clients 10000 --rooms 500 --rate 200 --duration 15
run --spawn-hub "$D/yui" --floor "$D/yui-floor" connect --connections 19000 --per-worker 10000 --hold 10
