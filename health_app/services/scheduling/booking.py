"""Booking, cancelling and rescheduling visits.

Every path that makes a visit active goes through `_occupy`, under the scheduling
guard; a lost race is SlotTaken ("that time was just taken"), never an error page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import BindParameter, ColumnElement, func, update
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import reads_only, require_id
from health_app.models import (
    Appointment,
    AppointmentStatus,
    DoctorProfile,
    Outcome,
    Role,
    Slot,
    SlotStatus,
    User,
    VisitFormat,
)
from health_app.services import audit
from health_app.services.access import access_appointment
from health_app.services.catalogue import consultation_types
from health_app.services.errors import DomainError, ValidationFailed
from health_app.services.messaging import notifications
from health_app.services.people import Contact, display_name
from health_app.services.scheduling import booking_write
from health_app.services.scheduling.guard import (
    SlotTaken,
    conflicts_as_taken,
    lock_doctor,
    lock_patient,
)
from health_app.services.validation import FieldError, clean_long_text
from health_app.services.views import Actor, Page


@dataclass(frozen=True)
class BookingRequest:
    slot_id: int
    format: str
    consultation_type: str
    reason: str


@dataclass(frozen=True)
class AppointmentView:
    id: int
    doctor_id: int
    doctor_name: str
    patient_id: int
    patient_name: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    status: str
    format: str
    consultation_type: str
    reason: str
    join_url: str
    # Who calls whom, for phone visits.
    phone_note: str
    cancel_reason: str


def _free_slot(session: Session, slot_id: int, now: datetime) -> Slot:
    slot = session.get(Slot, slot_id)
    if slot is None or slot.status != SlotStatus.OPEN or slot.starts_at <= now:
        raise SlotTaken()
    return slot


def _occupy(session: Session, *, slot: Slot, patient_id: int, ignore_id: int | None = None) -> None:
    """Check the doctor and the patient are free for the slot's time (caller holds the locks)."""
    overlapping = select(Appointment.id, Appointment.doctor_id).where(
        Appointment.status == AppointmentStatus.BOOKED,
        col(Appointment.starts_at) < slot.ends_at,
        col(Appointment.ends_at) > slot.starts_at,
        (Appointment.doctor_id == slot.doctor_id) | (Appointment.patient_id == patient_id),
    )
    for appt_id, appt_doctor in session.exec(overlapping):
        if appt_id == ignore_id:
            continue
        if appt_doctor == slot.doctor_id:
            raise SlotTaken()
        raise DomainError("You already have a visit at that time. Choose another time.")
    slot.status = SlotStatus.BOOKED
    session.add(slot)


def book_appointment(
    session: Session, *, actor: Actor, request: BookingRequest, settings: Settings, now: datetime
) -> AppointmentView:
    if actor.role != Role.PATIENT:
        raise audit.deny(
            session,
            actor=actor,
            action="appointment.book",
            now=now,
            object_type="slot",
            object_id=request.slot_id,
            message="Only patients can book visits.",
        )
    done = booking_write.book(
        session,
        actor=actor,
        slot_id=request.slot_id,
        visit_format=request.format,
        consultation_type=request.consultation_type,
        reason_text=request.reason,
        settings=settings,
        now=now,
    )
    return appointment_view(done.appointment, done.doctor, done.patient, done.time_zone)


def cancel_appointment(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    reason: str,
    now: datetime,
    settings: Settings,
) -> None:
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="appointment.cancel", now=now
    )
    try:
        reason = clean_long_text(reason, label="Reason", max_len=1000)
    except FieldError as exc:
        raise ValidationFailed({"reason": str(exc)}) from exc
    if appt.status != AppointmentStatus.BOOKED:
        raise DomainError("This visit is not booked any more.")
    if appt.starts_at <= now:
        raise DomainError("This visit has already started and can no longer be cancelled.")
    if actor.user_id == appt.patient_id:
        _check_notice(session, appt, now)
    lock_doctor(session, appt.doctor_id)
    appt.status, appt.cancelled_at, appt.cancelled_by_id = (
        AppointmentStatus.CANCELLED,
        now,
        actor.user_id,
    )
    appt.cancel_reason, appt.updated_at = reason, now
    session.add(appt)
    # The slot reopens for others.
    session.execute(
        update(Slot)
        .where(col(Slot.id) == appt.slot_id, col(Slot.status) == SlotStatus.BOOKED)
        .values(status=SlotStatus.OPEN)
    )
    audit.record(
        session,
        action="appointment.cancel",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="appointment",
        object_id=appt.id,
        subject_id=appt.patient_id,
    )
    notifications.visit_cancelled(
        session,
        appt=appt,
        settings=settings,
        now=now,
        by_doctor=actor.user_id == appt.doctor_id,
        reason=reason,
    )


def _check_notice(session: Session, appt: Appointment, now: datetime) -> None:
    doctor = session.get(DoctorProfile, appt.doctor_id)
    notice = timedelta(minutes=doctor.min_notice_minutes if doctor else 0)
    if appt.starts_at - now < notice:
        hours = notice.total_seconds() / 3600
        span = f"{hours:g} hours" if hours >= 1 else f"{int(notice.total_seconds() // 60)} minutes"
        raise DomainError(
            f"Visits can be changed online up to {span} before they start. Please call the clinic."
        )


def reschedule_appointment(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    new_slot_id: int,
    now: datetime,
    settings: Settings,
) -> AppointmentView:
    """Move a visit to another free slot of the same doctor, all or nothing."""
    appt = access_appointment(
        session,
        actor=actor,
        appointment_id=appointment_id,
        action="appointment.reschedule",
        now=now,
    )
    if appt.status != AppointmentStatus.BOOKED or appt.starts_at <= now:
        raise DomainError("Only upcoming booked visits can be moved.")
    if actor.user_id == appt.patient_id:
        _check_notice(session, appt, now)
    lock_doctor(session, appt.doctor_id)
    lock_patient(session, appt.patient_id)
    with conflicts_as_taken():
        new_slot = _free_slot(session, new_slot_id, now)
        if new_slot.doctor_id != appt.doctor_id:
            raise DomainError("A visit can only move to another time with the same doctor.")
        old_slot_id = appt.slot_id
        _occupy(session, slot=new_slot, patient_id=appt.patient_id, ignore_id=appt.id)
        old_starts_at = appt.starts_at
        appt.slot_id, appt.starts_at, appt.ends_at, appt.updated_at = (
            require_id(new_slot.id),
            new_slot.starts_at,
            new_slot.ends_at,
            now,
        )
        # A new revision of the visit: its messages (reminders above all) start afresh.
        appt.revision += 1
        session.add(appt)
        session.execute(
            update(Slot).where(col(Slot.id) == old_slot_id).values(status=SlotStatus.OPEN)
        )
        session.flush()
    audit.record(
        session,
        action="appointment.reschedule",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="appointment",
        object_id=appt.id,
        subject_id=appt.patient_id,
        detail=f"slot {old_slot_id} -> {new_slot.id}",
    )
    notifications.visit_rescheduled(
        session,
        appt=appt,
        old_starts_at=old_starts_at,
        settings=settings,
        now=now,
    )
    return _view(session, appt)


def _view(session: Session, appt: Appointment) -> AppointmentView:
    """The visit as its people see it: one query for the doctor, the patient is usually loaded."""
    doctor_user, zone = session.exec(
        select(User, DoctorProfile.time_zone)
        .join(DoctorProfile, col(DoctorProfile.user_id) == col(User.id))
        .where(User.id == appt.doctor_id)
    ).one()
    patient = session.get(User, appt.patient_id)
    assert patient is not None
    return appointment_view(appt, doctor_user, patient, zone)


class VisitColumns(Protocol):
    """What a visit's view is made of: an Appointment, or the booking path's own record of
    what it just wrote."""

    @property
    def id(self) -> int | None: ...
    @property
    def doctor_id(self) -> int: ...
    @property
    def patient_id(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def consultation_type(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def join_url(self) -> str: ...
    @property
    def cancel_reason(self) -> str: ...


def appointment_view(
    appt: VisitColumns, doctor_user: Contact, patient: Contact, zone: str
) -> AppointmentView:
    phone_note = ""
    if appt.format == VisitFormat.PHONE:
        number = patient.phone or "the number on file"
        phone_note = f"Dr. {doctor_user.last_name} calls {display_name(patient)} at {number}."
    elif not appt.join_url and appt.status == AppointmentStatus.BOOKED:
        # The doctor's Teams meeting is being made (calendar_sync.py): seconds, usually.
        phone_note = "The Teams link for this video visit is on its way: reload in a moment."
    return AppointmentView(
        id=require_id(appt.id),
        doctor_id=appt.doctor_id,
        doctor_name=f"Dr. {display_name(doctor_user)}",
        patient_id=appt.patient_id,
        patient_name=display_name(patient),
        starts_at=appt.starts_at,
        ends_at=appt.ends_at,
        time_zone=zone,
        status=appt.status,
        format=appt.format,
        consultation_type=consultation_types().get(appt.consultation_type, appt.consultation_type),
        reason=appt.reason,
        join_url=appt.join_url,
        phone_note=phone_note,
        cancel_reason=appt.cancel_reason,
    )


def visit_list_rule(which: str, now: datetime | BindParameter[Any]) -> ColumnElement[bool]:
    """Which visits are in a list: "upcoming" (booked and not over), "past" (over or
    closed) or "cancelled" (whenever it was to take place). A visit closed early is past at
    once, so every visit is in exactly one list."""
    booked = col(Appointment.status) == AppointmentStatus.BOOKED
    cancelled = col(Appointment.status) == AppointmentStatus.CANCELLED
    running = booked & (col(Appointment.ends_at) > now)
    return {"upcoming": running, "past": ~cancelled & ~running, "cancelled": cancelled}[which]


@reads_only
def list_appointments(
    session: Session,
    *,
    actor: Actor,
    upcoming: bool = False,
    now: datetime,
    which: str = "",
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[AppointmentView], int]:
    """The actor's own visits (as patient or doctor), paginated in SQL: "upcoming" (booked
    and not over, soonest first), "past" (over or closed, newest first) or "cancelled"
    (newest first). `upcoming=True` is "upcoming" and False "past", for older callers.

    A cancelled visit is in "cancelled" only, whenever it was to take place; a visit closed
    early is past at once, so none is missing from every list.
    """
    which = which or ("upcoming" if upcoming else "past")
    mine = (
        Appointment.patient_id == actor.user_id
        if actor.role == Role.PATIENT
        else Appointment.doctor_id == actor.user_id
    )
    if actor.role not in (Role.PATIENT, Role.DOCTOR):
        raise audit.deny(session, actor=actor, action="appointment.list", now=now)
    base = select(Appointment).where(mine, visit_list_rule(which, now))
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    order = col(Appointment.starts_at) if which == "upcoming" else col(Appointment.starts_at).desc()
    rows = session.exec(base.order_by(order).offset(offset).limit(limit)).all()
    return appointment_views(session, list(rows)), total


HISTORY_PAGE_SIZE = 20


@reads_only
def list_history(
    session: Session,
    *,
    actor: Actor,
    status: str,
    first: date | None,
    last: date | None,
    page: int,
    settings: Settings,
    now: datetime,
) -> Page[AppointmentView]:
    """All of the actor's visits, past included, newest first, filtered and paginated in SQL.

    Dates are the clinic's local dates of the visit start.
    """
    if actor.role not in (Role.PATIENT, Role.DOCTOR):
        raise audit.deny(session, actor=actor, action="appointment.list", now=now)
    mine = (
        Appointment.patient_id if actor.role == Role.PATIENT else Appointment.doctor_id
    ) == actor.user_id
    stmt = select(Appointment).where(mine)
    if status in {s.value for s in AppointmentStatus}:
        stmt = stmt.where(Appointment.status == status)
    zone = settings.clinic_zone
    if first:
        stmt = stmt.where(
            col(Appointment.starts_at) >= datetime.combine(first, time(0), tzinfo=zone)
        )
    if last:
        stmt = stmt.where(
            col(Appointment.starts_at)
            < datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
        )
    page = max(1, page)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(
        stmt.order_by(col(Appointment.starts_at).desc(), col(Appointment.id).desc())
        .offset((page - 1) * HISTORY_PAGE_SIZE)
        .limit(HISTORY_PAGE_SIZE)
    ).all()
    return Page(
        items=tuple(appointment_views(session, rows)),
        total=total,
        page=page,
        page_size=HISTORY_PAGE_SIZE,
    )


def appointment_views(session: Session, rows: Sequence[Appointment]) -> list[AppointmentView]:
    """Views for many visits with one query for the people, whatever their number.

    Only the name and phone columns are read: dashboards build these views on every load.
    """
    if not rows:
        return []
    people = {
        p.id: p
        for p in session.exec(
            # sqlmodel's select() is typed for at most four columns; the rows are used untyped.
            select(  # pyright: ignore[reportCallIssue]
                User.id,
                User.first_name,
                User.preferred_name,
                User.last_name,
                User.phone,
                DoctorProfile.time_zone,
            )
            .join(DoctorProfile, col(DoctorProfile.user_id) == col(User.id), isouter=True)
            .where(col(User.id).in_({r.doctor_id for r in rows} | {r.patient_id for r in rows}))
        ).all()
    }
    return [
        appointment_view(
            r, people[r.doctor_id], people[r.patient_id], people[r.doctor_id].time_zone
        )
        for r in rows
    ]
