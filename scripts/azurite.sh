#!/usr/bin/env bash
# Private Azurite (Azure Blob emulator, from npm into .tools) for tests and benchmarks:
#   ./scripts/azurite.sh start|stop DIR PORT
# Data lives in DIR; the process id in DIR/azurite.pid. --skipApiVersionCheck: the current
# Azure SDK speaks a newer API version than Azurite announces.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bin="$ROOT/.tools/node_modules/.bin/azurite-blob"

case "$cmd" in
start)
  [ -x "$bin" ] || { echo "azurite is not installed: run ./scripts/bootstrap.sh test" >&2; exit 1; }
  mkdir -p "$dir"
  "$bin" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" --skipApiVersionCheck \
    --silent --loose >"$dir/azurite.log" 2>&1 &
  echo $! >"$dir/azurite.pid"
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
      exit 0
    fi
    kill -0 "$(cat "$dir/azurite.pid")" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/azurite.log" >&2
  echo "azurite did not start on 127.0.0.1:$port" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/azurite.pid" ]; then
    kill "$(cat "$dir/azurite.pid")" 2>/dev/null || true
    rm -f "$dir/azurite.pid"
  fi
  ;;
*) echo "usage: $0 start|stop DIR PORT" >&2; exit 2 ;;
esac
