#!/usr/bin/env bash
# The 2026-12-03 evening sitting, A against B interleaved: embedded at the reference load
# without reads (three rounds) and with the default reads (two), two nodes without reads (two),
# each with the floor in the same run.
# Usage: sitting.sh A B   (directories holding yui, yui-floor, yui-loadtest)
set -uo pipefail; export CI=true
OUT="${OUT:-docs/bench-runs/2026-12-03-eve}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
A="$1"; B="$2"
show() { grep -E "report:|CPU|latency \(ms\)|cross-node|correctness|floor|reads sent"; }
# rounds LABEL N HUB-ARGS... -- SCENARIO-ARGS...: N rounds of A then B, the floor in each run.
rounds() {
  local label=$1 n=$2; shift 2
  local hub=() scen=()
  while [ "$1" != "--" ]; do hub+=("$1"); shift; done; shift; scen=("$@")
  for round in $(seq "$n"); do for D in "$A" "$B"; do
    echo "=== $label $D $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    timeout 600 "$A/yui-loadtest" --out "$OUT" --spawn-hub "$D/yui" "${hub[@]}" --floor "$D/yui-floor" \
      fanout --rooms 200 --members 10 --rate 200 --duration 30 "${scen[@]}" 2>&1 | show
  done; done
}
rounds "embedded no reads" 3 -- --read-ratio 0
rounds "embedded reads" 2 --
rounds "two nodes no reads" 2 --nodes 2 --database-url $PG --redis-url $REDIS -- --read-ratio 0
