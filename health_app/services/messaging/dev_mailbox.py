"""The development mailbox: what the dev mailer 'sent'. Only in development mode, and only
for a browser on this machine: it holds every reset link, so anyone else reading it could
take over any account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from health_app.config import Settings, is_loopback_host
from health_app.db import require_id
from health_app.models import DevMailboxMessage
from health_app.services.errors import NotFound


@dataclass(frozen=True)
class MailboxMessageView:
    id: int
    channel: str  # "email" or "sms" (SMS have no subject)
    recipient: str
    subject: str
    body: str
    created_at: datetime
    # The .ics calendar file of a booking email: its name ("visit.ics") and text, or "".
    attachment_name: str = ""
    attachment: str = ""


def available(settings: Settings, client: str) -> bool:
    """On in development mode, for requests from this machine (the socket's peer address)."""
    return settings.dev_mode and is_loopback_host(client)


def list_messages(
    session: Session,
    *,
    settings: Settings,
    client: str,
    recipient: str = "",
    channel: str = "",
    limit: int = 50,
) -> tuple[MailboxMessageView, ...]:
    """Newest first; `recipient` matches part of an address or phone number, `channel` is
    "email", "sms" or "" for both."""
    if not available(settings, client):
        raise NotFound()
    stmt = select(DevMailboxMessage).order_by(col(DevMailboxMessage.id).desc()).limit(limit)
    if recipient.strip():
        stmt = stmt.where(col(DevMailboxMessage.recipient).contains(recipient.strip().lower()))
    if channel in ("email", "sms"):
        stmt = stmt.where(col(DevMailboxMessage.channel) == channel)
    return tuple(
        MailboxMessageView(
            id=require_id(m.id),
            channel=m.channel,
            recipient=m.recipient,
            subject=m.subject,
            body=m.body,
            created_at=m.created_at,
            attachment_name=m.attachment_name,
            attachment=m.attachment,
        )
        for m in session.exec(stmt)
    )
