#!/usr/bin/env bash
# `make lint` (and the first step of `make test`): ruff check, ruff format check, pyright,
# and hadolint for the Dockerfile (no container engine is needed to lint it).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> lint: ruff check, ruff format --check, pyright, hadolint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/pyright
.venv/bin/hadolint Dockerfile
