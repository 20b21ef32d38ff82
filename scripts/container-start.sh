#!/usr/bin/env bash
# The container's entry point (also run by the scale test, outside a container):
#   serve      the app: built pages and N workers on $PORT (WEB_CONCURRENCY, default 2)
#   migrate    apply the database migrations, then exit (run once per release, before serve)
#   scheduler  the one scheduler process (with SCHEDULER_IN_APP=false on the app)
#   anything else runs as given (for example: python -m health_app.cli create-admin ...)
# Settings come from the environment; production refuses development defaults.
set -euo pipefail
command=${1:-serve}
case "$command" in
serve)
  exec python -m health_app.cli serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-2}"
  ;;
migrate)
  exec python -m health_app.cli db upgrade
  ;;
scheduler)
  exec python -m health_app.cli scheduler
  ;;
*)
  exec "$@"
  ;;
esac
