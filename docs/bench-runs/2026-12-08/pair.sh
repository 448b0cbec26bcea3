#!/usr/bin/env bash
# Two nodes on Postgres + Redis, the reference load with the default reads, base against new,
# interleaved, ROUNDS rounds: the report's figures (the floor in each run), each process's CPU
# over 10 s mid-run (proccpu.sh) and, when pg_stat_statements is preloaded, the statements
# over the same 10 s.
# Usage: [TAG=name] [DURATION=30] [SAMPLE_AT=16] pair.sh BASE_DIR NEW_DIR [ROUNDS]
#   (BASE_DIR's yui-loadtest and yui-floor drive both; SAMPLE_AT: seconds from the start)
set -uo pipefail; export CI=true
B="$1"; N="$2"; R="${3:-2}"; OUT="${OUT:-docs/bench-runs/2026-12-08}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
P="psql -h 127.0.0.1 -U postgres -d postgres -At"
stats=$($P -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'" 2>/dev/null)
one() { local label=$1 d=$2
  echo "=== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 300 "$B/yui-loadtest" --out "$OUT" --spawn-hub "$d/yui" --nodes 2 --database-url $PG --redis-url $REDIS \
    --floor "$B/yui-floor" fanout --rooms 200 --members 10 --rate 200 --duration ${DURATION:-30} > "$OUT/${TAG:-pair}-$label.run" 2>&1 &
  # The hubs run first (the floor after them): sample mid-run.
  sleep ${SAMPLE_AT:-16}
  [ "$stats" = 1 ] && $P -c "SELECT pg_stat_statements_reset()" >/dev/null
  echo "-- CPU over 10 s (about 2,000 posts)"
  bash docs/bench-runs/2026-12-03-eve/commit-cost/proccpu.sh 10
  if [ "$stats" = 1 ]; then
    echo "-- statements over the same 10 s (calls | exec µs | plans | plan µs | total ms | text)"
    $P -F ' | ' -c "SELECT calls, round((total_exec_time*1000/greatest(calls,1))::numeric,1), plans, round((total_plan_time*1000/greatest(plans,1))::numeric,1), round((total_exec_time+total_plan_time)::numeric,1), left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_statements ORDER BY total_exec_time+total_plan_time DESC LIMIT 8"
    echo "-- all statements: calls, exec ms, plan ms"
    $P -F ' | ' -c "SELECT sum(calls), round(sum(total_exec_time)::numeric,1), round(sum(total_plan_time)::numeric,1) FROM pg_stat_statements"
  fi
  wait
  grep -E "report|CPU|latency \(ms\)|correctness|cross" "$OUT/${TAG:-pair}-$label.run"
}
for i in $(seq 1 "$R"); do
  one "base-$i" "$B"
  one "new-$i" "$N"
done
