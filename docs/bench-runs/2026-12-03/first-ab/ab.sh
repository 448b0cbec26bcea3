#!/usr/bin/env bash
# ab.sh DIR... : two-node reference load without reads, per build, with Redis CPU split
set -uo pipefail; export CI=true
PG=postgres://postgres@127.0.0.1:5432/postgres; RD=redis://127.0.0.1:6379
rpid=$(pgrep -x redis-server | head -1); tck=$(getconf CLK_TCK)
rcpu() { awk -v t=$tck '{print ($14+$15)/t}' /proc/$rpid/stat; }
for d in "$@"; do
  r0=$(rcpu)
  echo "=== $d $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 600 /tmp/base/yui-loadtest --out docs/bench-runs/2026-12-03/first-ab --spawn-hub $d/yui --nodes 2 --database-url $PG --redis-url $RD --floor /tmp/base/yui-floor fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | grep -E "report:|CPU|delivery latency|cross-node|correctness"
  echo "redis CPU s: $(echo "$(rcpu) - $r0" | bc)"
done
