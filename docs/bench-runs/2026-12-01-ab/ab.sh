#!/usr/bin/env bash
cd /work/main
LT=target/release/yui-loadtest
PG=postgres://postgres@127.0.0.1:5432/postgres; R=redis://127.0.0.1:6379
for round in 1 2; do
for b in base opt; do
  H=/tmp/bench/yui-$b
  echo "=== $b round $round saturate-posts-pg"; timeout 600 $LT --out /tmp/bench/ab --spawn-hub $H --database-url $PG saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50 2>&1 | grep -E "step|last_good|correctness"
  sleep 5
  echo "=== $b round $round saturate-posts-sqlite"; timeout 600 $LT --out /tmp/bench/ab --spawn-hub $H saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50 2>&1 | grep -E "step|last_good|correctness"
  sleep 5
  echo "=== $b round $round resume-cluster"; timeout 600 $LT --out /tmp/bench/ab --spawn-hub $H --nodes 2 --database-url $PG --redis-url $R resume --clients 10000 --rooms 500 --rate 200 --duration 15 2>&1 | grep -E "caught|correctness|node . CPU"
  sleep 5
done
done
