"""What the outbox did, for people: reminder states for a visit's doctor, failed messages
for admins (who may retry them). Refusals are audited and answered "not found"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column
from sqlmodel import Session, col, select

from health_app.db import mark_outbox_due, require_id
from health_app.models import (
    Appointment,
    OutboxLease,
    OutboxMessage,
    OutboxStatus,
    Outcome,
    Role,
)
from health_app.services import audit
from health_app.services.access import require_admin
from health_app.services.errors import DomainError
from health_app.services.messaging import outbox
from health_app.services.messaging.notifications import offset_label
from health_app.services.people import names_by_id
from health_app.services.views import Actor, Page

FAILED_PAGE_SIZE = 25


def kind_label(kind: str) -> str:
    offset = outbox.reminder_offset(kind)
    if offset is not None:
        return f"Reminder {offset_label(int(offset.total_seconds() // 60))} before"
    return {
        outbox.BOOKED: "Booking confirmation",
        outbox.CANCELLED: "Cancellation notice",
        outbox.RESCHEDULED: "New time notice",
        "calendar.create": "Outlook event added",
        "calendar.update": "Outlook event moved",
        "calendar.delete": "Outlook event removed",
    }.get(kind, kind)


def channel_label(channel: str) -> str:
    return {"email": "Email", "sms": "SMS", "calendar": "Outlook calendar"}.get(channel, channel)


@dataclass(frozen=True)
class VisitMessageView:
    id: int
    kind: str
    label: str  # "Reminder 24 hours before", "Booking confirmation", ...
    is_reminder: bool
    recipient_role: str  # "patient" or "doctor"
    recipient_name: str
    channel: str  # "email" or "sms"
    due_at: datetime
    status: str  # pending / sending / sent / failed / skipped / cancelled
    attempts: int
    sent_at: datetime | None
    # Why it failed, was skipped or cancelled ("SMTP 550", "visit moved"); never an address.
    note: str
    # False for messages about the visit's earlier time (before a reschedule).
    current: bool


def list_visit_messages(
    session: Session, *, actor: Actor, appointment_id: int, now: datetime
) -> tuple[VisitMessageView, ...]:
    """Every message about a visit, by due time, for the visit's doctor only."""
    appt = session.get(Appointment, appointment_id)
    if appt is None or actor.role != Role.DOCTOR or appt.doctor_id != actor.user_id:
        raise audit.deny(
            session,
            actor=actor,
            action="visit.messages.read",
            now=now,
            object_type="appointment",
            object_id=appointment_id,
            message="That visit was not found.",
        )
    rows = session.exec(
        select(OutboxMessage, OutboxLease.message_id)
        .outerjoin(OutboxLease, col(OutboxLease.message_id) == OutboxMessage.id)
        .where(OutboxMessage.appointment_id == appointment_id)
        .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
    ).all()
    names = names_by_id(session, (appt.patient_id, appt.doctor_id))
    # Part of the visit record's trail: who read what was sent about whose visit.
    audit.record(
        session,
        action="visit.messages.read",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="appointment",
        object_id=appointment_id,
        subject_id=appt.patient_id,
        detail=f"{len(rows)} messages",
    )
    return tuple(
        VisitMessageView(
            id=require_id(r.id),
            kind=r.kind,
            label=kind_label(r.kind),
            is_reminder=r.kind.startswith(outbox.REMINDER_PREFIX),
            recipient_role="doctor" if r.recipient_user_id == appt.doctor_id else "patient",
            recipient_name=names.get(r.recipient_user_id, "") if r.recipient_user_id else "",
            channel=r.channel,
            due_at=r.due_at,
            status="sending"
            if leased is not None and r.status == OutboxStatus.PENDING
            else r.status,
            attempts=r.attempts,
            sent_at=r.sent_at,
            note=r.last_error,
            current=r.visit_revision == appt.revision,
        )
        for r, leased in rows
    )


@dataclass(frozen=True)
class FailedMessageView:
    id: int
    kind: str
    label: str
    channel: str
    recipient: str  # the address or number it could not reach
    subject: str
    appointment_id: int | None
    attempts: int
    last_error: str
    created_at: datetime
    due_at: datetime


def list_failed_messages(
    session: Session, *, actor: Actor, page: int, now: datetime
) -> Page[FailedMessageView]:
    """Messages that will not be sent without help, newest first (admins only)."""
    require_admin(
        session, actor, action="outbox.failed.list", now=now, object_type="outbox_message"
    )
    # A literal, so SQLite can use the partial index on failed rows.
    failed = col(OutboxMessage.status) == literal_column("'failed'")
    total = session.exec(select(func.count()).select_from(OutboxMessage).where(failed)).one()
    page = max(1, page)
    rows = session.exec(
        select(OutboxMessage)
        .where(failed)
        .order_by(col(OutboxMessage.id).desc())
        .offset((page - 1) * FAILED_PAGE_SIZE)
        .limit(FAILED_PAGE_SIZE)
    ).all()
    return Page(
        items=tuple(
            FailedMessageView(
                id=require_id(r.id),
                kind=r.kind,
                label=kind_label(r.kind),
                channel=r.channel,
                recipient=r.recipient,
                subject=r.subject,
                appointment_id=r.appointment_id,
                attempts=r.attempts,
                last_error=r.last_error,
                created_at=r.created_at,
                due_at=r.due_at,
            )
            for r in rows
        ),
        total=total,
        page=page,
        page_size=FAILED_PAGE_SIZE,
    )


def retry_message(session: Session, *, actor: Actor, message_id: int, now: datetime) -> None:
    """Give a failed message a fresh set of attempts, due now (admins only, audited).

    A visit message is re-checked when claimed: one about a visit that has since passed
    or been cancelled is skipped rather than sent late.
    """
    require_admin(
        session,
        actor,
        action="outbox.retry",
        now=now,
        object_type="outbox_message",
        object_id=message_id,
    )
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise audit.deny(
            session,
            actor=actor,
            action="outbox.retry",
            now=now,
            object_type="outbox_message",
            object_id=message_id,
        )
    if row.status != OutboxStatus.FAILED:
        raise DomainError("Only failed messages can be retried.")
    row.status, row.attempts, row.next_attempt_at = OutboxStatus.PENDING, 0, now
    row.last_error = ""
    session.add(row)
    mark_outbox_due(session)
    audit.record(
        session,
        action="outbox.retry",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="outbox_message",
        object_id=message_id,
        subject_id=row.recipient_user_id,
    )
