#!/bin/bash
# usage: threadcpu.sh PID SECS  -> CPU ms per thread name over the window
pid=$1; secs=$2
snap() { for t in /proc/$pid/task/*; do n=$(cat $t/comm); s=$(awk '{print $14+$15}' $t/stat); echo "$n $s"; done | awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' | sort; }
snap > /tmp/tc1; sleep $secs; snap > /tmp/tc2
join /tmp/tc1 /tmp/tc2 | awk -v s=$secs '{printf "%-20s %8.1f ms/s\n", $1, ($3-$2)*10/s}'
