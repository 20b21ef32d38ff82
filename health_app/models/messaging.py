"""Outgoing messages: the durable outbox and the development mailbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    kind: str = Field(max_length=40)
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=12, index=True)
    attempts: int = 0
    next_attempt_at: datetime = utc_field(index=True)
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    last_error: str = Field(default="", max_length=500)


class DevMailboxMessage(SQLModel, table=True):
    """What the development mailer 'sent': shown on the mailbox page, never leaves the machine."""

    __tablename__ = "dev_mailbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=8)
    recipient: str = Field(max_length=254, index=True)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_field(index=True)
