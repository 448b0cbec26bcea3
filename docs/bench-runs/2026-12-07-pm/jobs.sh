#!/usr/bin/env bash
# The embedded reference load (no reads) with the hub's /metrics read twice mid-run: how long
# the writer's commits and its search index jobs take (quantiles over the window).
# Usage: jobs.sh HUB_DIR LABEL [extra fanout args]   (base's yui-loadtest drives it)
set -uo pipefail; export CI=true
D="$1"; L="$2"; shift 2
OUT="${OUT:-docs/bench-runs/2026-12-07-pm}"
timeout 300 /tmp/base/yui-loadtest --out "$OUT" --spawn-hub "$D/yui" \
  fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 "$@" > "/tmp/jobs-$L.log" 2>&1 &
p=""; for _ in $(seq 1 60); do p=$(pgrep -f "^$D/yui serve" | head -1); [ -n "$p" ] && break; sleep 1; done
sleep 20
port=$(ss -ltnpH | grep "pid=$p," | awk '{print $4}' | sed 's/.*://' | head -1)
echo "=== $L $(date -u +%T) hub pid $p port $port"
curl -s "http://127.0.0.1:$port/metrics" | grep -E "^yui_(commit_seconds|search_index_seconds|commit_batch_size)"
wait
grep -E "report|hub CPU|delivery latency|correctness" "/tmp/jobs-$L.log"
