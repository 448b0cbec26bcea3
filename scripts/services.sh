#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are up: starts them, or
# installs them from Debian's packages when missing. Sourced by scripts/test.
# Sets YUI_HAVE_SERVICES=1 when both answer.

yui_log() { printf '\033[1m[yui]\033[0m %s\n' "$*"; }

yui_pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
yui_redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

yui_apt_install() {
  if [ "$(id -u)" != 0 ]; then yui_log "not root: cannot apt-get install $*"; return 1; fi
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

yui_start_postgres() {
  yui_pg_up && return 0
  if ! ls /etc/postgresql >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
    yui_log "PostgreSQL missing: installing it"
    yui_apt_install postgresql postgresql-client || return 1
  fi
  yui_log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do yui_pg_up && break; sleep 1; done
  yui_pg_up || return 1
  # Trust auth for local TCP, user postgres, database test (as the machine's own set-up has).
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
}

yui_start_redis() {
  yui_redis_up && return 0
  if ! command -v redis-server >/dev/null; then
    yui_log "Redis missing: installing it"
    yui_apt_install redis-server || return 1
  fi
  yui_log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 20); do yui_redis_up && break; sleep 0.5; done
  yui_redis_up
}

# PDF export: a Japanese font the hub embeds (its default --export-font path), and pdftotext,
# with which the export tests read the PDFs back.
yui_export_tools() {
  [ -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] && command -v pdftotext >/dev/null && return 0
  yui_log "installing the PDF export's font and poppler-utils"
  yui_apt_install fonts-ipaexfont-gothic poppler-utils
}
yui_export_tools || yui_log "no Japanese font or pdftotext: the PDF export tests will fail"

YUI_HAVE_SERVICES=0
if yui_start_postgres && yui_start_redis; then
  YUI_HAVE_SERVICES=1
fi
export YUI_HAVE_SERVICES
