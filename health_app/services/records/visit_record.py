"""The visit record: the doctor writes notes and prescriptions, the patient reads them.

Only the visit's doctor writes, only while the visit is open (booked, and not cancelled);
marking it fulfilled or no-show closes it. Every read and change writes an audit row
with the patient as subject. Saves never overwrite: notes are versioned (a stale save is
refused rather than silently replacing someone's text) and prescriptions are replaced by
new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TypedDict

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.db import require_id
from health_app.models import (
    Appointment,
    AppointmentStatus,
    DoctorProfile,
    Outcome,
    PatientProfile,
    Prescription,
    User,
    VisitNote,
)
from health_app.services import audit
from health_app.services.access import access_appointment
from health_app.services.catalogue import visit_status_word
from health_app.services.errors import DomainError, ValidationFailed
from health_app.services.people import display_name
from health_app.services.scheduling.booking import AppointmentView, appointment_view
from health_app.services.validation import Collector, clean_long_text, clean_text
from health_app.services.views import Actor

NOTES_MAX = 100_000  # generous on purpose: the prototype's 50-character cap lost notes
DRUG_ROUTES = (
    "oral",
    "topical",
    "inhaled",
    "sublingual",
    "intramuscular",
    "subcutaneous",
    "intravenous",
    "ophthalmic",
    "otic",
    "nasal",
    "rectal",
    "vaginal",
    "transdermal",
)


@dataclass(frozen=True)
class PrescriptionInput:
    drug: str
    strength: str
    route: str
    frequency: str
    duration: str
    quantity: str
    refills: str
    instructions: str


@dataclass(frozen=True)
class PrescriptionView:
    id: int
    drug: str
    strength: str
    route: str
    frequency: str
    duration: str
    quantity: int
    refills: int
    instructions: str
    written_by: str
    written_at: datetime
    replaces_id: int | None


@dataclass(frozen=True)
class NoteVersion:
    version: int
    body: str
    author: str
    at: datetime
    addendum: bool = False


@dataclass(frozen=True)
class VisitRecord:
    visit: AppointmentView
    viewer_is_doctor: bool
    editable: bool
    # Completed or no-show: what the doctor saves now is a dated addendum or correction.
    closed: bool
    closable: bool
    # Booked and not begun: its patient or doctor may still cancel or move it.
    changeable: bool
    notes: str
    notes_version: int
    notes_history: tuple[NoteVersion, ...]
    prescriptions: tuple[PrescriptionView, ...]
    # Patient identifiers: shown on this page only, never on lists.
    patient_date_of_birth: date | None
    patient_health_card: str


def _is_open(appt: Appointment) -> bool:
    return appt.status == AppointmentStatus.BOOKED


def _is_closed(appt: Appointment) -> bool:
    return appt.status in (AppointmentStatus.FULFILLED, AppointmentStatus.NOSHOW)


def _record(
    session: Session, appt: Appointment, actor: Actor, action: str, now: datetime, detail: str = ""
) -> None:
    audit.record(
        session,
        action=action,
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="appointment",
        object_id=appt.id,
        subject_id=appt.patient_id,
        detail=detail,
    )


def get_record(
    session: Session, *, actor: Actor, appointment_id: int, now: datetime
) -> VisitRecord:
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="visit.read", now=now
    )
    doctor_user, zone = session.exec(
        select(User, DoctorProfile.time_zone)
        .join(DoctorProfile, col(DoctorProfile.user_id) == col(User.id))
        .where(User.id == appt.doctor_id)
    ).one()
    patient = session.get(User, appt.patient_id)
    profile = session.get(PatientProfile, appt.patient_id)
    assert patient is not None
    authors = {u.id: display_name(u) for u in (doctor_user, patient)}
    notes = session.exec(
        select(VisitNote)
        .where(VisitNote.appointment_id == appt.id)
        .order_by(col(VisitNote.version).desc())
    ).all()
    rx_rows = session.exec(
        select(Prescription)
        .where(
            Prescription.appointment_id == appt.id,
            col(Prescription.replaced_by_id).is_(None),
            col(Prescription.removed_at).is_(None),
        )
        .order_by(col(Prescription.id))
    ).all()
    replaced = dict(
        session.exec(
            select(Prescription.replaced_by_id, Prescription.id).where(
                Prescription.appointment_id == appt.id,
                col(Prescription.replaced_by_id).is_not(None),
            )
        ).all()
    )
    _record(session, appt, actor, "visit.read", now)
    is_doctor = actor.user_id == appt.doctor_id
    return VisitRecord(
        visit=appointment_view(appt, doctor_user, patient, zone),
        viewer_is_doctor=is_doctor,
        editable=is_doctor and appt.status != AppointmentStatus.CANCELLED,
        closed=_is_closed(appt),
        closable=is_doctor and _is_open(appt) and appt.starts_at <= now,
        changeable=_is_open(appt) and appt.starts_at > now,
        notes=notes[0].body if notes else "",
        notes_version=notes[0].version if notes else 0,
        notes_history=tuple(
            NoteVersion(
                n.version, n.body, authors.get(n.author_id, "Doctor"), n.created_at, n.addendum
            )
            for n in notes
        )
        if is_doctor
        else (),
        prescriptions=tuple(
            PrescriptionView(
                id=require_id(r.id),
                drug=r.drug,
                strength=r.strength,
                route=r.route,
                frequency=r.frequency,
                duration=r.duration,
                quantity=r.quantity,
                refills=r.refills,
                instructions=r.instructions,
                written_by=authors.get(r.author_id, "Doctor"),
                written_at=r.created_at,
                replaces_id=replaced.get(r.id),
            )
            for r in rx_rows
        ),
        patient_date_of_birth=profile.date_of_birth if profile else None,
        patient_health_card=profile.health_card_number if profile else "",
    )


def _writable(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    action: str,
    now: datetime,
    corrections: bool = True,
) -> Appointment:
    """The visit, for its doctor to write in. A closed visit (completed, no-show) still
    takes corrections and addenda, as charts do, unless `corrections` is False; a
    cancelled one takes nothing."""
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action=action, now=now
    )
    if actor.user_id != appt.doctor_id:
        raise audit.deny(
            session,
            actor=actor,
            action=action,
            now=now,
            object_type="appointment",
            object_id=appointment_id,
            message="Only the visit's doctor can change the record.",
        )
    if not (_is_open(appt) or (corrections and _is_closed(appt))):
        word = visit_status_word(appt.status).lower()
        raise DomainError(f"This visit is {word}: its record can no longer be changed.")
    return appt


def save_notes(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    body: str,
    based_on_version: int,
    now: datetime,
) -> int:
    """Save a new version of the notes; refused if someone saved since the editor loaded."""
    appt = _writable(
        session, actor=actor, appointment_id=appointment_id, action="visit.notes", now=now
    )
    try:
        text = clean_long_text(body, label="Notes", max_len=NOTES_MAX, required=False)
    except ValueError as exc:
        raise ValidationFailed({"notes": str(exc)}) from exc
    latest = (
        session.exec(
            select(func.max(VisitNote.version)).where(VisitNote.appointment_id == appt.id)
        ).one()
        or 0
    )
    if latest != based_on_version:
        raise DomainError(
            "These notes were changed since you opened them. Reload to see the "
            "latest version; your text is still in the box."
        )
    addendum = _is_closed(appt)
    session.add(
        VisitNote(
            appointment_id=require_id(appt.id),
            version=latest + 1,
            body=text,
            author_id=actor.user_id,
            created_at=now,
            addendum=addendum,
        )
    )
    detail = f"version {latest + 1}{', addendum after closing' if addendum else ''}"
    _record(session, appt, actor, "visit.notes", now, detail)
    return latest + 1


class _PrescriptionFields(TypedDict):
    """A checked prescription form, as Prescription fields."""

    drug: str
    strength: str
    route: str
    frequency: str
    duration: str
    quantity: int
    refills: int
    instructions: str


def _clean_prescription(form: PrescriptionInput) -> _PrescriptionFields:
    c = Collector()
    drug = c.check("drug", clean_text, form.drug, label="Drug", max_len=200)
    strength = c.check("strength", clean_text, form.strength, label="Strength", max_len=100)
    frequency = c.check("frequency", clean_text, form.frequency, label="Frequency", max_len=100)
    duration = c.check("duration", clean_text, form.duration, label="Duration", max_len=100)
    instructions = (
        c.check(
            "instructions",
            clean_long_text,
            form.instructions,
            label="Instructions",
            max_len=4000,
            required=False,
        )
        or ""
    )
    route = (form.route or "").strip().lower()
    if route not in DRUG_ROUTES:
        c.add("route", "Choose a route from the list.")
    counts: dict[str, int] = {}
    for field, low, label in (("quantity", 1, "Quantity"), ("refills", 0, "Refills")):
        raw = (getattr(form, field) or "").strip()
        if not raw.isdigit() or len(raw) > 6 or int(raw) < low:
            c.add(field, f"{label} must be a whole number{' above 0' if low else ''}.")
        else:
            counts[field] = int(raw)
    c.raise_if_any()
    return _PrescriptionFields(
        drug=drug,
        strength=strength,
        route=route,
        frequency=frequency,
        duration=duration,
        quantity=counts["quantity"],
        refills=counts["refills"],
        instructions=instructions,
    )


def add_prescription(
    session: Session, *, actor: Actor, appointment_id: int, form: PrescriptionInput, now: datetime
) -> int:
    appt = _writable(
        session, actor=actor, appointment_id=appointment_id, action="visit.prescribe", now=now
    )
    row = Prescription(
        appointment_id=require_id(appt.id),
        author_id=actor.user_id,
        created_at=now,
        **_clean_prescription(form),
    )
    session.add(row)
    session.flush()
    _record(session, appt, actor, "visit.prescribe", now, f"prescription {row.id}")
    return require_id(row.id)


def _current_prescription(
    session: Session, appt: Appointment, prescription_id: int, *, actor: Actor, now: datetime
) -> Prescription:
    row = session.get(Prescription, prescription_id)
    if row is None or row.appointment_id != appt.id:
        # Another visit's prescription is another patient's record: an audited refusal.
        raise audit.deny(
            session,
            actor=actor,
            action="visit.prescribe",
            now=now,
            object_type="prescription",
            object_id=prescription_id,
            message="That prescription is not part of this visit.",
        )
    if row.replaced_by_id is not None or row.removed_at is not None:
        raise DomainError(
            "That prescription was changed since you opened it. Reload to see the latest."
        )
    return row


def edit_prescription(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    prescription_id: int,
    form: PrescriptionInput,
    now: datetime,
) -> int:
    """Replace a prescription with a corrected one; the old row stays as history."""
    appt = _writable(
        session, actor=actor, appointment_id=appointment_id, action="visit.prescribe", now=now
    )
    old = _current_prescription(session, appt, prescription_id, actor=actor, now=now)
    new = Prescription(
        appointment_id=require_id(appt.id),
        author_id=actor.user_id,
        created_at=now,
        **_clean_prescription(form),
    )
    session.add(new)
    session.flush()
    old.replaced_by_id = new.id
    session.add(old)
    _record(session, appt, actor, "visit.prescribe", now, f"prescription {old.id} -> {new.id}")
    return require_id(new.id)


def remove_prescription(
    session: Session, *, actor: Actor, appointment_id: int, prescription_id: int, now: datetime
) -> None:
    appt = _writable(
        session, actor=actor, appointment_id=appointment_id, action="visit.prescribe", now=now
    )
    row = _current_prescription(session, appt, prescription_id, actor=actor, now=now)
    row.removed_at, row.removed_by_id = now, actor.user_id
    session.add(row)
    _record(session, appt, actor, "visit.prescribe", now, f"prescription {row.id} removed")


def close_visit(
    session: Session, *, actor: Actor, appointment_id: int, outcome: str, now: datetime
) -> None:
    """Mark a started visit fulfilled (completed) or noshow; later writing is addenda."""
    appt = _writable(
        session,
        actor=actor,
        appointment_id=appointment_id,
        action="visit.close",
        now=now,
        corrections=False,
    )
    if outcome not in (AppointmentStatus.FULFILLED, AppointmentStatus.NOSHOW):
        raise ValidationFailed({"outcome": "Choose completed or no-show."})
    if appt.starts_at > now:
        raise DomainError("A visit can be marked completed or no-show once it has started.")
    appt.status, appt.updated_at = outcome, now
    session.add(appt)
    _record(session, appt, actor, "visit.close", now, outcome)
