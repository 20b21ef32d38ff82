"""Server-side login sessions, single-use email tokens, the login-failure ledger and the
ledger of rate-limited requests."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class TokenPurpose(StrEnum):
    CONFIRM_EMAIL = "confirm_email"
    RESET_PASSWORD = "reset_password"
    CHANGE_EMAIL = "change_email"


class LoginSession(SQLModel, table=True):
    """A login. The browser holds only the random token; we keep its SHA-256."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = utc_field()
    last_seen_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)
    revoked_reason: str = Field(default="", max_length=50)


class EmailToken(SQLModel, table=True):
    __tablename__ = "email_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(max_length=20)
    # For an email change: the address that becomes the login once the link is used.
    new_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)


class LoginFailure(SQLModel, table=True):
    """One failed login. Keys are hashes so the ledger holds no addresses or IPs."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(max_length=64, index=True)
    client_key: str = Field(max_length=64, index=True)
    at: datetime = utc_field(index=True)


class RateEvent(SQLModel, table=True):
    """One request counted against a rate limit (a reset email asked for, say). `key` is a
    hash of what is limited (an address, a client), so the ledger holds no addresses."""

    __tablename__ = "rate_event"
    __table_args__ = (Index("ix_rate_event_kind_key_at", "kind", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    key: str = Field(max_length=64)
    at: datetime = utc_field(index=True)
