"""Periodic upkeep: extend weekly templates, tidy past open slots, prune old login failures,
purge the blobs of files deleted longer ago than the grace period.

Run by the scheduler's tick (hourly) and by `health-app availability tick`. Safe to run in
several processes at once: extending takes each doctor's lock and skips what exists,
tidying and pruning only delete rows nothing refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, delete
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import session_scope
from health_app.models import LoginFailure, OutboxMessage, OutboxStatus
from health_app.services.accounts import rate_limits
from health_app.services.files import visit_files
from health_app.services.files.storage import get_storage
from health_app.services.messaging import outbox
from health_app.services.scheduling import availability, weekly_hours

# Login throttling looks back one hour; older failures only take space.
LOGIN_FAILURE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class TickReport:
    slots_created: int
    slots_removed: int
    files_purged: int = 0


def tick(now: datetime, *, engine: Engine | None = None, settings: Settings) -> TickReport:
    with session_scope(engine) as session:
        created = weekly_hours.extend_all_templates(session, settings=settings, now=now)
    with session_scope(engine) as session:
        removed = availability.tidy_past_slots(session, now=now)
    with session_scope(engine) as session:
        purged = visit_files.purge_deleted(session, get_storage(settings), now)
    return TickReport(slots_created=created, slots_removed=removed, files_purged=purged)


def prune_login_failures(*, now: datetime, engine: Engine | None = None) -> int:
    """Drop failed logins and rate-limited requests no limit looks at any more."""
    with session_scope(engine) as session:
        result = session.execute(
            delete(LoginFailure).where(col(LoginFailure.at) < now - LOGIN_FAILURE_WINDOW)
        )
        rate_limits.prune(session, now=now)
        return int(cast(CursorResult[Any], result).rowcount or 0)


def redact_sent(session: Session, *, limit: int = 1000) -> int:
    """Remove link tokens from sent bodies written before sending redacted them itself."""
    rows = session.exec(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status) == OutboxStatus.SENT,
            col(OutboxMessage.appointment_id).is_(None),
            col(OutboxMessage.body).contains("token="),
            ~col(OutboxMessage.body).contains("token=[redacted]"),
        )
        .limit(limit)
    ).all()
    for row in rows:
        row.body = outbox.redact_tokens(row.body)
        session.add(row)
    return len(rows)
