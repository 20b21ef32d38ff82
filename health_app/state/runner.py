"""How states call services: in a worker thread, in one transaction, with the real clock.

Blocking work (database, password hashing, SMTP) never runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlmodel import Session

from health_app.config import Settings, get_settings

__all__ = ["call", "get_settings", "utcnow"]
from health_app.db import session_scope
from health_app.services import scheduler

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def call(fn: Callable[[Session, Settings, datetime], T]) -> T:
    """Run `fn(session, settings, now)` in a thread as one unit of work, then send its mail."""

    def work() -> T:
        with session_scope() as session:
            return fn(session, get_settings(), utcnow())

    try:
        return await asyncio.to_thread(work)
    finally:
        scheduler.kick()
