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
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
from reflex.utils.token_manager import RedisTokenManager

from health_app import logs

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
PUBLISH_SECONDS = 5
KEY_PREFIX = "health_app_figures_"

# Durations are counted in buckets 5 % wide, not kept one by one: a worker answering
# 750 events/s kept 45,000 of them for the minute (about 4 MB, still held well after a
# burst), and the p95 of the buckets is within 5 % of the exact one, whatever the load.
# Bucket 0 holds everything up to SMALLEST_MS; bucket b up to SMALLEST_MS * GROWTH**b.
SMALLEST_MS = 0.1
GROWTH = 1.05
_LOG_GROWTH = math.log(GROWTH)

Histogram = dict[int, int]  # bucket -> events


def bucket_of(ms: float) -> int:
    if ms <= SMALLEST_MS:
        return 0
    return math.ceil(math.log(ms / SMALLEST_MS) / _LOG_GROWTH - 1e-9)


def upper_ms(bucket: int) -> float:
    """The longest duration counted in `bucket` (what its p95 reports: never too low)."""
    return SMALLEST_MS * GROWTH**bucket


def _merged(histograms: list[Histogram]) -> Histogram:
    merged: Histogram = {}
    for counts in histograms:
        for b, n in counts.items():
            merged[b] = merged.get(b, 0) + n
    return merged


@dataclass(frozen=True)
class WorkerFigures:
    connected: int
    durations: Histogram = field(default_factory=dict)  # of the last WINDOW_SECONDS

    @property
    def events(self) -> int:
        return sum(self.durations.values())


@dataclass(frozen=True)
class Figures:
    workers: int
    connected: int
    events_per_minute: int
    p95_ms: float | None
    measured: bool = True


class _EventClock:
    """This worker's event durations of the last minute, a histogram per second."""

    def __init__(self) -> None:
        self._seconds: deque[tuple[int, Histogram]] = deque()

    def record(self, ms: float, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append((second, {}))
            self._forget(second)
        counts = self._seconds[-1][1]
        b = bucket_of(ms)
        counts[b] = counts.get(b, 0) + 1

    def _forget(self, second: int) -> None:
        while self._seconds and second - self._seconds[0][0] >= WINDOW_SECONDS:
            self._seconds.popleft()

    def summary(self, connected: int, now: float | None = None) -> WorkerFigures:
        self._forget(int(time.monotonic() if now is None else now))
        return WorkerFigures(connected, _merged([counts for _, counts in self._seconds]))


_clock = _EventClock()
_installed = False


def p95(durations: Histogram) -> float | None:
    """The 95th percentile of the counted durations, rounded up to its bucket's bound."""
    total = sum(durations.values())
    if not total:
        return None
    rank = min(total, int(0.95 * total) + 1)  # as the sorted list's [int(0.95 n)]
    seen = 0
    for b in sorted(durations):
        seen += durations[b]
        if seen >= rank:
            return upper_ms(b)
    return None  # not reached: the counts add up to total


def combine(parts: list[WorkerFigures]) -> Figures:
    """Every worker's counts add up: a busy worker weighs as many events as it answered."""
    merged = _merged([part.durations for part in parts])
    return Figures(
        workers=len(parts),
        connected=sum(p.connected for p in parts),
        events_per_minute=sum(merged.values()),
        p95_ms=p95(merged),
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
        {
            "connected": figures.connected,
            "durations": {str(b): n for b, n in figures.durations.items()},
        }
    )


def _decode(raw: bytes | str) -> WorkerFigures | None:
    """A worker's summary; None for one this version cannot read (a worker of an older
    release during a rolling deploy published its durations another way)."""
    try:
        data = json.loads(raw)
        durations = {int(b): int(n) for b, n in data["durations"].items()}
        return WorkerFigures(int(data["connected"]), durations)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


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
            if (raw := await redis.get(key)) and (part := _decode(raw)) is not None:
                parts.append(part)
    # Before the first publication (or without Redis) this worker's own figures stand.
    return combine(parts or [_clock.summary(_connected_here(app))])
