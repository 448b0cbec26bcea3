#!/usr/bin/env bash
# Browser tests of the web client: installs what is missing (npm packages from the lock file,
# Debian's chromium), then runs node's test runner. The hub binary comes from $YUI_BIN, default
# <repo>/target/debug/yui (build it with `cargo build -p yui-server`).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  echo "[web-client] installing Debian's chromium"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Japanese glyphs in the screenshots (users' own devices have their fonts).
if ! fc-list 2>/dev/null | grep -qiE 'ipa|noto sans cjk'; then
  echo "[web-client] installing a Japanese font for the screenshots"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-ipafont-gothic >/dev/null 2>&1 || echo "[web-client] no Japanese font: screenshots show boxes"
fi

# The hub's PDF export embeds IPAex Gothic (its default --export-font); the tests read the PDF
# back with pdftotext. scripts/test installs both too; this keeps the browser tests runnable alone.
if [ ! -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || ! command -v pdftotext >/dev/null; then
  echo "[web-client] installing the PDF export's font and poppler-utils"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq fonts-ipaexfont-gothic poppler-utils >/dev/null 2>&1 || echo "[web-client] no IPAex font: the PDF export test will fail"
fi

if [ ! -d node_modules/playwright-core ]; then
  echo "[web-client] npm ci"
  # playwright-core never downloads a browser by itself; this only keeps it from trying.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

export YUI_BIN="${YUI_BIN:-$(cd .. && pwd)/target/debug/yui}"
if [ ! -x "$YUI_BIN" ]; then
  echo "[web-client] hub binary $YUI_BIN missing: building yui-server"
  (cd .. && cargo build -q -p yui-server)
fi

echo "[web-client] node --test (hub: $YUI_BIN)"
exec node --test --test-concurrency=1 "${@:-tests/}"
