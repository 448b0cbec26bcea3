#!/usr/bin/env bash
# A local Redis Cluster of three masters (no replicas) on loopback, for the tests and the load
# tester:
#   scripts/redis-cluster.sh start DIR [PORT0]   # ports PORT0..PORT0+2 (default 7101-7103)
#   scripts/redis-cluster.sh stop  DIR [PORT0]
#   scripts/redis-cluster.sh restart-node DIR PORT   # kill one master and start it again
# DIR holds each node's cluster config and log. `start` returns once `cluster_state:ok` and
# prints the URL to use: redis+cluster://127.0.0.1:PORT0
# No persistence (--save "" --appendonly no): pub/sub keeps nothing anyway.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
port0=${3:-${YUI_REDIS_CLUSTER_PORT0:-7101}}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR [PORT0] | restart-node DIR PORT" >&2
  exit 2
fi
ports=("$port0" "$((port0 + 1))" "$((port0 + 2))")

start_node() {
  local p=$1
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 127.0.0.1 --daemonize yes \
    --dir "$dir/$p" --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
    --cluster-node-timeout 5000 --cluster-require-full-coverage no \
    --save "" --appendonly no \
    --pidfile "$dir/$p/redis.pid" --logfile "$dir/$p/redis.log"
  for _ in $(seq 100); do
    redis-cli -p "$p" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis-server on port $p did not start (see $dir/$p/redis.log)" >&2
  return 1
}

stop_node() {
  local p=$1
  redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 100); do
    redis-cli -p "$p" ping >/dev/null 2>&1 || return 0
    sleep 0.05
  done
  if [ -f "$dir/$p/redis.pid" ]; then kill -9 "$(cat "$dir/$p/redis.pid")" 2>/dev/null || true; fi
}

wait_ok() {
  for _ in $(seq 200); do
    local ok=1
    for p in "${ports[@]}"; do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  echo "the Redis Cluster on ${ports[*]} did not reach cluster_state:ok" >&2
  return 1
}

case "$cmd" in
  start)
    for p in "${ports[@]}"; do
      if redis-cli -p "$p" ping >/dev/null 2>&1; then
        echo "port $p is already in use by a Redis; stop it first ($0 stop $dir $port0)" >&2
        exit 1
      fi
    done
    mkdir -p "$dir"
    for p in "${ports[@]}"; do rm -rf "${dir:?}/$p"; done
    for p in "${ports[@]}"; do start_node "$p"; done
    redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
      >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; exit 1; }
    wait_ok
    echo "redis+cluster://127.0.0.1:$port0"
    ;;
  stop)
    for p in "${ports[@]}"; do stop_node "$p"; done
    ;;
  restart-node)
    p=${3:?port}
    ports=("$p")
    stop_node "$p"
    start_node "$p"
    ;;
  *)
    echo "usage: $0 start|stop DIR [PORT0] | restart-node DIR PORT" >&2
    exit 2
    ;;
esac
