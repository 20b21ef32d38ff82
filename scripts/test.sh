#!/usr/bin/env bash
# `make test`: a private PostgreSQL and Azurite on loopback, then every test tier in one pytest run.
# Stops what it started, also on failure. `--no-e2e` skips the browser tier; further
# arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/env.sh

PGDIR=$(mktemp -d /tmp/health-app-pg.XXXXXX)
chmod 755 "$PGDIR"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AZPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  ./scripts/azurite.sh stop "$PGDIR/azurite" "$AZPORT" || true
  ./scripts/pg.sh stop "$PGDIR/data" "$PGPORT" || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT INT TERM

echo "==> starting PostgreSQL on 127.0.0.1:$PGPORT"
./scripts/pg.sh start "$PGDIR/data" "$PGPORT"
export TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
echo "==> starting Azurite (Azure Blob emulator) on 127.0.0.1:$AZPORT"
./scripts/azurite.sh start "$PGDIR/azurite" "$AZPORT"
export TEST_AZURITE_URL="http://127.0.0.1:$AZPORT"
# Tests build their own settings; nothing from a developer's .env leaks in.
unset DATABASE_URL REFLEX_DB_URL MAIL_BACKEND SMTP_HOST REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
unset STORAGE_BACKEND FILES_DIR PUBLIC_FILES_DIR AZURE_STORAGE_CONNECTION_STRING

args=(-p no:cacheprovider --timeout=600)
if [ "${1:-}" = "--no-e2e" ]; then args+=(-m "not e2e"); shift; fi
# Anything else is handed to pytest (test paths, -k, -x); the default is every tier.
if [ $# -gt 0 ]; then args+=("$@"); else args+=(tests); fi
echo "==> running tests"
set +e
python -m pytest "${args[@]}"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi
exit $rc
