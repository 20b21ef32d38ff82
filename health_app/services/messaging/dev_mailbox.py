"""The development mailbox: what the dev mailer 'sent'. Only reachable in development mode."""

from __future__ import annotations

from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import require_id
from health_app.models import DevMailboxMessage
from health_app.services.errors import NotFound
from health_app.services.views import MailboxMessageView


def list_messages(
    session: Session,
    *,
    settings: Settings,
    recipient: str = "",
    channel: str = "",
    limit: int = 50,
) -> tuple[MailboxMessageView, ...]:
    """Newest first; `recipient` matches part of an address or phone number, `channel` is
    "email", "sms" or "" for both."""
    if not settings.dev_mode:
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
