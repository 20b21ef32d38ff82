#!/usr/bin/env bash
# Installs the project's own tools: the virtualenv with the package, and bun from npm.
# Re-running with nothing changed installs nothing (stamps compare file hashes).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUN_VERSION=1.4.4
AZURITE_VERSION=3.37.0   # Azure Blob emulator for the storage tests and benchmarks
AXE_VERSION=4.14.1       # accessibility checks in the browser tier
extras=${1:-}   # "test" adds the test tools

command -v python3 >/dev/null || { echo "python3 (3.11+) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required (apt-get install nodejs npm)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
want="$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
have=$(cat .venv/.installed 2>/dev/null || true)
if [ "$want" != "$have" ] && ! { [ "$extras" = "" ] && [[ "$have" == "${want%-base}-test" ]]; }; then
  echo "==> installing Python packages${extras:+ ($extras)}"
  spec="."; [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/pip install -q -e "$spec"
  echo "$want" > .venv/.installed
fi

if [ ! -x .tools/node_modules/.bin/bun ] || [ "$(.tools/node_modules/.bin/bun --version)" != "$BUN_VERSION" ]; then
  echo "==> installing bun $BUN_VERSION from npm"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >/dev/null
fi

# Tests and benchmarks run the real Azure SDK against Azurite (npm ships it; no download).
azurite_have=$(node -p 'require("./.tools/node_modules/azurite/package.json").version' 2>/dev/null || true)
if [ "$extras" = "test" ] && [ "$azurite_have" != "$AZURITE_VERSION" ]; then
  echo "==> installing azurite $AZURITE_VERSION from npm"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi

# The browser tier checks every page with axe-core (injected by Playwright).
axe_have=$(node -p 'require("./.tools/node_modules/axe-core/package.json").version' 2>/dev/null || true)
if [ "$extras" = "test" ] && [ "$axe_have" != "$AXE_VERSION" ]; then
  echo "==> installing axe-core $AXE_VERSION from npm"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --loglevel=error "axe-core@$AXE_VERSION" >/dev/null
fi
