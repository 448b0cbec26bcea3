#!/usr/bin/env bash
set -uo pipefail; export CI=true
B=/tmp/new; OUT=/tmp/prof/out
timeout 300 $B/yui-loadtest --out $OUT --spawn-hub $B/yui fanout --rooms 200 --members 10 --rate 200 --duration 25 --read-ratio ${RR:-0} > /tmp/prof/lt2.log 2>&1 &
p=""; for _ in $(seq 1 120); do p=$(pgrep -x yui | head -1); [ -n "$p" ] && break; sleep 0.5; done
sleep 12
w=$(for t in /proc/$p/task/*; do [ "$(cat $t/comm)" = yui-sqlite-writ ] && basename $t; done)
timeout 5 strace -c -p $w -o /tmp/prof/strace.txt > /dev/null 2>&1
timeout 3 strace -p $w -o /tmp/prof/strace-seq.txt -tt -y > /dev/null 2>&1
wait
cat /tmp/prof/strace.txt
