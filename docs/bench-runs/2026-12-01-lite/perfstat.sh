#!/usr/bin/env bash
# usage: perfstat.sh HUB LABEL [extra fanout args]
# The reference load for 20 s; `perf stat` on the hub process for 10 s in its middle: context
# switches, system calls and CPU per post (200 posts/s -> 2,000 posts in the window).
HUB=$1; LABEL=$2; shift 2
LT=${LT:-target/release/yui-loadtest}
OUT=${OUT:-target/loadtest/lite}
mkdir -p "$OUT"
CI=true $LT --out "$OUT" --spawn-hub "$HUB" fanout --rooms 200 --members 10 --rate 200 --duration 20 "$@" > "$OUT/m-$LABEL.log" 2>&1 &
LTPID=$!
for i in $(seq 1 100); do P=$(pgrep -f "^$HUB serve"); [ -n "$P" ] && break; sleep 0.2; done
sleep 9
perf stat -e context-switches,task-clock,raw_syscalls:sys_enter -p "$P" -o "$OUT/ps-$LABEL.txt" -- sleep 10 >/dev/null 2>&1
wait $LTPID
cs=$(grep context-switches "$OUT/ps-$LABEL.txt" | awk '{gsub(",","",$1); print $1}')
tc=$(grep task-clock "$OUT/ps-$LABEL.txt" | awk '{gsub(",","",$1); print $1}')
sc=$(grep sys_enter "$OUT/ps-$LABEL.txt" | awk '{gsub(",","",$1); print $1}')
cpu=$(grep "node 0 CPU" "$OUT/m-$LABEL.log" | sed 's/.*| \([0-9.]*\) µs.*/\1/')
p99=$(grep "delivery latency" "$OUT/m-$LABEL.log" | head -1 | sed 's/.*p99 \([0-9.]*\) .*/\1/')
echo "$LABEL cpu/deliv=${cpu}us p99=${p99}ms per-post(10s@200/s): cs=$((cs/2000)) syscalls=$((sc/2000)) cpu_ms=$(echo "$tc/2000" | bc -l | cut -c1-5) $(grep correctness "$OUT/m-$LABEL.log" | cut -c32-70)"
