#!/usr/bin/env bash
# `make run-prod`: the production shape on this machine. PostgreSQL and Redis (Debian
# packages) on loopback with their data in var/prod, the pages built once, N app workers
# behind one port and one scheduler process. Ctrl-C stops all of it; the data stays.
# Demo data and the development mailbox stay on (DEV_MODE=true): it runs on loopback, for
# trying the shape, not for patients (see README, Deploying).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/env.sh
[ -f .env ] && set -a && source .env && set +a
PORT=${PORT:-3000}
PGPORT=${PGPORT:-55433}
REDISPORT=${REDISPORT:-56380}
WORKERS=${WEB_CONCURRENCY:-$(nproc)}
DATA="$ROOT/var/prod"
mkdir -p -m 0700 "$ROOT/var" "$DATA"
# PostgreSQL runs as its own user when we are root: it may pass through (not list) these.
[ "$(id -u)" = 0 ] && chmod 0711 "$ROOT/var" "$DATA"

children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ./scripts/redis.sh stop "$DATA/redis" "$REDISPORT" || true
  ./scripts/pg.sh stop "$DATA/pg" "$PGPORT" || true
}
trap cleanup EXIT INT TERM

echo "==> PostgreSQL on 127.0.0.1:$PGPORT, Redis on 127.0.0.1:$REDISPORT (data in var/prod)"
./scripts/pg.sh start "$DATA/pg" "$PGPORT" durable
./scripts/redis.sh start "$DATA/redis" "$REDISPORT"

export DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
export REFLEX_DB_URL=$DATABASE_URL
export REFLEX_REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://localhost:$PORT}
export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-$PUBLIC_BASE_URL,http://127.0.0.1:$PORT}
export DEV_MODE=${DEV_MODE:-true}
export FILES_DIR=${FILES_DIR:-$DATA/files}
export PUBLIC_FILES_DIR=${PUBLIC_FILES_DIR:-$DATA/public}
# One scheduler process below; the workers only serve.
export SCHEDULER_IN_APP=false
export WEB_CONCURRENCY=$WORKERS
export REFLEX_WEB_WORKDIR="$DATA/web"

python -m health_app.cli db upgrade
python -m health_app.cli seed-demo --if-empty
# A copy of the development build's packages saves a package install on the first build.
if [ ! -d "$DATA/web/node_modules" ] && [ -d .web/node_modules ]; then
  mkdir -p "$DATA/web" && cp -a .web/node_modules "$DATA/web/"
fi
echo "==> building the pages (about 15 s)"
python -m health_app.cli build-frontend --address "http://localhost:$PORT" \
  2>&1 | grep --line-buffered -v -E 'Node\.js is out of date|^higher\.$|uv run reflex run'

python -m health_app.cli scheduler &
children+=($!)
echo
echo "  Health App (production shape): $PUBLIC_BASE_URL with $WORKERS workers and one scheduler"
echo "  Development mailbox: $PUBLIC_BASE_URL/dev/mailbox"
echo
python -m health_app.cli serve --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" &
children+=($!)
wait -n "${children[@]}"
