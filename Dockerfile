# Health App: one image for the app workers, the scheduler and the migration step.
#   docker build -t health-app .
#   docker run --rm health-app migrate      (once per release)
#   docker run -p 8000:8000 health-app      (serve: N workers, WEB_CONCURRENCY)
#   docker run health-app scheduler         (exactly one, with SCHEDULER_IN_APP=false)
# Settings come from the environment (.env.example lists them); see README, Deploying.

# --- build: Python packages, bun, and the pages compiled once ----------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_USE_SYSTEM_BUN=1 \
    PATH=/opt/venv/bin:/opt/tools/node_modules/.bin:$PATH
# npm only installs bun (the same pinned version as scripts/bootstrap.sh); nothing of Node
# reaches the final image. Debian replaces exact package versions with its security
# updates, so the base image's tag is what is pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN npm install --prefix /opt/tools --no-audit --no-fund --loglevel=error bun@1.4.4
WORKDIR /app
COPY pyproject.toml README.md ./
COPY health_app ./health_app
RUN python -m venv /opt/venv && pip install --no-compile .
COPY rxconfig.py alembic.ini reflex.lock ./
COPY alembic ./alembic
COPY assets ./assets
COPY scripts/container-start.sh ./scripts/container-start.sh
# The pages are built for http://localhost:8000: Reflex's client swaps localhost for the
# address the page came from, and behind https drops the port, so one image serves any
# https address. The build needs a database URL to compile, not a database.
RUN DATABASE_URL=sqlite:////tmp/build.db REFLEX_DB_URL=sqlite:////tmp/build.db \
    python -m health_app.cli build-frontend --address http://localhost:8000 \
    && rm -rf .web/node_modules /tmp/build.db

# --- runtime: the venv, the code and the built pages; no compilers, no Node --------------
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    DEV_MODE=false \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=2
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# The code and pages belong to root: the app reads them and writes only its upload
# staging folder (patient files go to Azure Blob in production).
COPY --from=build /app /app
WORKDIR /app
RUN install -d -o app -g app -m 0700 /app/uploaded_files /app/var
USER 10001:10001
EXPOSE 8000
# Readiness: database, file storage and Redis (200 or 503 naming what is down).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/app/scripts/container-start.sh"]
CMD ["serve"]
