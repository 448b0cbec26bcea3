#!/usr/bin/env bash
# Per-process CPU and pg_stat_statements over 10 s of the two-node reference load without reads.
# Usage: profile.sh DIR LABEL   (pg_stat_statements preloaded, with track_planning)
set -uo pipefail; export CI=true
D="$1"; L="$2"; OUT="${OUT:-docs/bench-runs/2026-12-05}"
PG=postgres://postgres@127.0.0.1:5432/postgres; REDIS=redis://127.0.0.1:6379
P="psql -h 127.0.0.1 -U postgres -d postgres -At"
timeout 300 "$D/yui-loadtest" --out "$OUT/profile" --spawn-hub "$D/yui" --nodes 2 --database-url $PG --redis-url $REDIS \
  fanout --rooms 200 --members 10 --rate 200 --duration 30 --read-ratio 0 > "$OUT/profile/$L.run" 2>&1 &
sleep 14
$P -c "SELECT pg_stat_statements_reset()" >/dev/null
echo "== $L: CPU over 10 s (2,000 posts)"
bash docs/bench-runs/2026-12-03-eve/commit-cost/proccpu.sh 10
echo "== $L: statements over the same 10 s (µs per call)"
$P -F ' | ' -c "SELECT calls, round((total_exec_time*1000/greatest(calls,1))::numeric,1) AS exec_us, plans, round((total_plan_time*1000/greatest(plans,1))::numeric,1) AS plan_us, round((total_exec_time+total_plan_time)::numeric,1) AS total_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements ORDER BY total_exec_time+total_plan_time DESC LIMIT 10"
wait
grep -E "Postgres\+Redis|all nodes|correctness" "$OUT/profile/$L.run"
