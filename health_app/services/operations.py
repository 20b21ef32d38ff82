"""The figures a clinic's operator watches, from the database: messages waiting and
failing, and whether the scheduler is ticking (admins only).

Live figures of the workers themselves (people connected, events per minute) are not in
the database; the page's state adds them (health_app/event_figures.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal_column
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import OutboxLease, OutboxMessage, SchedulerStatus
from health_app.services.access import require_admin
from health_app.services.views import Actor

# Three ticks missed in a row is worth a look (one can be late on a busy machine).
TICKS_MISSED = 3


@dataclass(frozen=True)
class OperationsView:
    waiting: int  # due now and not sent yet
    oldest_waiting_since: datetime | None
    sending: int
    failed_last_day: int  # of those due in the last 24 hours
    failed_total: int
    leader: str
    last_tick_at: datetime | None
    last_tick_ms: int
    last_sent: int
    last_failed: int
    scheduler_late: bool


def operations_figures(
    session: Session, *, actor: Actor, settings: Settings, now: datetime
) -> OperationsView:
    require_admin(session, actor, action="operations.figures", now=now, object_type="system")
    status = col(OutboxMessage.status)
    due = (status == literal_column("'pending'")) & (col(OutboxMessage.next_attempt_at) <= now)
    waiting, oldest = session.exec(
        select(func.count(), func.min(OutboxMessage.due_at)).where(due)
    ).one()
    # A lease exists only while its message is being sent (or until a dead sender's runs out).
    sending = session.exec(select(func.count()).select_from(OutboxLease)).one()
    failed = status == literal_column("'failed'")
    failed_total = session.exec(select(func.count()).where(failed)).one()
    failed_day = session.exec(
        select(func.count()).where(failed, col(OutboxMessage.due_at) >= now - timedelta(days=1))
    ).one()
    tick = session.get(SchedulerStatus, 1)
    last = tick.last_tick_at if tick is not None else None
    return OperationsView(
        waiting=int(waiting),
        oldest_waiting_since=oldest,
        sending=int(sending),
        failed_last_day=int(failed_day),
        failed_total=int(failed_total),
        leader=tick.leader if tick is not None else "",
        last_tick_at=last,
        last_tick_ms=tick.last_tick_ms if tick is not None else 0,
        last_sent=tick.last_sent if tick is not None else 0,
        last_failed=tick.last_failed if tick is not None else 0,
        scheduler_late=last is None
        or now - last > timedelta(seconds=TICKS_MISSED * settings.scheduler_tick_seconds),
    )
