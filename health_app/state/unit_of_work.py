"""How states run services: in a worker thread, as one unit of work, with the real clock.

Blocking work (database, password hashing, SMTP) never runs on the event loop. Quick
database work runs on a few threads of its own (`SERVICE_THREADS`, 2 by default): under
load, asyncio's default of 6 threads only contended more for Python's interpreter lock
with each other and the event loop (benchmarks/bench_load.py, interleaved runs on one
worker: 12-15 % more CPU per event, fewer dashboard loads per second). A service that may
wait on more than the database (`db.waits_beyond_database`, or one handed file storage)
runs on asyncio's default pool, so a login storm or a slow map lookup never holds those
few threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from health_app.config import get_settings
from health_app.db import is_reads_only, outbox_due, read_scope, session_scope, waits_on_more
from health_app.services.files.storage import get_storage
from health_app.services.jobs import scheduler

T = TypeVar("T")

# What a service may ask for by keyword, besides its own arguments.
_PROVIDED = frozenset({"settings", "now", "storage"})


_quick: ThreadPoolExecutor | None = None
_quick_made = threading.Lock()

# How long a thread that wants Python's interpreter lock waits before the one holding it
# must let go (Python's default: 5 ms). A service thread wants it back after every round
# trip to the database, and under load the event loop holds it: each round trip then cost
# up to 5 ms more, holding one of the few service threads. At 1 ms, in three interleaved
# pairs of benchmarks/bench_load.py runs on one worker, dashboard loads back to back rose
# from 291 / 245 / 261 to 349 / 332 / 287 /s at 6-24 % less CPU each; the mixed load's
# CPU per event was equal, lower, and higher (that run's machine slowed by half midway).
SWITCH_INTERVAL_SECONDS = 0.001


def _quick_threads() -> ThreadPoolExecutor:
    """This process's threads for quick database work (made on first use, in the worker)."""
    global _quick
    if _quick is not None:
        return _quick
    with _quick_made:
        if _quick is None:
            sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
            _quick = ThreadPoolExecutor(
                get_settings().service_threads, thread_name_prefix="services"
            )
        return _quick


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

    beyond = "storage" in _wants(fn) or waits_on_more(fn, kwargs)
    threads = None if beyond else _quick_threads()
    try:
        # As asyncio.to_thread, on the chosen threads: the caller's context goes along.
        call = functools.partial(contextvars.copy_context().run, work)
        return await asyncio.get_running_loop().run_in_executor(threads, call)
    finally:
        # Only work that made messages due wakes the sender: reads never do.
        if due:
            scheduler.kick()
