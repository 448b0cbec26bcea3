#!/usr/bin/env bash
# The benchmark matrix of docs/benchmarks.md, on this machine, with release builds. Each run
# is bounded in time and stops by itself; reports go to docs/bench-runs/ (JSON, Markdown, SVG).
# Needs Postgres and Redis for the cluster rows (scripts/services.sh starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p yui-server -p yui-loadtest
R=target/release
OUT=${OUT:-docs/bench-runs}
PG=${YUI_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${YUI_BENCH_REDIS_URL:-redis://127.0.0.1:6379}
LT="$R/yui-loadtest --out $OUT"
run() { echo; echo "### $*"; "$@" 2>&1 | grep -vE '^\s*$' | tail -20; }
run $LT --spawn-floor $R/yui-floor fanout --rooms 200 --members 10 --rate 200 --duration 20 --read-ratio 0
run $LT --spawn-hub $R/yui fanout --rooms 200 --members 10 --rate 200 --duration 20 --read-ratio 0
run $LT --spawn-hub $R/yui fanout --rooms 200 --members 10 --rate 200 --duration 20
run $LT --spawn-hub $R/yui --nodes 2 --database-url "$PG" --redis-url "$REDIS" fanout --rooms 200 --members 10 --rate 200 --duration 20 --read-ratio 0
run $LT --spawn-hub $R/yui broadcast --readers 5000 --notice-rate 2 --duration 15
run $LT --spawn-floor $R/yui-floor saturate --rooms 200 --members 10 --rate 1000 --step-secs 5 --bound-ms 50 --read-ratio 0
run $LT --spawn-hub $R/yui saturate --rooms 200 --members 10 --rate 1000 --step-secs 5 --bound-ms 50 --read-ratio 0
run $LT --spawn-hub $R/yui --database-url "$PG" saturate --rooms 200 --members 2 --rate 1000 --step-secs 5 --bound-ms 50 --read-ratio 0
run $LT --spawn-hub $R/yui resume --clients 10000 --rooms 500 --rate 100 --duration 12 --read-ratio 0 --connect-concurrency 512
run $LT --spawn-hub $R/yui connect --connections 15000 --hold 5 --connect-concurrency 512
run $LT --spawn-floor $R/yui-floor connect --connections 15000 --hold 5 --connect-concurrency 512
