#!/usr/bin/env bash
set -uo pipefail; export CI=true
for b in base new3; do
  echo "=== $b $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 /tmp/base/yui-loadtest --out /tmp/ab/out --spawn-hub /tmp/$b/yui --floor /tmp/base/yui-floor \
    saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50 > /tmp/ab/sat-run.log 2>&1
  grep -E "^report|last good|floor|saturat|correct" /tmp/ab/sat-run.log | head -12
done
