# The two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help run run-prod test test-fast bench lint install system-deps

help:
	@echo "make run    start the app on http://localhost:3000 with demo data (SQLite, dev mailbox)"
	@echo "make run-prod  the production shape: PostgreSQL, Redis, one worker per core, one scheduler"
	@echo "make test   install what is missing and run every test tier (PostgreSQL, Chromium, ...)"
	@echo "make bench  run the benchmarks and write benchmarks/results.json"
	@echo "make lint   ruff check, ruff format check and pyright (run by make test too)"

install:
	@./scripts/bootstrap.sh

run: install
	@./scripts/run.sh

run-prod: install
	@./scripts/system-deps.sh
	@./scripts/run-prod.sh

system-deps:
	@./scripts/system-deps.sh

test:
	@./scripts/system-deps.sh
	@./scripts/bootstrap.sh test
	@./scripts/lint.sh
	@./scripts/test.sh

test-fast:
	@./scripts/bootstrap.sh test
	@./scripts/test.sh --no-e2e

bench:
	@./scripts/system-deps.sh
	@./scripts/bootstrap.sh test
	@./scripts/bench.sh

lint:
	@./scripts/bootstrap.sh test
	@./scripts/lint.sh
