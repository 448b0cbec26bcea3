#!/usr/bin/env bash
# The rest of the 2026-12-07 sitting, base against new, one pair each, interleaved:
# embedded without reads, two nodes with the default reads, saturation embedded and two nodes
# (default reads), the floor in each run.
# Usage: more.sh BASE_DIR NEW_DIR
set -uo pipefail; export CI=true
B="$1"; N="$2"; OUT="${OUT:-docs/bench-runs/2026-12-07}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
run() { local label=$1; shift; echo "=== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) args: $*"
  timeout 900 "$B/yui-loadtest" --out "$OUT" "$@" 2>&1 | grep -E "report|CPU|latency \(ms\)|correctness|last good|rate .*p99|reads sent"; }
for d in "$B" "$N"; do
  l=$([ "$d" = "$B" ] && echo base || echo new)
  run "$l no-reads" --spawn-hub "$d/yui" --floor "$B/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0
done
for d in "$B" "$N"; do
  l=$([ "$d" = "$B" ] && echo base || echo new)
  run "$l two-nodes-reads" --spawn-hub "$d/yui" --nodes 2 --database-url $PG --redis-url $REDIS --floor "$B/yui-floor" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30
done
for d in "$B" "$N"; do
  l=$([ "$d" = "$B" ] && echo base || echo new)
  run "$l saturate-embedded" --spawn-hub "$d/yui" --floor "$B/yui-floor" saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
done
for d in "$B" "$N"; do
  l=$([ "$d" = "$B" ] && echo base || echo new)
  run "$l saturate-two-nodes" --spawn-hub "$d/yui" --nodes 2 --database-url $PG --redis-url $REDIS \
    saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
done
