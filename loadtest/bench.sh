#!/usr/bin/env bash
# The measurements behind docs/benchmarks.md, one after the other (about 15 minutes on 2 cores).
# Usage: loadtest/bench.sh [path/to/yui] [only-this-step]
# Needs release builds (cargo build --release -p yui-server -p yui-loadtest) and, for the
# Postgres and cluster steps, Postgres on 127.0.0.1:5432 and Redis on 127.0.0.1:6379
# (scripts/services.sh starts them). Reports go to $OUT (JSON, Markdown, SVG per run).
set -uo pipefail
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
TARGET="$(abs "${CARGO_TARGET_DIR:-target}")"
HUB="$(abs "${1:-$TARGET/release/yui}")"
ONLY="${2:-}"
LT="${LT:-$TARGET/release/yui-loadtest}"
FLOOR="${FLOOR:-$TARGET/release/yui-floor}"
OUT="${OUT:-$TARGET/loadtest/bench}"
PG="${PG:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS="${REDIS:-redis://127.0.0.1:6379}"
export CI="${CI:-true}"
step() {
  local name="$1"; shift
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || return 0
  echo "=== $name: yui-loadtest $*"
  timeout 900 "$LT" --out "$OUT" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "=== $name: exit ${PIPESTATUS[0]}"
}
mkdir -p "$OUT"
# The architecture's reference load (2,000 connections, 200 rooms of 10, 200 posts/s), against
# the hub and then the floor in the same run.
step fanout-embedded --spawn-hub "$HUB" --floor "$FLOOR" fanout --rooms 200 --members 10 --rate 200 --duration 30
step fanout-cluster --spawn-hub "$HUB" --nodes 2 --database-url "$PG" --redis-url "$REDIS" \
  fanout --rooms 200 --members 10 --rate 200 --duration 30
# Saturation, embedded and two nodes: rate x1.5 per 5 s step until p99 > 50 ms or a loss.
step saturate-embedded --spawn-hub "$HUB" --floor "$FLOOR" saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
step saturate-cluster --spawn-hub "$HUB" --nodes 2 --database-url "$PG" --redis-url "$REDIS" \
  saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
# Durable posts/s on Postgres, one node: one reader per room (the poster), so posting dominates.
step saturate-posts-pg --spawn-hub "$HUB" --database-url "$PG" \
  saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50
step saturate-posts-sqlite --spawn-hub "$HUB" \
  saturate --rooms 2000 --members 1 --read-ratio 0 --rate 1000 --step-secs 5 --bound-ms 50
# A town notice to every reader.
step broadcast --spawn-hub "$HUB" --floor "$FLOOR" broadcast --readers 5000 --notice-rate 2 --duration 20
# A reconnect storm of 10,000 clients while posts go on.
step resume-embedded --spawn-hub "$HUB" resume --clients 10000 --rooms 500 --rate 200 --duration 15
step resume-cluster --spawn-hub "$HUB" --nodes 2 --database-url "$PG" --redis-url "$REDIS" \
  resume --clients 10000 --rooms 500 --rate 200 --duration 15
# Connections: as many as one hub process may hold here (20,000 open files per process).
step connect-embedded --spawn-hub "$HUB" --floor "$FLOOR" connect --connections 19000 --per-worker 10000 --hold 10
step connect-cluster --spawn-hub "$HUB" --nodes 2 --database-url "$PG" --redis-url "$REDIS" \
  connect --connections 38000 --per-worker 13000 --hold 10
