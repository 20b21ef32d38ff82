#!/usr/bin/env bash
# `make run`: migrate, load demo data into an empty database, start in production mode.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/env.sh
[ -f .env ] && set -a && source .env && set +a
export DATABASE_URL=${DATABASE_URL:-sqlite:///$ROOT/var/health_app.db}
export PORT=${PORT:-3000}
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://localhost:$PORT}
export DEV_MODE=${DEV_MODE:-true}
# Both local spellings of the address work in a browser (the event socket checks the origin).
export CORS_ALLOWED_ORIGINS=${CORS_ALLOWED_ORIGINS:-$PUBLIC_BASE_URL,http://127.0.0.1:$PORT}
export REFLEX_DB_URL=$DATABASE_URL
mkdir -p -m 0700 var  # the database and patient files: owner only
# `python -m` runs this checkout's code, whatever an older install put on PATH.
python -m health_app.cli db upgrade
python -m health_app.cli seed-demo --if-empty
echo
echo "  Health App is starting on $PUBLIC_BASE_URL (the first start builds the frontend: ~1 min)"
echo "  Development mailbox: $PUBLIC_BASE_URL/dev/mailbox"
echo
echo "  (Reflex's own notes about Node.js 22, \`reflex db migrate\` and \`uv run\` are left out: bun"
echo "   runs the frontend here, and this script has migrated the database.)"
echo
# Harmless lines for this setup are filtered; everything else Reflex prints comes through.
reflex run --env prod --single-port --frontend-port "$PORT" --backend-host 127.0.0.1 2>&1 \
  | grep --line-buffered -v -E \
    'Run .uv run reflex run|Target database is not up to date|Node\.js is out of date|^higher\.$|Initializing the web directory'
exit "${PIPESTATUS[0]}"
