"""Microsoft 365: connected accounts, sign-in flows in progress, calendar events we made,
and a doctor's busy times read from Outlook."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    # Refreshing the tokens failed (password changed, consent revoked): the person must
    # sign in again; their calendar work waits as failed messages until then.
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"  # by the person; the tokens are erased


class MicrosoftConnection(SQLModel, table=True):
    """One person's Microsoft account, at most one per person (kept after disconnecting,
    without tokens, as the record of what was connected)."""

    __tablename__ = "microsoft_connection"
    __table_args__ = (
        CheckConstraint(
            "status in ('connected', 'needs_reconnect', 'disconnected')",
            name="ck_microsoft_connection_status",
        ),
    )

    user_id: int = Field(primary_key=True, foreign_key="app_user.id")
    status: str = Field(default=ConnectionStatus.CONNECTED, max_length=16)
    # What the profile shows, from the ID token: never used to sign anyone in.
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    tenant_id: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=64)
    home_account_id: str = Field(default="", max_length=200)
    # True when the account may create Teams meetings (doctors ask for OnlineMeetings).
    can_meet: bool = False
    # The MSAL token cache, encrypted (Fernet) with MICROSOFT_TOKEN_KEYS; "" when disconnected.
    token_cache: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    connected_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    disconnected_at: datetime | None = utc_field(nullable=True)
    last_error: str = Field(default="", max_length=300)
    # Doctors: when busy times were last read from Outlook (None = never).
    busy_checked_at: datetime | None = utc_field(nullable=True)


class MicrosoftSignIn(SQLModel, table=True):
    """An authorization-code flow between the redirect to Microsoft and the callback.

    The flow (state, nonce, PKCE verifier) stays on the server, encrypted; the browser
    carries only the state. Used once, and only by the person who started it.
    """

    __tablename__ = "microsoft_sign_in"

    state: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    flow: str = Field(sa_column=Column(Text, nullable=False))
    # The origin of the page that asked, so the answer returns to it.
    return_to: str = Field(default="", max_length=300)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)


class CalendarEventStatus(StrEnum):
    ACTIVE = "active"  # the event is in the person's calendar
    DELETED = "deleted"  # we removed it (the visit was cancelled)
    GONE = "gone"  # the person deleted it in Outlook; we do not put it back


class CalendarEvent(SQLModel, table=True):
    """The Outlook event we made for one visit in one person's calendar.

    Created once: a retry finds this row (or Graph recognises the transaction id) instead
    of making a second event.
    """

    __tablename__ = "calendar_event"
    __table_args__ = (
        UniqueConstraint("appointment_id", "user_id", name="ux_calendar_event_visit_person"),
        CheckConstraint("status in ('active', 'deleted', 'gone')", name="ck_calendar_event_status"),
        Index("ix_calendar_event_user", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id")
    user_id: int = Field(foreign_key="app_user.id")
    graph_event_id: str = Field(max_length=300)
    status: str = Field(default=CalendarEventStatus.ACTIVE, max_length=8)
    # The visit revision the event shows (a reschedule makes it stale).
    revision: int = 0
    join_url: str = Field(default="", max_length=1000)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class OutlookBusy(SQLModel, table=True):
    """A busy time in a connected doctor's Outlook calendar (not one of our visit events):
    open slots overlapping it are blocked until it goes away."""

    __tablename__ = "outlook_busy"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_outlook_busy_order"),
        Index("ix_outlook_busy_doctor_time", "doctor_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id")
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    read_at: datetime = utc_field()
