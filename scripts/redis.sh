#!/usr/bin/env bash
# Private Redis on loopback for the production shape and the scale test:
# ./scripts/redis.sh start|stop DIR PORT. Tab states only: nothing is saved to disk.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-56379}
command -v redis-server >/dev/null || { echo "redis-server not found (apt-get install redis-server)" >&2; exit 1; }

case "$cmd" in
start)
  mkdir -p "$dir"
  # Reflex waits for lock releases through keyspace notifications; it sets them itself
  # where CONFIG is allowed, and they are set here so a start never depends on that.
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
    --notify-keyspace-events Kgxe --protected-mode yes
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && exit 0; sleep 0.1; done
  cat "$dir/redis.log" >&2; exit 1
  ;;
stop)
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  ;;
*) echo "usage: $0 start|stop DIR PORT" >&2; exit 2 ;;
esac
