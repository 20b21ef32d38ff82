#!/usr/bin/env bash
# `make lint` (and the first step of `make test`): ruff check, ruff format check, pyright.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> lint: ruff check, ruff format --check, pyright"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/pyright
