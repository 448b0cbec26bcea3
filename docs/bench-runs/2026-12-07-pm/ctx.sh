#!/bin/bash
# usage: ctx.sh PID SECS -> context switches per second per thread name, and CPU ms/s
pid=$1; secs=$2
snap() { for t in /proc/$pid/task/*; do n=$(cat $t/comm | tr ' ' '_'); v=$(awk '/^voluntary_ctxt/{print $2}' $t/status); nv=$(awk '/^nonvoluntary_ctxt/{print $2}' $t/status); s=$(awk '{print $14+$15}' $t/stat); echo "$n $v $nv $s"; done | awk '{a[$1]+=$2; b[$1]+=$3; c[$1]+=$4} END {for (k in a) print k, a[k], b[k], c[k]}' | sort; }
snap > /tmp/cx1; sleep $secs; snap > /tmp/cx2
join /tmp/cx1 /tmp/cx2 | awk -v s=$secs '{printf "%-20s vol %7.0f/s invol %6.0f/s cpu %6.1f ms/s\n", $1, ($5-$2)/s, ($6-$3)/s, ($7-$4)*10/s}'
