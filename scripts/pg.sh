#!/usr/bin/env bash
# Private PostgreSQL on loopback: ./scripts/pg.sh start|stop DIR PORT [durable]
# Tests and benchmarks skip fsync (their data is thrown away); `durable` (make run-prod)
# keeps PostgreSQL's crash safety. initdb refuses to run as root, so the cluster belongs to
# the postgres user when we are root.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-55432}; mode=${4:-}
fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "$mode" = durable ] && fast=""
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir" -A trust -U postgres --no-sync >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $fast -c max_connections=200" start >/dev/null
  for _ in $(seq 1 60); do "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q && break; sleep 0.5; done
  "$bin/pg_isready" -h 127.0.0.1 -p "$port" -q || { cat "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  [ -f "$dir/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
  ;;
*) echo "usage: $0 start|stop DIR PORT" >&2; exit 2 ;;
esac
