"""How states run services: as one unit of work, with the real clock.

When every core has a worker (WEB_CONCURRENCY >= cores), a quick read (`db.reads_only`,
waiting on nothing but the database) runs on the event loop itself: a dashboard, a search,
a day's times, a session check. Handing each to a thread and back cost more than the read
(two thread wake-ups, and the two fighting over Python's interpreter lock through every
round trip to the database): in two interleaved pairs of benchmarks/bench_load.py runs on
two workers, 250 tabs took 3.5 / 4.2 instead of 4.5 / 4.5 ms of server CPU per event, at
p95 33 / 74 instead of 132 / 139 ms, and 500 tabs had 458 / 440 instead of 355 / 393
events/s answered. Such a read holds the loop for its round trips (a few hundred
microseconds), which costs nothing while another worker, or PostgreSQL, has the core. A
worker with a core to spare overlaps those waits on its threads instead: one worker on two
cores, interleaved, answered 203 and 214 of 250 events/s with reads on its loop (p95 1.3-1.6
s, the loop waiting while its CPU was 76 % busy) and 180 and 250 on threads (p95 1.8 s with
the machine busy elsewhere, then 0.29 s). PostgreSQL cuts any read's statement off after
`db.READ_TIMEOUT_MS`; what a read leaves to write (its audit) is written on a service
thread, never on the loop.

Writes (and their commits) run on a few threads of their own (`SERVICE_THREADS`, 2 by
default): under load, asyncio's default of 6 threads only contended more for Python's
interpreter lock with each other and the event loop (interleaved runs on one worker:
12-15 % more CPU per event, fewer dashboard loads per second). A service that may wait on
more than the database (`db.waits_beyond_database`, or one handed file storage; password
hashing, Google Maps, SMTP) runs on asyncio's default pool, so a login storm or a slow map
lookup never holds those few threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import math
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from health_app.config import get_settings, worker_count
from health_app.db import (
    RowAfterRead,
    is_reads_only,
    outbox_due,
    read_scope,
    session_scope,
    waits_on_more,
    write_rows_after_read,
)
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
    """`fn(session, **kwargs)` as one unit of work, then deliver what it made due: a quick
    read on the event loop when `reads_on_event_loop()`, anything else on a thread.

    `settings`, `now` and `storage` are passed when `fn` takes them and the caller did not.
    """
    wants = _wants(fn) - kwargs.keys()
    beyond = _waits_beyond_database(fn, kwargs)
    if is_reads_only(fn) and not beyond and reads_on_event_loop():
        return await _read_here(fn, kwargs, wants)
    due = False

    def work() -> T:
        nonlocal due
        scope = read_scope if is_reads_only(fn) else session_scope
        with scope() as session:
            try:
                return fn(session, **kwargs, **_provided(wants))
            finally:
                due = outbox_due(session)

    try:
        return await _on_thread(None if beyond else _quick_threads(), work)
    finally:
        # Only work that made messages due wakes the sender: reads never do.
        if due:
            scheduler.kick()


def may_keep_waiting(fn: Callable[..., Any], /, **kwargs: Any) -> bool:
    """Whether `run_service(fn, **kwargs)` may keep the person waiting: anything but a
    quick read (one that waits on Google Maps, storage or a password hash, or writes). A
    page shows its progress first for these only: a quick read answers within milliseconds,
    and a "working..." update sent before it cost a whole update of server CPU (its delta,
    JSON and socket write: near a tenth of an event's, py-spy) and flashed on the screen
    for those milliseconds."""
    return _waits_beyond_database(fn, kwargs) or not is_reads_only(fn)


def _waits_beyond_database(fn: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether this call of `fn` may wait on more than the database: it is marked so for
    these arguments, or it takes file storage (passed by the caller or by us)."""
    return "storage" in _wants(fn) or waits_on_more(fn, kwargs)


@functools.cache
def reads_on_event_loop() -> bool:
    """Whether this worker's quick reads wait on the database on its event loop: when the
    server has a worker for every core, so a core is never left idle by the wait."""
    return worker_count() >= _cores()


# cgroup v2's CPU limit of this container: "<quota> <period>" in microseconds, or "max".
CPU_LIMIT_FILE = Path("/sys/fs/cgroup/cpu.max")


def _cores() -> int:
    """The cores this process may run on: those it is pinned to, or fewer when its
    container's CPU limit allows less (Azure Container Apps' vCPUs, docker --cpus)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = CPU_LIMIT_FILE.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no limit, or not cgroup v2
    return cores


async def _read_here(fn: Callable[..., T], kwargs: dict[str, Any], wants: frozenset[str]) -> T:
    """A quick read on the event loop; the rows it leaves written on a service thread."""
    left: list[RowAfterRead] = []
    try:
        with read_scope(rows_left=left) as session:
            return fn(session, **kwargs, **_provided(wants))
    finally:
        if left:
            await _on_thread(_quick_threads(), functools.partial(write_rows_after_read, left))


def _provided(wants: frozenset[str]) -> dict[str, Any]:
    settings = get_settings()
    provided: dict[str, Any] = {"settings": settings, "now": utcnow()}
    if "storage" in wants:
        provided["storage"] = get_storage(settings)
    return {k: provided[k] for k in wants}


async def _on_thread(threads: ThreadPoolExecutor | None, work: Callable[[], T]) -> T:
    """As asyncio.to_thread, on the chosen threads: the caller's context goes along."""
    call = functools.partial(contextvars.copy_context().run, work)
    return await asyncio.get_running_loop().run_in_executor(threads, call)
