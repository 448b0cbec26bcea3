#!/usr/bin/env bash
# The night sitting (issue 14): the reconnect storm's store reads, base against new,
# interleaved, with one harness (NEW's yui-loadtest, which analyzes the database it makes).
# Usage: sitting.sh BASE NEW
set -uo pipefail
BASE="$1"; NEW="$2"; LT="$NEW/yui-loadtest"; export CI=true
PG=postgres://postgres@127.0.0.1:5432/postgres; RD=redis://127.0.0.1:6379
OUT="${OUT:-docs/bench-runs/2026-12-02-night}"
show() { grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|last_good|caught|KiB|floor"; }
hdr() { echo "=== $1 $2 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
for round in 1 2 3; do for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  hdr "storm two nodes" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD resume --clients 10000 --rooms 500 --members 20 2>&1 | show
done; done
for round in 1 2; do for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  hdr "two nodes no reads" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | show
done; done
for round in 1 2; do for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  hdr "embedded no reads" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | show
done; done
for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  hdr "storm embedded" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" resume --clients 10000 --rooms 500 --members 20 2>&1 | show
done
for b in base new; do D="$BASE"; [ $b = new ] && D="$NEW"
  hdr "postgres durable posts" $b
  timeout 900 "$LT" --out "$OUT" --spawn-hub "$D/yui" --database-url $PG saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50 2>&1 | show
done
