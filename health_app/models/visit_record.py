"""The clinical record of a visit: notes and prescriptions. Nothing is ever overwritten:
every save of the notes is a new version, and editing a prescription adds a new row that
replaces the old one, so the history (who, when, previous value) is always there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class VisitNote(SQLModel, table=True):
    __tablename__ = "visit_note"
    __table_args__ = (UniqueConstraint("appointment_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    version: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    author_id: int = Field(foreign_key="app_user.id")
    created_at: datetime = utc_field()
    # Written after the visit was closed: a dated correction, the earlier versions kept.
    addendum: bool = Field(default=False)


class Prescription(SQLModel, table=True):
    __tablename__ = "prescription"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_prescription_quantity"),
        CheckConstraint("refills >= 0", name="ck_prescription_refills"),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    drug: str = Field(max_length=200)
    strength: str = Field(max_length=100)
    route: str = Field(max_length=50)
    frequency: str = Field(max_length=100)
    duration: str = Field(max_length=100)
    quantity: int
    refills: int
    instructions: str = Field(sa_column=Column(Text, nullable=False))
    author_id: int = Field(foreign_key="app_user.id")
    created_at: datetime = utc_field()
    # Set when an edit replaced this row, or when it was removed: the row itself stays.
    replaced_by_id: int | None = Field(default=None, foreign_key="prescription.id")
    removed_at: datetime | None = utc_field(nullable=True)
    removed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
