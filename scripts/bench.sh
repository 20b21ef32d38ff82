#!/usr/bin/env bash
# `make bench`: every benchmark on SQLite and on a private PostgreSQL; figures printed and
# written to benchmarks/results.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/env.sh
PGDIR=$(mktemp -d /tmp/health-app-bench.XXXXXX)
chmod 755 "$PGDIR"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
AZPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap './scripts/azurite.sh stop "$PGDIR/azurite" "$AZPORT" || true; ./scripts/pg.sh stop "$PGDIR/data" "$PGPORT" || true; rm -rf "$PGDIR"' EXIT INT TERM
./scripts/pg.sh start "$PGDIR/data" "$PGPORT"
# bench_files measures the Azure backend against Azurite.
./scripts/azurite.sh start "$PGDIR/azurite" "$AZPORT"
export TEST_AZURITE_URL="http://127.0.0.1:$AZPORT"
rm -f benchmarks/results.json
for bench in benchmarks/bench_*.py; do
  module=$(basename "$bench" .py)
  python -m "benchmarks.$module" --postgres "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
done
