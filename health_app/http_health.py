"""`GET /_health`: can this worker serve now? For load balancers, the container's health
check and the scale rule. The database, Redis (when several workers share state) and the
file storage each answer within CHECK_SECONDS or count as unavailable; the answer names
which, never why (the reason goes to the log)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from health_app.config import Settings
from health_app.db import get_engine
from health_app.services.files.storage import get_storage

CHECK_SECONDS = 3.0
log = logging.getLogger(__name__)


def _database() -> None:
    with get_engine().connect() as conn:
        conn.execute(text("SELECT 1"))


async def _redis(url: str) -> None:
    client = aioredis.from_url(
        url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
    )
    try:
        await client.ping()  # type: ignore[misc]  # redis-py types ping as maybe-sync
    finally:
        await client.aclose()


async def _outcome(name: str, check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, CHECK_SECONDS)
    except Exception as exc:  # any failure, a timeout included, means "not ready"
        log.warning("health check: %s unavailable (%s)", name, type(exc).__name__)
        return "unavailable"
    return "ok"


def health_routes(settings: Callable[[], Settings]) -> list[Route]:
    async def health(_request: Request) -> JSONResponse:
        cfg = settings()
        checks: dict[str, Awaitable[None]] = {
            "database": run_in_threadpool(_database),
            "storage": run_in_threadpool(get_storage(cfg).check),
        }
        if cfg.reflex_redis_url:
            checks["redis"] = _redis(cfg.reflex_redis_url)
        outcomes = await asyncio.gather(*(_outcome(n, c) for n, c in checks.items()))
        body = dict(zip(checks, outcomes, strict=True))
        body.setdefault("redis", "not used")
        ready = "unavailable" not in body.values()
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", **body},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return [Route("/_health", health, methods=["GET"])]
