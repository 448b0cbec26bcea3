#!/usr/bin/env bash
# usage: ref.sh ROUNDS [fanout args...]: base against new3 at the reference load, the floor in each run, interleaved
set -uo pipefail; export CI=true
R=$1; shift
for r in $(seq 1 $R); do for b in base new3; do
  echo "=== $b r$r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 400 /tmp/base/yui-loadtest --out /tmp/ab/out --spawn-hub /tmp/$b/yui --floor /tmp/base/yui-floor \
    fanout --rooms 200 --members 10 --rate 200 --duration 30 "$@" > /tmp/ab/run.log 2>&1
  grep -E "^report|node 0 CPU|floor CPU|delivery latency|correctness" /tmp/ab/run.log
done; done
