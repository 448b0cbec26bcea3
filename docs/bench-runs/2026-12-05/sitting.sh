#!/usr/bin/env bash
# Issue 14, 2026-12-05: the posts-only group commit in one round trip on Postgres, against base.
# Usage: sitting.sh BASE NEW   (directories holding yui, yui-floor, yui-loadtest)
# Two nodes on Postgres + Redis at the reference load without reads, and durable posts on one
# node, interleaved, two rounds; the harness is base's yui-loadtest for both builds.
set -uo pipefail; export CI=true
B="$1"; N="$2"; OUT="${OUT:-docs/bench-runs/2026-12-05}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
run() { local d="$1"; shift; echo "=== $(basename "$d") $* $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 "$B/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" "$@" 2>&1 | grep -vE "WARN|INFO"; }
two() { run "$1" --nodes 2 --database-url $PG --redis-url $REDIS --floor "$1/yui-floor" \
  fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0; }
durable() { run "$1" --database-url $PG saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50; }
for round in 1 2; do
  echo "##### round $round"
  two "$B"; two "$N"; durable "$B"; durable "$N"
done
