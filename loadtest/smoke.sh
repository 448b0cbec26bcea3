#!/usr/bin/env bash
# A short load-test smoke run for CI: `fanout` and `resume` against a hub this script spawns
# (a few seconds each, modest scale), failing on any loss, duplicate, reorder or unacked post.
# Usage: loadtest/smoke.sh [path/to/yui]   (default: the workspace's debug build)
# Env: LT (the yui-loadtest binary), OUT (report directory), CARGO_TARGET_DIR.
set -euo pipefail
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }
TARGET="${CARGO_TARGET_DIR:-target}"
HUB="$(abs "${1:-$TARGET/debug/yui}")"
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
LT="${LT:-$TARGET/debug/yui-loadtest}"
OUT="${OUT:-$TARGET/loadtest/smoke}"
[ -x "$HUB" ] || { echo "smoke: no hub binary at $HUB" >&2; exit 2; }
[ -x "$LT" ] || cargo build --quiet -p yui-loadtest --bin yui-loadtest
export CI="${CI:-true}" # no progress bars in logs
failed=0
run() {
  echo "smoke: yui-loadtest $*"
  if ! timeout 180 "$LT" --spawn-hub "$HUB" --out "$OUT" "$@"; then
    echo "smoke: FAILED: $*" >&2
    failed=$((failed + 1))
  fi
}
run fanout --rooms 20 --members 5 --rate 60 --duration 5 --attachment-share 0.1
run resume --clients 200 --rooms 20 --rate 40 --duration 6
if [ "${YUI_HAVE_SERVICES:-0}" = 1 ]; then
  run --nodes 2 --database-url "${YUI_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" \
    --redis-url "${YUI_TEST_REDIS_URL:-redis://127.0.0.1:6379}" fanout --rooms 20 --members 4 --rate 40 --duration 4
fi
echo "smoke: $((2 + ${YUI_HAVE_SERVICES:-0} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
