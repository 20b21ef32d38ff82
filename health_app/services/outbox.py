"""The durable outbox: messages are rows first, and a delivery step sends them.

Enqueueing happens in the caller's transaction, so an email exists exactly when the
change that causes it was committed. Delivery claims each row with a conditional UPDATE,
so several processes delivering at once never send one row twice.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from health_app.db import writer
from health_app.models import OutboxMessage, OutboxStatus
from health_app.services.mailer import (
    EmailText,
    Mailer,
    OutgoingEmail,
    PermanentSendError,
    TransientSendError,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
_CLAIMED = "sending"
# A claim older than this is presumed dead (its process crashed mid-send) and retried.
CLAIM_LEASE = timedelta(minutes=5)


def enqueue_email(session: Session, *, kind: str, to: str, text: EmailText, now: datetime) -> None:
    session.add(
        OutboxMessage(
            channel="email",
            kind=kind,
            recipient=to,
            subject=text.subject,
            body=text.body,
            due_at=now,
            next_attempt_at=now,
            created_at=now,
        )
    )


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 1, 2, 4, 8, 16 minutes."""
    base = 60 * 2 ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not crypto)


def deliver_due(engine: Engine, mailer: Mailer, *, now: datetime, limit: int = 50) -> int:
    """Send what is due; returns how many were sent."""
    with Session(engine) as session:
        due_ids = session.exec(
            select(OutboxMessage.id)
            .where(
                (
                    (col(OutboxMessage.status) == OutboxStatus.PENDING)
                    & (col(OutboxMessage.next_attempt_at) <= now)
                )
                | (
                    (col(OutboxMessage.status) == _CLAIMED)
                    & (col(OutboxMessage.next_attempt_at) <= now - CLAIM_LEASE)
                )
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
    sent = 0
    for message_id in due_ids:
        if message_id is not None and _deliver_one(engine, mailer, message_id, now=now):
            sent += 1
    return sent


def _deliver_one(engine: Engine, mailer: Mailer, message_id: int, *, now: datetime) -> bool:
    engine = writer(engine)
    with Session(engine) as session:
        claimed = session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id)
            .where(
                (col(OutboxMessage.status) == OutboxStatus.PENDING)
                | (
                    (col(OutboxMessage.status) == _CLAIMED)
                    & (col(OutboxMessage.next_attempt_at) <= now - CLAIM_LEASE)
                )
            )
            .values(status=_CLAIMED, next_attempt_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        email = OutgoingEmail(
            to=row.recipient,
            subject=row.subject,
            body=row.body,
            message_id=f"<outbox-{row.id}-{row.created_at:%Y%m%d%H%M%S}@health-app>",
        )
        # No transaction stays open while we talk to the mail server.
        session.commit()

    error: Exception | None = None
    try:
        mailer.send(email)
    except (PermanentSendError, TransientSendError) as exc:
        error = exc

    with Session(engine) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        row.attempts += 1
        if error is None:
            row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, ""
        else:
            row.last_error = str(error)[:500]
            if isinstance(error, PermanentSendError) or row.attempts >= MAX_ATTEMPTS:
                row.status = OutboxStatus.FAILED
                log.warning("outbox message %s (%s) failed: %s", row.id, row.kind, row.last_error)
            else:
                row.status, row.next_attempt_at = OutboxStatus.PENDING, now + backoff(row.attempts)
        session.add(row)
        session.commit()
        return row.status == OutboxStatus.SENT
