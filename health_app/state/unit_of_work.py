"""How states run services: in a worker thread, as one unit of work, with the real clock.

Blocking work (database, password hashing, SMTP) never runs on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from health_app.config import get_settings
from health_app.db import is_reads_only, outbox_due, read_scope, session_scope
from health_app.services.files.storage import get_storage
from health_app.services.jobs import scheduler

T = TypeVar("T")

# What a service may ask for by keyword, besides its own arguments.
_PROVIDED = frozenset({"settings", "now", "storage"})


def utcnow() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _wants(fn: Callable[..., Any]) -> frozenset[str]:
    return _PROVIDED & inspect.signature(fn).parameters.keys()


async def run_service(fn: Callable[..., T], /, **kwargs: Any) -> T:
    """`fn(session, **kwargs)` in a thread as one unit of work, then deliver what it made due.

    `settings`, `now` and `storage` are passed when `fn` takes them and the caller did not.
    """
    wants = _wants(fn) - kwargs.keys()
    due = False

    def work() -> T:
        nonlocal due
        settings = get_settings()
        provided: dict[str, Any] = {"settings": settings, "now": utcnow()}
        if "storage" in wants:
            provided["storage"] = get_storage(settings)
        scope = read_scope if is_reads_only(fn) else session_scope
        with scope() as session:
            try:
                return fn(session, **kwargs, **{k: provided[k] for k in wants})
            finally:
                due = outbox_due(session)

    try:
        return await asyncio.to_thread(work)
    finally:
        # Only work that made messages due wakes the sender: reads never do.
        if due:
            scheduler.kick()
