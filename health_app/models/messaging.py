"""Outgoing messages: the durable outbox and the development mailbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class OutboxStatus(StrEnum):
    # Waiting for its due time (or its next attempt); while a sender holds an OutboxLease
    # on it, being sent.
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanent error, or attempts used up: shown to admins
    SKIPPED = "skipped"  # no longer useful when its turn came (late reminder, past visit)
    CANCELLED = "cancelled"  # withdrawn by a cancel or reschedule in the same transaction


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    # Outlook calendar work through Microsoft Graph: create, update or delete one person's
    # event for a visit (services/microsoft/calendar_sync.py).
    CALENDAR = "calendar"


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change that causes it.

    Visit messages are unique per (visit, revision, person, channel, kind): a visit's
    revision grows with each reschedule, so the moved visit gets fresh reminders while the
    old ones stay on record as cancelled (or sent).
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint(
            "status in ('pending', 'sent', 'failed', 'skipped', 'cancelled')",
            name="ck_outbox_status",
        ),
        CheckConstraint("channel in ('email', 'sms', 'calendar')", name="ck_outbox_channel"),
        Index(
            "ux_outbox_visit_message",
            "appointment_id",
            "visit_revision",
            "recipient_user_id",
            "channel",
            "kind",
            unique=True,
            sqlite_where=text("appointment_id IS NOT NULL"),
            postgresql_where=text("appointment_id IS NOT NULL"),
        ),
        # The claim reads only this small partial index, however large the table grows.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_outbox_failed",
            "id",
            sqlite_where=text("status = 'failed'"),
            postgresql_where=text("status = 'failed'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Set for visit messages; account emails have none. Looked up through ux_outbox_visit_message,
    # which leads with it (one index fewer to update on every claim).
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id")
    visit_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    recipient_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    channel: str = Field(max_length=8)
    kind: str = Field(max_length=40)
    # The address (email or E.164 phone) when written; visit messages re-read it when sent.
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    # An .ics calendar file for booking emails; empty otherwise.
    attachment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    status: str = Field(default=OutboxStatus.PENDING, max_length=12)
    # When it is meant to go (a reminder's time); next_attempt_at moves with retries.
    due_at: datetime = utc_field()
    next_attempt_at: datetime = utc_field()
    # Attempts whose outcome is known (the lease holds the one in flight).
    attempts: int = 0
    provider_message_id: str = Field(
        default="", max_length=200, sa_column_kwargs={"server_default": ""}
    )
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    last_error: str = Field(default="", max_length=500)


class OutboxLease(SQLModel, table=True):
    """A sender's claim on a pending message until `lease_until`; taken over after that.

    A row of its own so that claiming 500 messages writes 500 narrow rows instead of
    rewriting 500 wide ones (body, .ics) with their index entries. The message row is
    written once, with the result, and the lease deleted in the same transaction.
    No foreign key: checking one would lock, and so write to, the message row.
    """

    __tablename__ = "outbox_lease"

    message_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    lease_until: datetime = utc_field()
    # The message's attempt number in flight: its attempts + 1, or one more than the
    # lease it took over (a sender that died mid-send counts as an attempt).
    attempts: int


class DevMailboxMessage(SQLModel, table=True):
    """What the development senders 'sent': shown on the mailbox page, never leaves the machine."""

    __tablename__ = "dev_mailbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    recipient: str = Field(max_length=254, index=True)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    # The outbox row it came from and its .ics attachment, if any.
    outbox_id: int | None = Field(default=None)
    attachment_name: str = Field(
        default="", max_length=100, sa_column_kwargs={"server_default": ""}
    )
    attachment: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime = utc_field(index=True)
