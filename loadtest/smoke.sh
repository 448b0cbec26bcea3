#!/usr/bin/env bash
# A short load-test smoke run for CI: fanout and resume against a spawned hub, a few seconds
# each, failing on any loss, duplicate or reorder. Usage: loadtest/smoke.sh [path/to/yui]
set -euo pipefail
cd "$(dirname "$0")/.."
HUB="${1:-target/debug/yui}"
LT="${LT:-target/debug/yui-loadtest}"
OUT="${OUT:-target/loadtest/smoke}"
[ -x "$LT" ] || cargo build --quiet -p yui-loadtest
"$LT" --spawn-hub "$HUB" --out "$OUT" fanout --rooms 20 --members 5 --rate 60 --duration 4
"$LT" --spawn-hub "$HUB" --out "$OUT" resume --clients 200 --rooms 20 --rate 40 --duration 6
if [ "${YUI_HAVE_SERVICES:-0}" = 1 ]; then
  "$LT" --spawn-hub "$HUB" --nodes 2 --database-url "${YUI_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" \
    --redis-url "${YUI_TEST_REDIS_URL:-redis://127.0.0.1:6379}" --out "$OUT" fanout --rooms 20 --members 4 --rate 40 --duration 4
fi
echo "smoke: 0 failed"
