#!/usr/bin/env bash
# usage: io.sh BIN RATE [RR]: the writer thread's bytes written per commit (wchar from /proc) mid-run
set -uo pipefail; export CI=true
B=$1; R=$2; RR=${3:-0.3}
timeout 300 /tmp/base/yui-loadtest --out /tmp/prof/out --spawn-hub $B/yui fanout --rooms 200 --members 10 --rate $R --duration 20 --read-ratio $RR > /tmp/prof/io-$R.log 2>&1 &
p=""; for _ in $(seq 1 120); do p=$(pgrep -x yui | head -1); [ -n "$p" ] && break; sleep 0.5; done
port=$(tr '\0' ' ' < /proc/$p/cmdline | sed -E 's/.*--listen 127.0.0.1:([0-9]+).*/\1/')
sleep 8
w=$(for t in /proc/$p/task/*; do [ "$(cat $t/comm)" = yui-sqlite-writ ] && basename $t; done)
snap() { echo "$(grep wchar /proc/$p/task/$w/io | awk '{print $2}') $(grep syscw /proc/$p/task/$w/io | awk '{print $2}') $(m=$(curl -s http://127.0.0.1:$port/metrics); for k in yui_commit_batch_size_sum yui_commit_batch_size_count yui_commit_seconds_sum yui_commit_seconds_count yui_search_index_seconds_sum yui_search_index_seconds_count; do echo "$m" | awk -v k=$k '$1==k{printf "%s ", $2}'; done)"; }

a=$(snap); sleep 6; b=$(snap)
wait
python3 - "$a" "$b" <<'PY'
import sys
a=list(map(float,sys.argv[1].split())); b=list(map(float,sys.argv[2].split()))
d=[y-x for x,y in zip(a,b)]
# wchar syscw batch_sum batch_count commit_sum commit_count index_sum index_count
wchar,syscw,bsum,bcount,csum,ccount,isum,icount=d
print(f"commits {ccount:.0f} ({ccount/6:.0f}/s), writes per commit {bsum/ccount:.1f}, commit {csum/ccount*1e3:.2f} ms avg, writer busy {100*(csum+isum)/6:.0f}% (index {100*isum/6:.0f}%, {icount:.0f} index jobs of {isum/max(icount,1)*1e3:.1f} ms avg)")
print(f"written {wchar/ccount/1024:.0f} KiB per commit ({wchar/6/1e6:.1f} MB/s), write syscalls {syscw/ccount:.0f} per commit, {wchar/bsum/1024:.1f} KiB per write")
PY
grep -E "posts acked|delivery latency|node 0 CPU|correctness" /tmp/prof/io-$R.log
