"""People: one user row per login, with a profile per role."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class Role(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role in ('patient', 'doctor', 'admin')", name="ck_user_role"),
        CheckConstraint("notify_email or notify_sms", name="ck_user_one_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Stored normalised (lower-case); unique so one address is one account.
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    first_name: str = Field(max_length=100)
    preferred_name: str = Field(default="", max_length=100)
    last_name: str = Field(max_length=100)
    phone: str = Field(default="", max_length=20)
    notify_email: bool = True
    notify_sms: bool = False
    email_verified_at: datetime | None = utc_field(nullable=True)
    deactivated_at: datetime | None = utc_field(nullable=True)
    # The address waiting for confirmation in an email change; the old one stays in use.
    pending_email: str | None = Field(default=None, max_length=254)
    password_changed_at: datetime = utc_field()
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class PatientProfile(SQLModel, table=True):
    __tablename__ = "patient_profile"

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    date_of_birth: date
    address_line: str = Field(max_length=200)
    city: str = Field(max_length=100)
    province: str = Field(max_length=50)
    postal_code: str = Field(max_length=10)
    # Normalised "1234-567-890-AB"; unique: one card, one account.
    health_card_number: str = Field(max_length=20, unique=True, index=True)
    health_card_expiry: date
    latitude: float | None = None
    longitude: float | None = None
    # Where the coordinates came from ("geocoded", "pin", "demo"; "" = none yet) and when;
    # geo_status: "pending" (waiting for the geocoder), "found", "not_found".
    geo_source: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    geo_status: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    geo_at: datetime | None = utc_field(nullable=True)
    # The pharmacy that receives prescriptions; typed in the profile, later picked on a map.
    pharmacy_name: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    pharmacy_address: str = Field(
        default="", max_length=300, sa_column_kwargs={"server_default": ""}
    )
    pharmacy_phone: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    # Google Places id once chosen on the map (Maps feature); empty when typed by hand.
    pharmacy_place_id: str = Field(
        default="", max_length=300, sa_column_kwargs={"server_default": ""}
    )


class DoctorProfile(SQLModel, table=True):
    __tablename__ = "doctor_profile"
    __table_args__ = (
        CheckConstraint(
            "approval_status in ('pending', 'approved', 'rejected')", name="ck_doctor_approval"
        ),
        # "Doctors near me" narrows to a latitude band first (a bounding box), then measures.
        Index("ix_doctor_profile_lat_lng", "latitude", "longitude"),
    )

    user_id: int = Field(foreign_key="app_user.id", primary_key=True)
    qualifications: str = Field(sa_column=Column(Text, nullable=False))
    specialty: str = Field(max_length=100, index=True)
    clinic_name: str = Field(max_length=200)
    clinic_address_line: str = Field(max_length=200)
    clinic_city: str = Field(max_length=100)
    clinic_province: str = Field(max_length=50)
    clinic_postal_code: str = Field(max_length=10)
    # The regulator's registration number (CPSO in Ontario), for the admin who approves.
    licence_number: str = Field(default="", max_length=20, sa_column_kwargs={"server_default": ""})
    time_zone: str = Field(max_length=64)
    # How long before a visit patients may still cancel or reschedule it.
    min_notice_minutes: int = Field(default=60, sa_column_kwargs={"server_default": "60"})
    approval_status: str = Field(default=ApprovalStatus.PENDING, max_length=16, index=True)
    reviewed_at: datetime | None = utc_field(nullable=True)
    reviewed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    rejection_reason: str = Field(default="", max_length=1000)
    latitude: float | None = None
    longitude: float | None = None
    # Where the coordinates came from ("geocoded", "pin", "demo"; "" = none yet) and when;
    # geo_status: "pending" (waiting for the geocoder), "found", "not_found".
    geo_source: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    geo_status: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    geo_at: datetime | None = utc_field(nullable=True)
    # Public asset (resized, metadata stripped) in the public container / folder; "" = none.
    photo_blob: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})


class DoctorConsultationType(SQLModel, table=True):
    """One row per consultation type a doctor offers (codes from the shipped catalogue)."""

    __tablename__ = "doctor_consultation_type"
    __table_args__ = (UniqueConstraint("doctor_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id", index=True)
    code: str = Field(max_length=50, index=True)


class DoctorLanguage(SQLModel, table=True):
    __tablename__ = "doctor_language"
    __table_args__ = (UniqueConstraint("doctor_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    doctor_id: int = Field(foreign_key="doctor_profile.user_id", index=True)
    code: str = Field(max_length=10, index=True)
