"""Writing and reading the audit trail. Never put passwords, tokens or clinical text here."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

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
) -> None:
    """Add one audit row to the current unit of work."""
    session.add(
        AuditEvent(
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
    )


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
    """Record an authorization failure durably and return the error to raise.

    Commits at once so the row survives the caller's rollback; call it before any write.
    """
    record(
        session,
        action=action,
        outcome=Outcome.DENIED,
        now=now,
        actor_id=actor.user_id if actor else None,
        object_type=object_type,
        object_id=object_id,
        detail="authorization failure",
    )
    session.commit()
    return NotFound(message)
