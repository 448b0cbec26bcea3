#!/usr/bin/env bash
# usage: measure.sh HUB LABEL [extra fanout args]; prints hub CPU/delivery and perf stat counters per post
HUB=$1; LABEL=$2; shift 2
LT=/work/main/target/release/yui-loadtest
$LT --out /tmp/bench --spawn-hub $HUB fanout --rooms 200 --members 10 --rate 200 --duration 20 "$@" > /tmp/bench/m-$LABEL.log 2>&1 &
LTPID=$!
for i in $(seq 1 100); do P=$(pgrep -f "^$HUB serve"); [ -n "$P" ] && break; sleep 0.2; done
sleep 9
perf stat -e context-switches,task-clock,raw_syscalls:sys_enter -p $P -o /tmp/bench/ps-$LABEL.txt -- sleep 10 >/dev/null 2>&1
wait $LTPID
cs=$(grep context-switches /tmp/bench/ps-$LABEL.txt | awk '{gsub(",","",$1); print $1}')
tc=$(grep task-clock /tmp/bench/ps-$LABEL.txt | awk '{gsub(",","",$1); print $1}')
sc=$(grep sys_enter /tmp/bench/ps-$LABEL.txt | awk '{gsub(",","",$1); print $1}')
cpu=$(grep "node 0 CPU" /tmp/bench/m-$LABEL.log | sed 's/.*| \([0-9.]*\) µs.*/\1/')
p99=$(grep "delivery latency" /tmp/bench/m-$LABEL.log | head -1 | sed 's/.*p99 \([0-9.]*\) .*/\1/')
echo "$LABEL cpu/deliv=${cpu}us p99=${p99}ms per-post(10s@200/s): cs=$((cs/2000)) syscalls=$((sc/2000)) cpu_ms=$(echo "$tc/2000" | bc -l | cut -c1-5) $(grep -c correctness /tmp/bench/m-$LABEL.log) $(grep correctness /tmp/bench/m-$LABEL.log | cut -c30-60)"
