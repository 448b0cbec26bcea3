#!/usr/bin/env bash
# The rusqlite store against the sqlx one (main's df7042e), embedded, interleaved, release builds.
# Usage: bench.sh OLD_YUI NEW_YUI [rounds]   (env: LT, FLOOR, OUT)
# Per round and build: the reference load (2,000 connections, 200 rooms of 10, 200 posts/s,
# 30 s) with the default read traffic and with --read-ratio 0, then saturation (rate x1.5 per
# 5 s step until p99 > 50 ms or a loss); each with the floor in the same run.
set -uo pipefail
OLD="$1"; NEW="$2"; ROUNDS="${3:-2}"
LT="${LT:-target/release/yui-loadtest}"
FLOOR="${FLOOR:-target/release/yui-floor}"
OUT="${OUT:-target/loadtest/lite}"
export CI=true
mkdir -p "$OUT"
run() {
  local label="$1"; shift
  echo "=== $label: yui-loadtest $*"
  timeout 900 "$LT" --out "$OUT" "$@" 2>&1
  echo "=== $label: exit ${PIPESTATUS[0]}"
  sleep 3
}
for round in $(seq 1 "$ROUNDS"); do
  for b in old new; do
    if [ "$b" = old ]; then H="$OLD"; else H="$NEW"; fi
    run "$b round $round fanout-embedded" --spawn-hub "$H" --floor "$FLOOR" \
      fanout --rooms 200 --members 10 --rate 200 --duration 30
    run "$b round $round fanout-embedded-noreads" --spawn-hub "$H" --floor "$FLOOR" \
      fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0
    run "$b round $round saturate-embedded" --spawn-hub "$H" --floor "$FLOOR" \
      saturate --rooms 200 --members 10 --rate 500 --step-secs 5 --bound-ms 50
  done
done
