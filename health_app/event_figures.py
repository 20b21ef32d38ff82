"""Figures an operator watches, across every worker: people connected, events per minute
and how long they take (p95), each with an id on its log lines.

Each worker times the events it processes (state lock, handler and the answer sent) and
counts its connected tabs. Every few seconds it publishes a short summary to Redis under
its own key, which expires when the worker stops publishing (a killed worker drops out of
the sums within half a minute). With one worker and no Redis, its own figures are all
there is. Nothing here names a person: events are counted by handler name only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.utils.token_manager import RedisTokenManager

from health_app import logs

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
PUBLISH_SECONDS = 5
KEY_PREFIX = "health_app_figures_"
# Per worker and minute: enough for a p95, bounded whatever the load.
MAX_SAMPLES = 2000


@dataclass(frozen=True)
class WorkerFigures:
    connected: int
    events: int  # in the last WINDOW_SECONDS
    samples_ms: tuple[float, ...]


@dataclass(frozen=True)
class Figures:
    workers: int
    connected: int
    events_per_minute: int
    p95_ms: float | None
    measured: bool = True


class _EventClock:
    """This worker's event durations of the last minute."""

    def __init__(self) -> None:
        self._done: deque[tuple[float, float]] = deque()

    def record(self, ms: float) -> None:
        now = time.monotonic()
        self._done.append((now, ms))
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self._done and now - self._done[0][0] > WINDOW_SECONDS:
            self._done.popleft()

    def summary(self, connected: int) -> WorkerFigures:
        self._forget(time.monotonic())
        durations = [ms for _, ms in self._done]
        step = max(1, len(durations) // MAX_SAMPLES)
        return WorkerFigures(connected, len(durations), tuple(durations[::step]))


_clock = _EventClock()
_installed = False


def p95(samples: list[float]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def combine(parts: list[WorkerFigures]) -> Figures:
    samples = [ms for part in parts for ms in part.samples_ms]
    return Figures(
        workers=len(parts),
        connected=sum(p.connected for p in parts),
        events_per_minute=sum(p.events for p in parts),
        p95_ms=p95(samples),
        measured=_installed,
    )


def install() -> None:
    """Time every event this process handles, and give its log lines an event id."""
    global _installed
    from reflex_base.event.processor import base_state_processor

    processor = base_state_processor.BaseStateEventProcessor
    original: Callable[..., Awaitable[None]] | None = getattr(processor, "_execute_event", None)
    if original is None:  # a Reflex without this step: figures say "not measured"
        log.warning("event timing is not available in this Reflex version")
        return
    if _installed:
        return

    async def timed(self: Any, *, entry: Any, registered_handler: Any) -> None:
        name = str(getattr(entry.event, "name", "")).rsplit(".", 1)[-1]
        id_token = logs.event_id.set(uuid.uuid4().hex[:16])
        name_token = logs.event_name.set(name)
        started = time.perf_counter()
        try:
            await original(self, entry=entry, registered_handler=registered_handler)
        finally:
            _clock.record((time.perf_counter() - started) * 1000)
            logs.event_name.reset(name_token)
            logs.event_id.reset(id_token)

    processor._execute_event = timed  # type: ignore[method-assign]
    _installed = True


def _connected_here(app: rx.App) -> int:
    manager: Any = getattr(app.event_namespace, "_token_manager", None)
    if manager is None:
        return 0
    mine = getattr(manager, "instance_id", None)
    records = getattr(manager, "token_to_socket", {})
    return sum(1 for r in records.values() if getattr(r, "instance_id", mine) == mine)


def _redis(app: rx.App) -> Any:
    manager = getattr(app.event_namespace, "_token_manager", None)
    return manager.redis if isinstance(manager, RedisTokenManager) else None


def _encode(figures: WorkerFigures) -> str:
    return json.dumps(
        {"connected": figures.connected, "events": figures.events, "ms": figures.samples_ms}
    )


def _decode(raw: bytes | str) -> WorkerFigures:
    data = json.loads(raw)
    return WorkerFigures(int(data["connected"]), int(data["events"]), tuple(data["ms"]))


async def figures_lifespan(app: rx.App) -> None:
    """A Reflex lifespan task: publish this worker's summary while it lives (Redis only)."""
    redis = _redis(app)
    if redis is None:
        return
    key = f"{KEY_PREFIX}{uuid.uuid4().hex}"
    while True:
        try:
            summary = _clock.summary(_connected_here(app))
            await redis.set(key, _encode(summary), ex=PUBLISH_SECONDS * 6)
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis away: the next round tries again
            log.warning("could not publish this worker's figures", exc_info=True)
        await asyncio.sleep(PUBLISH_SECONDS)


async def current(app: rx.App) -> Figures:
    """Every worker's figures combined (this worker's alone without Redis)."""
    redis = _redis(app)
    parts: list[WorkerFigures] = []
    if redis is not None:
        async for key in redis.scan_iter(match=f"{KEY_PREFIX}*", count=100):
            if raw := await redis.get(key):
                parts.append(_decode(raw))
    # Before the first publication (or without Redis) this worker's own figures stand.
    return combine(parts or [_clock.summary(_connected_here(app))])
