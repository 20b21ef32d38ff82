"""The one scheduler: a tick a minute sends due messages and keeps the data tidy.

A tick (`run_tick`) delivers everything due from the outbox (reminders and Outlook
calendar work included), prunes login failures older than an hour, removes link tokens
from sent outbox bodies, reads connected doctors' Outlook busy times every few minutes,
geocodes addresses saved since the last tick,
and once an hour extends weekly availability and tidies past open slots.

One process ticks. In the app, every worker starts an APScheduler job in a lifespan task
(never at import), and each tick first takes a PostgreSQL session advisory lock on a
connection it keeps: the worker holding it is the leader; the others' ticks do nothing
until the leader's connection goes away. `health-app scheduler` runs the same job in the
foreground for deployments that prefer a separate process (then set SCHEDULER_IN_APP=false).
SQLite has no such lock: it is the single-process embedded default, so its one app
process ticks (do not run `health-app scheduler` beside it).

Right after a change, `kick()` wakes a quick delivery pass in the process that made it, so
a confirmation goes out at once rather than at the next tick. Claims make that safe in
any process, leader or not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from health_app.config import Settings, get_settings
from health_app.db import get_engine, session_scope
from health_app.models import SchedulerStatus
from health_app.services.jobs import housekeeping
from health_app.services.maps import geocoding
from health_app.services.messaging import outbox
from health_app.services.messaging.mailer import make_mailer
from health_app.services.messaging.outbox import DeliveryReport, Senders
from health_app.services.messaging.sms import make_sms_sender
from health_app.services.microsoft import busy_times
from health_app.services.microsoft.calendar_sync import CalendarSender

log = logging.getLogger(__name__)

JOB_ID = "health-app-tick"
UPKEEP_EVERY = timedelta(hours=1)
# pg_try_advisory_lock key for the leader: "HAPPTICK" as 8 bytes, far from other keys.
LEADER_LOCK_KEY = int.from_bytes(b"HAPPTICK", "big") - 2**63


def make_senders(settings: Settings, engine: Engine) -> Senders:
    return Senders(
        mailer=make_mailer(settings, engine),
        sms=make_sms_sender(settings, engine),
        settings=settings,
        calendar=CalendarSender(engine, settings) if settings.microsoft_enabled else None,
    )


class LeaderLock:
    """PostgreSQL session advisory lock held on one dedicated connection.

    The lock lives as long as that connection: if the leader process dies or loses the
    database, PostgreSQL frees it and another worker's next tick takes over.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    @property
    def needed(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if not self.needed:
            return True  # SQLite: one process by design (see the module docstring)
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                log.warning("scheduler lost its leader connection; electing again")
                self._conn.invalidate()
                self._conn = None
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
            ).scalar_one()
        except DBAPIError:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
            log.info("this process is the scheduler leader")
            return True
        conn.close()
        return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK_KEY})
            conn.close()
        except DBAPIError:
            conn.invalidate()


@dataclass
class TickReport:
    leader: bool
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    upkeep: housekeeping.TickReport | None = None
    login_failures_pruned: int = 0
    bodies_redacted: int = 0
    busy: busy_times.BusyReport | None = None
    geocoded: geocoding.GeocodeReport | None = None

    def lines(self) -> list[str]:
        if not self.leader:
            return ["another process is the scheduler leader; nothing done"]
        d = self.delivery
        out = [
            f"messages sent: {d.sent}, retried later: {d.retried}, failed: {d.failed}, "
            f"skipped as no longer useful: {d.skipped}, given back: {d.given_back}",
            f"login failures pruned: {self.login_failures_pruned}; "
            f"sent bodies redacted: {self.bodies_redacted}",
        ]
        if self.busy is not None and (self.busy.doctors or self.busy.errors):
            b = self.busy
            out.append(
                f"Outlook busy times read for {b.doctors} doctors: {b.blocked} slots blocked, "
                f"{b.reopened} reopened, {b.errors} calendars not readable"
            )
        if self.geocoded is not None and any(vars(self.geocoded).values()):
            g = self.geocoded
            out.append(
                f"addresses geocoded: {g.found} found, {g.not_found} not found, "
                f"{g.unavailable} postponed (Maps not answering)"
            )
        if self.upkeep is not None:
            out.append(
                f"weekly templates extended: {self.upkeep.slots_created} new slots; "
                f"past open slots removed: {self.upkeep.slots_removed}; "
                f"deleted files purged: {self.upkeep.files_purged}"
            )
        out.extend(f"error: {e}" for e in d.errors[:20])
        return out


def run_tick(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    senders: Senders | None = None,
    leader: LeaderLock | None = None,
    upkeep: bool = True,
) -> TickReport:
    """One tick: only the leader works (when a lock is given)."""
    if leader is not None and not leader.acquire():
        return TickReport(leader=False)
    started = time.perf_counter()
    report = TickReport(leader=True)
    report.delivery = outbox.deliver_due(engine, senders or make_senders(settings, engine), now=now)
    report.login_failures_pruned = housekeeping.prune_login_failures(now=now, engine=engine)
    with session_scope(engine) as session:
        report.bodies_redacted = housekeeping.redact_sent(session)
    report.busy = busy_times.refresh_due(engine, settings, now=now)
    report.geocoded = geocoding.geocode_pending(engine, settings, now=now)
    if upkeep:
        report.upkeep = housekeeping.tick(now, engine=engine, settings=settings)
    _record_tick(engine, report, now=now, ms=int((time.perf_counter() - started) * 1000))
    return report


def _record_tick(engine: Engine, report: TickReport, *, now: datetime, ms: int) -> None:
    """The leader's last tick, for the operator's figures page (one row, rewritten)."""
    latest = SchedulerStatus(
        id=1,
        leader=f"{socket.gethostname()} process {os.getpid()}"[:200],
        last_tick_at=now,
        last_tick_ms=ms,
        last_sent=report.delivery.sent,
        last_failed=report.delivery.failed,
    )
    try:
        with session_scope(engine) as session:
            session.merge(latest)
    except DBAPIError:  # two ticks writing the first row at once: the work is done anyway
        log.warning("could not record the scheduler's tick", exc_info=True)


class Scheduler:
    """APScheduler with the one tick job: fixed id, coalesced, never two at once."""

    def __init__(self, engine: Engine, settings: Settings, *, blocking: bool = False) -> None:
        self._engine = engine
        self._settings = settings
        self._leader = LeaderLock(engine)
        self._last_upkeep: datetime | None = None
        self._scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=UTC)
        self._scheduler.add_job(
            self.tick,
            trigger=IntervalTrigger(seconds=settings.scheduler_tick_seconds, timezone=UTC),
            id=JOB_ID,
            name="deliver due messages, upkeep",
            coalesce=True,
            max_instances=1,
            # A tick that starts late (a busy machine, a suspended laptop) still runs, once.
            misfire_grace_time=2 * settings.scheduler_tick_seconds,
            next_run_time=datetime.now(UTC),  # first tick at once: catch up after downtime
            replace_existing=True,
        )

    def tick(self) -> TickReport | None:
        now = datetime.now(UTC)
        upkeep = self._last_upkeep is None or now - self._last_upkeep >= UPKEEP_EVERY
        try:
            report = run_tick(
                self._engine, self._settings, now=now, leader=self._leader, upkeep=upkeep
            )
        except Exception:
            log.exception("scheduler tick failed; the next one retries")
            return None
        if report.leader:
            if upkeep:
                self._last_upkeep = now
            for line in report.lines():
                log.info("tick: %s", line)
        return report

    def start(self) -> None:
        """Background: returns at once. Blocking: runs until interrupted."""
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._leader.release()


# --- in the app --------------------------------------------------------------------------

_wake: asyncio.Event | None = None


def kick() -> None:
    """Ask for a delivery pass now (called on the event loop after each action)."""
    if _wake is not None:
        _wake.set()


def deliver_now() -> DeliveryReport:
    engine, settings = get_engine(), get_settings()
    return outbox.deliver_due(engine, make_senders(settings, engine), now=datetime.now(UTC))


async def scheduler_lifespan() -> None:
    """A Reflex lifespan task: the scheduler (unless it runs elsewhere) and the kick loop."""
    global _wake
    _wake = asyncio.Event()
    settings = get_settings()
    scheduler = Scheduler(get_engine(), settings) if settings.scheduler_in_app else None
    if scheduler is not None:
        scheduler.start()
    try:
        while True:
            await _wake.wait()
            _wake.clear()
            try:
                await asyncio.to_thread(deliver_now)
            except Exception:
                log.exception("delivery after a change failed; the next tick retries")
    finally:
        if scheduler is not None:
            await asyncio.to_thread(scheduler.shutdown)
