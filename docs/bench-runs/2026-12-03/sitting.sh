#!/usr/bin/env bash
# The 2026-12-03 sitting (issue 14): Postgres round trips at small batches, base against new,
# interleaved, one harness (BASE's yui-loadtest), the floor in every fanout run, Redis's own CPU
# read from /proc beside the harness's Postgres+Redis figure.
# Usage: sitting.sh BASE NEW   (directories holding yui, yui-floor, yui-loadtest)
set -uo pipefail
BASE="$1"; NEW="$2"; LT="$BASE/yui-loadtest"; export CI=true
PG=postgres://postgres@127.0.0.1:5432/postgres; RD=redis://127.0.0.1:6379
OUT="${OUT:-docs/bench-runs/2026-12-03}"
rpid=$(pgrep -x redis-server | head -1); tck=$(getconf CLK_TCK)
rcpu() { awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$rpid/stat"; }
show() { grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|last_good|caught|floor"; }
hdr() { echo "=== $1 $2 $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; R0=$(rcpu); }
redis() { echo "redis CPU s: $(echo "$(rcpu) - $R0" | bc)"; }
pick() { D="$BASE"; [ "$1" = new ] && D="$NEW"; }
for round in 1 2; do for b in base new; do pick $b
  hdr "two nodes no reads" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 2>&1 | show; redis
done; done
for round in 1 2; do for b in base new; do pick $b
  hdr "postgres durable posts" $b
  timeout 900 "$LT" --out "$OUT" --spawn-hub "$D/yui" --database-url $PG saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50 2>&1 | show; redis
done; done
for round in 1 2; do for b in base new; do pick $b
  hdr "storm two nodes" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD resume --clients 10000 --rooms 500 --members 20 2>&1 | show; redis
done; done
for round in 1 2; do for b in base new; do pick $b
  hdr "two nodes reads" $b
  timeout 600 "$LT" --out "$OUT" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $RD --floor "$D/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration 30 2>&1 | show; redis
done; done
