"""Doctors publish bookable time: single slots, ranges, a weekly template, time off,
and cancelling a range with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, delete, func, insert, update
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import (
    Appointment,
    AppointmentStatus,
    DoctorProfile,
    Outcome,
    Slot,
    SlotSource,
    SlotStatus,
    TimeOff,
    WeeklyWindow,
)
from health_app.services import audit
from health_app.services.access import require_own_doctor
from health_app.services.errors import DomainError, ValidationFailed
from health_app.services.messaging import notifications
from health_app.services.scheduling import slot_batches
from health_app.services.scheduling.busy_slots import block_busy
from health_app.services.scheduling.guard import lock_doctor
from health_app.services.scheduling.time_rules import (
    MAX_HORIZON_DAYS,
    MAX_SLOT_MINUTES,
    MIN_SLOT_MINUTES,
    Interval,
    local_to_utc,
    range_slots,
    without_overlaps,
)
from health_app.services.views import Actor


@dataclass(frozen=True)
class DaySummary:
    day: date
    open: int
    booked: int


def check_length(minutes: int) -> None:
    if not MIN_SLOT_MINUTES <= minutes <= MAX_SLOT_MINUTES:
        raise ValidationFailed(
            {
                "slot_minutes": (
                    f"Slot length must be {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES} minutes."
                )
            }
        )


def _check_dates(first: date, last: date, today: date) -> None:
    errors: dict[str, str] = {}
    if last < first:
        errors["to_date"] = "The end date is before the start date."
    elif first < today:
        errors["from_date"] = "Slots cannot be in the past."
    elif last > today + timedelta(days=MAX_HORIZON_DAYS - 1):
        errors["to_date"] = "You can publish at most one year ahead."
    if errors:
        raise ValidationFailed(errors)


def _check_window(start: time, end: time) -> None:
    if end <= start:
        raise ValidationFailed({"end_time": "The end time must be after the start time."})


def insert_slots(
    session: Session,
    *,
    doctor: DoctorProfile,
    candidates: list[Interval],
    now: datetime,
    source: str = SlotSource.MANUAL,
) -> int:
    """Insert what is in the future and overlaps neither existing slots nor time off.

    The caller holds the doctor's lock, so the overlap check cannot race with itself.
    PostgreSQL checks and inserts the batch in one statement (slot_batches.py); SQLite,
    in process, reads the doctor's busy times once and inserts the rest.
    """
    future = [c for c in candidates if c[0] > now]
    if not future:
        return 0
    lo, hi = min(c[0] for c in future), max(c[1] for c in future)
    if session.get_bind().dialect.name == "postgresql":
        created = slot_batches.insert_free(
            session,
            doctor_id=doctor.user_id,
            intervals=without_overlaps(future, []),
            source=source,
        )
        if created:
            block_busy(session, doctor_id=doctor.user_id, lo=lo, hi=hi)
        return created
    taken = list(
        session.exec(
            select(Slot.starts_at, Slot.ends_at).where(
                Slot.doctor_id == doctor.user_id,
                Slot.status != SlotStatus.CLOSED,
                col(Slot.starts_at) < hi,
                col(Slot.ends_at) > lo,
            )
        ).all()
    )
    off = list(
        session.exec(
            select(TimeOff.starts_at, TimeOff.ends_at).where(
                TimeOff.doctor_id == doctor.user_id,
                col(TimeOff.starts_at) < hi,
                col(TimeOff.ends_at) > lo,
            )
        ).all()
    )
    # Blocked slots lie inside time off, so the two lists overlap each other: merge them,
    # because without_overlaps relies on a busy list that does not overlap itself.
    kept = without_overlaps(future, _merged([*taken, *off]))
    if kept:
        session.execute(
            insert(Slot),
            [
                {
                    "doctor_id": doctor.user_id,
                    "starts_at": b,
                    "ends_at": e,
                    "status": SlotStatus.OPEN,
                    "source": source,
                }
                for b, e in kept
            ],
        )
        # New slots under an Outlook meeting are blocked at once, not at the next read.
        block_busy(session, doctor_id=doctor.user_id, lo=lo, hi=hi)
    return len(kept)


def _merged(intervals: list[Interval]) -> list[Interval]:
    """Union of possibly overlapping intervals (time off may overlap itself)."""
    out: list[Interval] = []
    for b, e in sorted(intervals):
        if out and b <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((b, e))
    return out


def zone_of(doctor: DoctorProfile) -> ZoneInfo:
    return ZoneInfo(doctor.time_zone)


def today_of(doctor: DoctorProfile, now: datetime) -> date:
    return now.astimezone(zone_of(doctor)).date()


def open_slot(
    session: Session, *, actor: Actor, day: date, start: time, minutes: int, now: datetime
) -> int:
    doctor = require_own_doctor(session, actor, action="availability.open_slot", now=now)
    check_length(minutes)
    _check_dates(day, day, today_of(doctor, now))
    begin = local_to_utc(day, start, zone_of(doctor))
    if begin is None:
        raise ValidationFailed(
            {"start_time": "That time does not exist on that day (clock change)."}
        )
    if begin <= now:
        raise ValidationFailed({"start_time": "Slots cannot be in the past."})
    lock_doctor(session, doctor.user_id)
    created = insert_slots(
        session, doctor=doctor, candidates=[(begin, begin + timedelta(minutes=minutes))], now=now
    )
    if not created:
        raise DomainError("That time overlaps a slot you already have or your time off.")
    record_change(session, actor, "availability.open_slot", now, f"{created} slot")
    return created


def open_range(
    session: Session,
    *,
    actor: Actor,
    first: date,
    last: date,
    start: time,
    end: time,
    minutes: int,
    now: datetime,
) -> int:
    """Open back-to-back slots every day of a date range; returns how many were new."""
    doctor = require_own_doctor(session, actor, action="availability.open_range", now=now)
    check_length(minutes)
    _check_window(start, end)
    _check_dates(first, last, today_of(doctor, now))
    lock_doctor(session, doctor.user_id)
    candidates = range_slots(first, last, start, end, minutes, zone_of(doctor))
    created = insert_slots(session, doctor=doctor, candidates=candidates, now=now)
    record_change(
        session, actor, "availability.open_range", now, f"{created} slots {first}..{last}"
    )
    return created


def withdraw_open(
    session: Session,
    *,
    doctor_id: int,
    begin: datetime,
    end: datetime | None,
    source: str | None = None,
) -> int:
    """Stop offering open slots starting in [begin, end): delete them, or close those a past
    (cancelled) visit still refers to. Returns how many were withdrawn."""
    where = [
        col(Slot.doctor_id) == doctor_id,
        col(Slot.status) == SlotStatus.OPEN,
        col(Slot.starts_at) >= begin,
    ]
    if end is not None:
        where.append(col(Slot.starts_at) < end)
    if source is not None:
        where.append(col(Slot.source) == source)
    referenced = col(Slot.id).in_(select(Appointment.slot_id))
    deleted = cast(
        CursorResult[Any], session.execute(delete(Slot).where(*where, ~referenced))
    ).rowcount
    closed = cast(
        CursorResult[Any],
        session.execute(update(Slot).where(*where, referenced).values(status=SlotStatus.CLOSED)),
    ).rowcount
    return int(deleted or 0) + int(closed or 0)


def tidy_past_slots(session: Session, *, now: datetime) -> int:
    """Past open or blocked slots no visit refers to are removed; they offer nothing now."""
    referenced = select(Appointment.slot_id)
    result = session.execute(
        delete(Slot)
        .where(
            col(Slot.ends_at) <= now, col(Slot.status).in_([SlotStatus.OPEN, SlotStatus.BLOCKED])
        )
        .where(col(Slot.id).not_in(referenced))
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _local_range(doctor: DoctorProfile, first: date, last: date) -> Interval:
    zone = zone_of(doctor)
    begin = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return begin, end


def add_time_off(
    session: Session, *, actor: Actor, first: date, last: date, reason: str, now: datetime
) -> int:
    """Block whole days; refused while booked visits fall inside (cancel them first)."""
    doctor = require_own_doctor(session, actor, action="availability.time_off", now=now)
    _check_dates(first, last, today_of(doctor, now))
    begin, end = _local_range(doctor, first, last)
    lock_doctor(session, doctor.user_id)
    booked = session.exec(
        select(func.count())
        .select_from(Appointment)
        .where(
            Appointment.doctor_id == doctor.user_id,
            Appointment.status == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) < end,
            col(Appointment.ends_at) > begin,
        )
    ).one()
    if booked:
        raise DomainError(
            f"{booked} booked visit(s) fall in that time. Cancel them with a reason first "
            "(Cancel a range), then add the time off."
        )
    session.add(
        TimeOff(
            doctor_id=doctor.user_id,
            starts_at=begin,
            ends_at=end,
            reason=reason.strip()[:200],
            created_at=now,
        )
    )
    blocked = cast(
        CursorResult[Any],
        session.execute(
            update(Slot)
            .where(
                col(Slot.doctor_id) == doctor.user_id,
                col(Slot.status) == SlotStatus.OPEN,
                col(Slot.starts_at) < end,
                col(Slot.ends_at) > begin,
            )
            .values(status=SlotStatus.BLOCKED)
        ),
    ).rowcount
    record_change(
        session, actor, "availability.time_off", now, f"{first}..{last}, {blocked} slots blocked"
    )
    return int(blocked or 0)


@dataclass(frozen=True)
class RangeImpact:
    open_times: int
    booked_visits: int


def range_impact(
    session: Session, *, actor: Actor, first: date, last: date, now: datetime
) -> RangeImpact:
    """What withdrawing these days would do: open times removed, booked visits cancelled
    (asked before `cancel_range`, so the doctor confirms knowing it)."""
    doctor = require_own_doctor(session, actor, action="availability.cancel_range", now=now)
    if last < first:
        raise ValidationFailed({"cancel_to": "The end date is before the start date."})
    begin, end = _local_range(doctor, first, last)
    begin = max(begin, now)
    in_range = (col(Slot.starts_at) >= begin, col(Slot.starts_at) < end)
    open_times = session.exec(
        select(func.count()).where(
            col(Slot.doctor_id) == doctor.user_id, col(Slot.status) == SlotStatus.OPEN, *in_range
        )
    ).one()
    booked = session.exec(
        select(func.count()).where(
            col(Appointment.doctor_id) == doctor.user_id,
            col(Appointment.status) == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) >= begin,
            col(Appointment.starts_at) < end,
        )
    ).one()
    return RangeImpact(open_times=int(open_times), booked_visits=int(booked))


def cancel_range(
    session: Session,
    *,
    actor: Actor,
    first: date,
    last: date,
    reason: str,
    now: datetime,
    settings: Settings,
) -> tuple[int, int]:
    """Withdraw a range: open slots disappear, booked patients are cancelled and told why.

    Returns (open slots removed, visits cancelled). Visit records stay, status cancelled.
    """
    doctor = require_own_doctor(session, actor, action="availability.cancel_range", now=now)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Give a reason: booked patients will read it."})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Reason must be at most 1000 characters."})
    if last < first:
        raise ValidationFailed({"to_date": "The end date is before the start date."})
    begin, end = _local_range(doctor, first, last)
    begin = max(begin, now)
    lock_doctor(session, doctor.user_id)
    removed = withdraw_open(session, doctor_id=doctor.user_id, begin=begin, end=end)
    visits = session.exec(
        select(Appointment).where(
            Appointment.doctor_id == doctor.user_id,
            Appointment.status == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) >= begin,
            col(Appointment.starts_at) < end,
        )
    ).all()
    for visit in visits:
        visit.status, visit.cancelled_at, visit.cancelled_by_id = (
            AppointmentStatus.CANCELLED,
            now,
            actor.user_id,
        )
        visit.cancel_reason, visit.updated_at = reason, now
        session.add(visit)
        session.execute(
            update(Slot).where(col(Slot.id) == visit.slot_id).values(status=SlotStatus.CLOSED)
        )
        # The patient is told why; the doctor, who cancelled the whole range, is not.
        notifications.visit_cancelled(
            session,
            appt=visit,
            settings=settings,
            now=now,
            by_doctor=True,
            reason=reason,
            tell_doctor=False,
        )
        audit.record(
            session,
            action="appointment.cancel",
            outcome=Outcome.SUCCESS,
            now=now,
            actor_id=actor.user_id,
            object_type="appointment",
            object_id=visit.id,
            subject_id=visit.patient_id,
            detail="range cancelled by doctor",
        )
    record_change(
        session,
        actor,
        "availability.cancel_range",
        now,
        f"{first}..{last}: {removed} open slots removed, {len(visits)} visits cancelled",
    )
    return int(removed or 0), len(visits)


@dataclass(frozen=True)
class WindowView:
    weekday: int
    start: time
    end: time
    slot_minutes: int
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class Overview:
    """What the availability page shows: the doctor's zone, coming days, weekly windows."""

    time_zone: str
    days: tuple[DaySummary, ...]
    windows: tuple[WindowView, ...]


def overview(session: Session, *, actor: Actor, days: int, now: datetime) -> Overview:
    """Open and booked counts per local day from today, and the weekly template."""
    doctor = require_own_doctor(session, actor, action="availability.read", now=now)
    zone = zone_of(doctor)
    begin, end = _local_range(
        doctor, today_of(doctor, now), today_of(doctor, now) + timedelta(days=days - 1)
    )
    rows = session.exec(
        select(Slot.starts_at, Slot.status).where(
            Slot.doctor_id == doctor.user_id,
            col(Slot.starts_at) >= max(begin, now),
            col(Slot.starts_at) < end,
            col(Slot.status).in_([SlotStatus.OPEN, SlotStatus.BOOKED]),
        )
    ).all()
    counts: dict[date, list[int]] = {}
    for starts_at, status in rows:
        c = counts.setdefault(starts_at.astimezone(zone).date(), [0, 0])
        c[0 if status == SlotStatus.OPEN else 1] += 1
    windows = session.exec(
        select(WeeklyWindow)
        .where(WeeklyWindow.doctor_id == doctor.user_id)
        .order_by(col(WeeklyWindow.weekday), col(WeeklyWindow.start_time))
    ).all()
    return Overview(
        time_zone=doctor.time_zone,
        days=tuple(DaySummary(day=d, open=o, booked=b) for d, (o, b) in sorted(counts.items())),
        windows=tuple(
            WindowView(
                weekday=w.weekday,
                start=w.start_time,
                end=w.end_time,
                slot_minutes=w.slot_minutes,
                valid_from=w.valid_from,
                valid_to=w.valid_to,
            )
            for w in windows
        ),
    )


def record_change(session: Session, actor: Actor, action: str, now: datetime, detail: str) -> None:
    audit.record(
        session,
        action=action,
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="doctor",
        object_id=actor.user_id,
        detail=detail,
    )
