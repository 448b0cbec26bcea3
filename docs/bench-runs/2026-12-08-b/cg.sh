#!/usr/bin/env bash
# usage: cg.sh base|new DURATION
set -uo pipefail; export CI=true
b=$1; d=$2
start=$(date +%s)
timeout 900 /tmp/base/yui-loadtest --out /tmp/cg/out --spawn-hub /tmp/cg/yui-vg-$b fanout --rooms 200 --members 10 --rate 20 --duration $d --read-ratio 0 > /tmp/cg/lt-$b-$d.log 2>&1
vp=$(cat /tmp/cg/vg.pid)
kill -TERM $vp 2>/dev/null
for _ in $(seq 1 120); do kill -0 $vp 2>/dev/null || break; sleep 1; done
mkdir -p /tmp/cg/$b-$d && mv /tmp/cg/$b.* /tmp/cg/$b-$d/ 2>/dev/null
echo "$b $d took $(( $(date +%s) - start )) s"; grep -E "correctness|deliveries|posts" /tmp/cg/lt-$b-$d.log | head -5
