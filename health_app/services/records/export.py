"""History export for doctors: CSV or XLSX of their own visits, with chosen columns.

Every cell is neutralised against spreadsheet formula injection: a value starting with
=, +, -, @, tab or carriage return is prefixed with an apostrophe, so spreadsheets show
it as text instead of running it. Each export is an audit row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.models import (
    Appointment,
    DoctorProfile,
    Outcome,
    PatientProfile,
    Prescription,
    User,
    VisitNote,
)
from health_app.services import audit
from health_app.services.access import require_own_doctor
from health_app.services.catalogue import consultation_types, visit_status_word
from health_app.services.errors import ValidationFailed
from health_app.services.people import display_name
from health_app.services.views import Actor

COLUMNS: dict[str, str] = {
    "date": "Date",
    "time": "Time",
    "consultation": "Consultation",
    "patient_name": "Patient name",
    "date_of_birth": "Date of birth",
    "address": "Address",
    "email": "Email",
    "phone": "Phone",
    "health_card": "Health card",
    "health_card_expiry": "Health card expiry",
    "pharmacy": "Pharmacy",
    "notes": "Notes",
    "prescriptions": "Prescriptions",
    "status": "Status",
}
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 100_000
IDS_PER_QUERY = 10_000


@dataclass(frozen=True)
class ExportRequest:
    columns: list[str]
    first: date | None = None
    last: date | None = None
    from_time: time | None = None  # local time of day, inclusive
    until_time: time | None = None  # local time of day, exclusive
    patient_name: str = ""
    file_format: str = "xlsx"  # or "csv"


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    data: bytes
    rows: int


def safe_cell(value: object) -> str:
    """Text a spreadsheet will never evaluate."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_DANGEROUS) else text


def _check(request: ExportRequest) -> None:
    errors: dict[str, str] = {}
    unknown = [c for c in request.columns if c not in COLUMNS]
    if unknown or not request.columns:
        errors["columns"] = "Choose at least one column from the list."
    if request.first and request.last and request.last < request.first:
        errors["last"] = "The end date is before the start date."
    if request.from_time and request.until_time and request.until_time <= request.from_time:
        errors["until_time"] = "The end time must be after the start time."
    if request.file_format not in ("csv", "xlsx"):
        errors["file_format"] = "Choose CSV or Excel."
    if errors:
        raise ValidationFailed(errors)


def _rows(
    session: Session, *, doctor: DoctorProfile, request: ExportRequest
) -> Iterator[list[str]]:
    zone = ZoneInfo(doctor.time_zone)
    stmt = (
        select(Appointment, User, PatientProfile)
        .join(User, col(User.id) == col(Appointment.patient_id))
        .join(
            PatientProfile, col(PatientProfile.user_id) == col(Appointment.patient_id), isouter=True
        )
        .where(Appointment.doctor_id == doctor.user_id)
    )
    if request.first:
        stmt = stmt.where(
            col(Appointment.starts_at) >= datetime.combine(request.first, time(0), tzinfo=zone)
        )
    if request.last:
        stmt = stmt.where(
            col(Appointment.starts_at)
            < datetime.combine(request.last + timedelta(days=1), time(0), tzinfo=zone)
        )
    name = request.patient_name.strip().lower()[:100]
    if name:
        like = f"%{name}%"
        stmt = stmt.where(
            func.lower(User.first_name + " " + User.last_name).like(like)
            | func.lower(User.preferred_name).like(like)
        )
    rows = session.exec(stmt.order_by(col(Appointment.starts_at)).limit(MAX_ROWS)).all()
    ids = [a.id for a, _, _ in rows]
    notes: dict[int, str] = {}
    prescriptions: dict[int, list[str]] = {}
    # In pieces: a statement carries at most 65,535 parameters (PostgreSQL's protocol).
    for start in range(0, len(ids), IDS_PER_QUERY):
        some = ids[start : start + IDS_PER_QUERY]
        for appt_id, body in session.exec(
            select(VisitNote.appointment_id, VisitNote.body)
            .where(col(VisitNote.appointment_id).in_(some))
            .order_by(col(VisitNote.version))
        ):
            notes[appt_id] = body  # the last version wins
        for p in session.exec(
            select(Prescription)
            .where(
                col(Prescription.appointment_id).in_(some),
                col(Prescription.replaced_by_id).is_(None),
                col(Prescription.removed_at).is_(None),
            )
            .order_by(col(Prescription.id))
        ):
            prescriptions.setdefault(p.appointment_id, []).append(
                f"{p.drug} {p.strength}, {p.route}, {p.frequency}, {p.duration}, "
                f"qty {p.quantity}, refills {p.refills}"
            )
    labels = consultation_types()
    for appt, patient, profile in rows:
        local = appt.starts_at.astimezone(zone)
        if request.from_time and local.time() < request.from_time:
            continue
        if request.until_time and local.time() >= request.until_time:
            continue
        values = {
            "date": local.strftime("%Y-%m-%d"),
            "time": local.strftime("%H:%M %Z"),
            "consultation": labels.get(appt.consultation_type, appt.consultation_type),
            "patient_name": display_name(patient),
            "date_of_birth": profile.date_of_birth.isoformat() if profile else "",
            "address": (
                f"{profile.address_line}, {profile.city}, {profile.province} {profile.postal_code}"
            )
            if profile
            else "",
            "email": patient.email,
            "phone": patient.phone,
            "health_card": profile.health_card_number if profile else "",
            "health_card_expiry": profile.health_card_expiry.isoformat() if profile else "",
            "pharmacy": _pharmacy(profile),
            "notes": notes.get(appt.id, ""),  # type: ignore[arg-type]
            "prescriptions": "; ".join(prescriptions.get(appt.id, [])),  # type: ignore[arg-type]
            "status": visit_status_word(appt.status),
        }
        yield [safe_cell(values[c]) for c in request.columns]


def _pharmacy(profile: PatientProfile | None) -> str:
    if profile is None or not profile.pharmacy_name:
        return ""
    parts = (profile.pharmacy_name, profile.pharmacy_address, profile.pharmacy_phone)
    return ", ".join(part for part in parts if part)


def export_history(
    session: Session, *, actor: Actor, request: ExportRequest, now: datetime
) -> ExportFile:
    """The doctor's own visits only; anyone else is refused and audited."""
    doctor = require_own_doctor(session, actor, action="export.history", now=now)
    _check(request)
    header = [COLUMNS[c] for c in request.columns]
    body = list(_rows(session, doctor=doctor, request=request))
    # The doctor's own clock in the name, as everywhere people read a time.
    stamp = now.astimezone(ZoneInfo(doctor.time_zone)).strftime("%Y%m%d-%H%M")
    if request.file_format == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(body)
        data, kind, ext = buf.getvalue().encode("utf-8-sig"), "text/csv", "csv"
    else:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Visits")
        ws.append(header)
        for r in body:
            ws.append(r)
        out = io.BytesIO()
        wb.save(out)
        data = out.getvalue()
        kind, ext = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    audit.record(
        session,
        action="export.history",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="doctor",
        object_id=actor.user_id,
        detail=f"{len(body)} rows, {ext}, columns: {','.join(request.columns)}"[:500],
    )
    return ExportFile(
        filename=f"visits-{stamp}.{ext}", content_type=kind, data=data, rows=len(body)
    )
