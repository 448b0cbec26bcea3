#!/usr/bin/env bash
# Browser tests: installs what is missing (npm packages, Debian's chromium), then runs them with
# node's test runner against real hub processes (YUI_BIN, default target/debug/yui).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x /usr/bin/chromium ]; then
  echo "[web] installing chromium"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Japanese glyphs in the screenshots (users' own devices have their fonts).
if ! fc-list 2>/dev/null | grep -qiE 'ipa|noto sans cjk'; then
  echo "[web] installing a Japanese font"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ipafont-gothic >/dev/null || echo "[web] no Japanese font: screenshots will show boxes"
fi
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
node --test --test-concurrency=1 tests/
