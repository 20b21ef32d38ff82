"""A connected doctor's Outlook meetings block the open slots they overlap.

The scheduler reads each connected doctor's calendar (`calendarView`, the published
horizon) every few minutes, keeps the busy times (not our own visit events) in
`outlook_busy`, and marks overlapping open slots `blocked`. A slot reopens when the busy
time goes away, unless a time off still covers it. Booked visits are never touched: a
meeting put over a booked visit is the doctor's call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import Session, col

from health_app.config import Settings
from health_app.db import writer
from health_app.models import (
    CalendarEvent,
    ConnectionStatus,
    MicrosoftConnection,
    OutlookBusy,
    Role,
    User,
)
from health_app.services.messaging.mailer import PermanentSendError, TransientSendError
from health_app.services.microsoft import tokens
from health_app.services.microsoft.graph import BusyTime, Graph
from health_app.services.scheduling.busy_slots import block_busy, release_free
from health_app.services.scheduling.guard import lock_doctor

log = logging.getLogger(__name__)


def release_all(session: Session, *, doctor_id: int, now: datetime) -> None:
    """Forget every busy time of the doctor (disconnect) and reopen what only they blocked."""
    session.execute(delete(OutlookBusy).where(col(OutlookBusy.doctor_id) == doctor_id))
    release_free(session, doctor_id=doctor_id, now=now)


@dataclass
class BusyReport:
    doctors: int = 0
    busy_times: int = 0
    blocked: int = 0
    reopened: int = 0
    errors: int = 0


def replace_busy(
    session: Session, *, doctor_id: int, busy: list[BusyTime], now: datetime, until: datetime
) -> tuple[int, int]:
    """Store the doctor's busy times as read just now and re-apply them to the slots:
    (slots blocked, slots reopened)."""
    lock_doctor(session, doctor_id)
    ours = set(
        session.execute(
            select(col(CalendarEvent.graph_event_id)).where(col(CalendarEvent.user_id) == doctor_id)
        )
        .scalars()
        .all()
    )
    session.execute(delete(OutlookBusy).where(col(OutlookBusy.doctor_id) == doctor_id))
    rows = [
        {"doctor_id": doctor_id, "starts_at": b.starts_at, "ends_at": b.ends_at, "read_at": now}
        for b in busy
        if b.event_id not in ours and b.ends_at > b.starts_at
    ]
    if rows:
        session.execute(insert(OutlookBusy), rows)
    reopened = release_free(session, doctor_id=doctor_id, now=now)
    blocked = block_busy(session, doctor_id=doctor_id, lo=now, hi=until)
    session.execute(
        update(MicrosoftConnection)
        .where(col(MicrosoftConnection.user_id) == doctor_id)
        .values(busy_checked_at=now)
    )
    return blocked, reopened


def refresh_due(engine: Engine, settings: Settings, *, now: datetime) -> BusyReport:
    """Read Outlook again for each connected doctor not read in the last few minutes."""
    report = BusyReport()
    if not settings.microsoft_enabled:
        return report
    stale = now - timedelta(minutes=settings.outlook_busy_refresh_minutes)
    until = now + timedelta(days=settings.availability_horizon_days + 1)
    with Session(engine) as session:
        doctors = list(
            session.execute(
                select(col(MicrosoftConnection.user_id))
                .join(User, col(User.id) == col(MicrosoftConnection.user_id))
                .where(
                    col(MicrosoftConnection.status) == ConnectionStatus.CONNECTED,
                    col(User.role) == Role.DOCTOR,
                    (col(MicrosoftConnection.busy_checked_at).is_(None))
                    | (col(MicrosoftConnection.busy_checked_at) < stale),
                )
            )
            .scalars()
            .all()
        )
    for doctor_id in doctors:
        graph = Graph(settings, tokens.source(engine, settings, doctor_id))
        try:
            busy = list(graph.busy_times(now, until))
        except (TransientSendError, PermanentSendError) as exc:
            report.errors += 1
            log.warning("Outlook busy times of doctor %s not read: %s", doctor_id, exc)
            continue
        finally:
            graph.close()
        with Session(writer(engine)) as session:
            blocked, reopened = replace_busy(
                session, doctor_id=doctor_id, busy=busy, now=now, until=until
            )
            session.commit()
        report.doctors += 1
        report.busy_times += len(busy)
        report.blocked += blocked
        report.reopened += reopened
    return report
