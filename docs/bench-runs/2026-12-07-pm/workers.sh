#!/usr/bin/env bash
# The embedded hub at the reference load without reads, its runtime on 2 worker threads (the
# default on this machine) against 1 (W1_DIR/yui: a wrapper that execs the hub with
# TOKIO_WORKER_THREADS=1), interleaved, per-thread CPU and switches over 8 s mid-run.
# Usage: workers.sh HUB_DIR W1_DIR HARNESS_DIR ROUNDS [extra fanout args]
set -uo pipefail; export CI=true
H="$1"; W="$2"; F="$3"; R="${4:-2}"; shift 4 || true
OUT="${OUT:-docs/bench-runs/2026-12-07-pm}"; HERE=$(dirname "$0")
one() {
  local label=$1 d=$2; shift 2
  echo "=== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) args: $*"
  timeout 300 "$F/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" --floor "$F/yui-floor" \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 "$@" > "/tmp/workers-$label.log" 2>&1 &
  local p=""
  for _ in $(seq 1 120); do p=$(pgrep -x yui | head -1); [ -n "$p" ] && break; sleep 0.5; done
  sleep 14; bash "$HERE/ctx.sh" "$p" 8 | grep -v "cpu    0.0"
  wait
  grep -E "report|node 0 CPU|floor CPU|delivery latency|correctness" "/tmp/workers-$label.log"
}
for r in $(seq 1 "$R"); do
  one "two-r$r" "$H" "$@"
  one "one-r$r" "$W" "$@"
done
