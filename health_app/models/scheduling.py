"""Availability and appointments.

Slots of one doctor never overlap (generation skips overlaps under the doctor's lock), so
"free" is one indexed range scan over open slots. An appointment copies its slot's times;
the database refuses two booked appointments overlapping for one doctor or one patient
(exclusion constraints on PostgreSQL, partial unique indexes plus the booking guard on
SQLite). Cancelling is a status change: the visit record stays.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class SlotStatus(StrEnum):
    OPEN = "open"
    BOOKED = "booked"
    BLOCKED = "blocked"  # inside a time off
    CLOSED = "closed"  # withdrawn by a range cancel; kept because a visit refers to it


class SlotSource(StrEnum):
    MANUAL = "manual"  # opened one by one or as a range
    TEMPLATE = "template"  # generated from the weekly template; replaced when it changes


class AppointmentStatus(StrEnum):
    """FHIR Appointment.status names."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"
    NOSHOW = "noshow"


class VisitFormat(StrEnum):
    PHONE = "phone"
    VIDEO = "video"


class Slot(SQLModel, table=True):
    __tablename__ = "slot"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_slot_order"),
        CheckConstraint("status in ('open', 'booked', 'blocked', 'closed')", name="ck_slot_status"),
        Index(
            "ux_slot_doctor_start",
            "doctor_id",
            "starts_at",
            unique=True,
            sqlite_where=text("status <> 'closed'"),
            postgresql_where=text("status <> 'closed'"),
        ),
        # Free-slot lookups (earliest slot, free days, free times) read only this index.
        Index(
            "ix_slot_open",
            "doctor_id",
            "starts_at",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id")
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    status: str = Field(default=SlotStatus.OPEN, max_length=8)
    source: str = Field(default=SlotSource.MANUAL, max_length=8)


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ck_appointment_order"),
        CheckConstraint(
            "status in ('booked', 'cancelled', 'fulfilled', 'noshow')", name="ck_appointment_status"
        ),
        CheckConstraint("format in ('phone', 'video')", name="ck_appointment_format"),
        Index(
            "ux_appointment_slot_booked",
            "slot_id",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index(
            "ux_appointment_doctor_start_booked",
            "doctor_id",
            "starts_at",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index(
            "ux_appointment_patient_start_booked",
            "patient_id",
            "starts_at",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index("ix_appointment_doctor_time", "doctor_id", "starts_at"),
        Index("ix_appointment_patient_time", "patient_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id")
    patient_id: int = Field(foreign_key="app_user.id")
    slot_id: int = Field(foreign_key="slot.id")
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    status: str = Field(default=AppointmentStatus.BOOKED, max_length=12)
    format: str = Field(max_length=8)
    consultation_type: str = Field(max_length=50)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    join_url: str = Field(default="", max_length=500)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    cancelled_at: datetime | None = utc_field(nullable=True)
    cancelled_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    cancel_reason: str = Field(default="", max_length=1000)
    # Grows with each reschedule; messages about the visit are keyed by it.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class WeeklyWindow(SQLModel, table=True):
    """One bookable window of a doctor's weekly template, in the doctor's wall-clock time."""

    __tablename__ = "weekly_window"
    __table_args__ = (
        CheckConstraint("weekday between 0 and 6", name="ck_window_weekday"),
        CheckConstraint("end_time > start_time", name="ck_window_order"),
        CheckConstraint("slot_minutes between 5 and 240", name="ck_window_slot_minutes"),
    )

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id", index=True)
    weekday: int  # Monday = 0
    start_time: time
    end_time: time
    slot_minutes: int
    valid_from: date
    valid_to: date | None = None


class TimeOff(SQLModel, table=True):
    __tablename__ = "time_off"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ck_time_off_order"),)

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id", index=True)
    starts_at: datetime = utc_field()
    ends_at: datetime = utc_field()
    reason: str = Field(default="", max_length=200)
    created_at: datetime = utc_field()
