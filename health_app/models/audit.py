"""The append-only audit trail (UPDATE and DELETE are refused by database triggers)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=32)
    object_id: str = Field(default="", max_length=64)
    # Whose data it is (the patient), so a patient can see who looked at their record.
    subject_id: int | None = Field(default=None, index=True)
    outcome: str = Field(max_length=16)
    detail: str = Field(default="", max_length=500)
    client: str = Field(default="", max_length=64)
