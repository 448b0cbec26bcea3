#!/bin/bash
# CPU ms/s per process kind (postgres by backend type, redis-server, yui) over a window
secs=$1
snap() { for p in $(pgrep -f 'postgres|redis-server|/yui '); do [ -r /proc/$p/stat ] || continue; c=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-40); s=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null); echo "$p|$c|$s"; done; }
snap > /tmp/pc1; sleep $secs; snap > /tmp/pc2
join -t'|' <(sort /tmp/pc1) <(sort /tmp/pc2) | awk -F'|' -v s=$secs '{d=($5-$3)*10/s; k=$2; sub(/postgres: 15\/main: /,"",k); if (k ~ /postgres postgres/) k="pg backend"; a[k]+=d} END {for (k in a) if (a[k]>0.5) printf "%-42s %7.1f ms/s\n", k, a[k]}' | sort -t'|' -k1
