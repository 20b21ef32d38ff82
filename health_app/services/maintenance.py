"""Periodic upkeep of availability: extend weekly templates, tidy past open slots.

Safe to run in every app process at once: extending takes each doctor's lock and skips
what exists, tidying only deletes rows nothing refers to.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from health_app.config import get_settings
from health_app.db import session_scope
from health_app.services import availability

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 3600


@dataclass(frozen=True)
class TickReport:
    slots_created: int
    slots_removed: int


def tick(now: datetime | None = None) -> TickReport:
    now = now or datetime.now(UTC)
    with session_scope() as session:
        created = availability.extend_all_templates(session, settings=get_settings(), now=now)
    with session_scope() as session:
        removed = availability.tidy_past_slots(session, now=now)
    return TickReport(slots_created=created, slots_removed=removed)


async def maintenance_loop() -> None:
    """A lifespan task: one tick at start (catches up after downtime), then hourly."""
    while True:
        try:
            report = await asyncio.to_thread(tick)
            log.info("availability upkeep: %s", report)
        except Exception:
            log.exception("availability upkeep failed; will retry")
        await asyncio.sleep(INTERVAL_SECONDS)
