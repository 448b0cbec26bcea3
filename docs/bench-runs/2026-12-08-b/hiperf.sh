#!/usr/bin/env bash
set -uo pipefail; export CI=true
B=$1; R=$2; RR=${RR:-0.3}
timeout 300 /tmp/base/yui-loadtest --out /tmp/prof/out --spawn-hub $B/yui fanout --rooms 200 --members 10 --rate $R --duration 20 --read-ratio $RR > /tmp/prof/hp-$R.log 2>&1 &
p=""; for _ in $(seq 1 120); do p=$(pgrep -x yui | head -1); [ -n "$p" ] && break; sleep 0.5; done
sleep 10
w=$(for t in /proc/$p/task/*; do [ "$(cat $t/comm)" = yui-sqlite-writ ] && basename $t; done)
perf record -F 999 --call-graph dwarf,16384 -t $w -o /tmp/prof/perf-w.data -- sleep 6 > /dev/null 2>&1
wait
grep -E "posts acked|delivery latency|node 0 CPU|correctness" /tmp/prof/hp-$R.log
