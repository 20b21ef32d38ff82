"""Writing the audit trail. Never put passwords, tokens or clinical text here.

Reading it is `records.audit_history`.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from health_app.db import in_read_scope, keep_on_rollback, write_after_read
from health_app.models import AuditEvent, Outcome
from health_app.services.errors import NotFound
from health_app.services.views import Actor


def record(
    session: Session,
    *,
    action: str,
    outcome: str,
    now: datetime,
    actor_id: int | None = None,
    object_type: str = "",
    object_id: object = "",
    subject_id: int | None = None,
    detail: str = "",
    client: str = "",
    survives_rollback: bool = False,
) -> None:
    """Add one audit row to the current unit of work.

    `survives_rollback` keeps the row even when the unit of work then fails: for refusals
    and failed attempts, which matter most when nothing else is written.
    """
    row = AuditEvent(
        at=now,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        subject_id=subject_id,
        outcome=outcome,
        detail=detail[:500],
        client=client[:64],
    )
    if in_read_scope(session):
        write_after_read(session, row, always=survives_rollback)
    elif survives_rollback:
        keep_on_rollback(session, row)
    else:
        session.add(row)


def deny(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    now: datetime,
    object_type: str = "",
    object_id: object = "",
    message: str = "Not found.",
) -> NotFound:
    """Record an authorization failure (kept even when the unit of work rolls back) and
    return the error to raise."""
    record(
        session,
        action=action,
        outcome=Outcome.DENIED,
        now=now,
        actor_id=actor.user_id if actor else None,
        object_type=object_type,
        object_id=object_id,
        detail="authorization failure",
        survives_rollback=True,
    )
    return NotFound(message)
