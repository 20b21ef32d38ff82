"""Delivers the outbox in the background of each app process.

Each worker runs this loop; the outbox's claim step keeps several loops from sending one
message twice. `kick()` wakes the loop right after an action so links arrive at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from health_app.config import get_settings
from health_app.db import get_engine
from health_app.services.mailer import make_mailer
from health_app.services.outbox import deliver_due

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0
_wake: asyncio.Event | None = None


def kick() -> None:
    if _wake is not None:
        _wake.set()


def deliver_now() -> int:
    engine = get_engine()
    return deliver_due(engine, make_mailer(get_settings(), engine), now=datetime.now(UTC))


async def delivery_loop() -> None:
    """A lifespan task: runs until the process stops."""
    global _wake
    _wake = asyncio.Event()
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_wake.wait(), timeout=POLL_SECONDS)
        _wake.clear()
        try:
            await asyncio.to_thread(deliver_now)
        except Exception:
            log.exception("outbox delivery failed; will retry")
