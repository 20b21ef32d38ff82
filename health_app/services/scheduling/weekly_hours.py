"""A doctor's weekly hours: a template of windows per weekday that fills the rolling
horizon with open times, and replacing it without surprises (the old hours go on until the
new ones begin, and the doctor sees the change before saving it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import DoctorProfile, Slot, SlotSource, SlotStatus, WeeklyWindow
from health_app.services.access import require_own_doctor
from health_app.services.errors import ValidationFailed
from health_app.services.scheduling.availability import (
    check_length,
    insert_slots,
    record_change,
    today_of,
    withdraw_open,
    zone_of,
)
from health_app.services.scheduling.guard import lock_doctor
from health_app.services.scheduling.time_rules import (
    MAX_HORIZON_DAYS,
    Interval,
    Window,
    template_slots,
)
from health_app.services.views import Actor


@dataclass(frozen=True)
class WindowInput:
    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class DayChange:
    day: date
    added: int
    removed: int


@dataclass(frozen=True)
class TemplateChange:
    """What saving a weekly template would do to the open times, day by day."""

    days: tuple[DayChange, ...]
    added: int
    removed: int


def _check_template(
    windows: list[WindowInput], valid_from: date, valid_to: date | None, today: date
) -> None:
    errors: dict[str, str] = {}
    if not windows:
        errors["windows"] = "Add at least one window."
    for w in windows:
        if not 0 <= w.weekday <= 6:
            errors["windows"] = "Choose days of the week from the list."
        elif w.end <= w.start:
            errors["windows"] = "Each window must end after it starts."
    by_day: dict[int, list[WindowInput]] = {}
    for w in windows:
        by_day.setdefault(w.weekday, []).append(w)
    for day_windows in by_day.values():
        ordered = sorted(day_windows, key=lambda w: w.start)
        if any(a.end > b.start for a, b in pairwise(ordered)):
            errors["windows"] = "Windows on the same day must not overlap."
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = "The end date is before the start date."
    if valid_to is not None and valid_to > today + timedelta(days=MAX_HORIZON_DAYS - 1):
        errors["valid_to"] = "A template can reach at most one year ahead."
    if errors:
        raise ValidationFailed(errors)


def _replace_template(
    session: Session,
    *,
    doctor: DoctorProfile,
    windows: list[WindowInput],
    slot_minutes: int,
    valid_from: date,
    valid_to: date | None,
    settings: Settings,
    now: datetime,
) -> int:
    """The new hours apply from `valid_from`: before it the old hours go on producing their
    times; from it, the old template's open times give way. Booked visits and times opened
    by hand are never touched. Returns the slots created."""
    lock_doctor(session, doctor.user_id)
    starts = max(now, datetime.combine(valid_from, time(0), tzinfo=zone_of(doctor)))
    old_rows = session.exec(
        select(WeeklyWindow).where(WeeklyWindow.doctor_id == doctor.user_id)
    ).all()
    for row in old_rows:
        if row.valid_from >= valid_from:
            session.delete(row)  # it had not begun when the new hours do: replaced whole
        elif row.valid_to is None or row.valid_to >= valid_from:
            row.valid_to = valid_from - timedelta(days=1)
            session.add(row)
    withdraw_open(
        session, doctor_id=doctor.user_id, begin=starts, end=None, source=SlotSource.TEMPLATE
    )
    session.add_all(
        WeeklyWindow(
            doctor_id=doctor.user_id,
            weekday=w.weekday,
            start_time=w.start,
            end_time=w.end,
            slot_minutes=slot_minutes,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        for w in windows
    )
    session.flush()
    return fill_horizon(session, doctor=doctor, days=settings.availability_horizon_days, now=now)


def _open_template_times(session: Session, doctor_id: int, now: datetime) -> set[datetime]:
    return set(
        session.exec(
            select(Slot.starts_at).where(
                col(Slot.doctor_id) == doctor_id,
                col(Slot.status) == SlotStatus.OPEN,
                col(Slot.source) == SlotSource.TEMPLATE,
                col(Slot.starts_at) >= now,
            )
        ).all()
    )


def preview_weekly_template(
    session: Session,
    *,
    actor: Actor,
    windows: list[WindowInput],
    slot_minutes: int,
    valid_from: date,
    valid_to: date | None,
    settings: Settings,
    now: datetime,
) -> TemplateChange:
    """What `save_weekly_template` would add and remove, per day, without changing
    anything: the change is made inside a savepoint, measured, and rolled back."""
    doctor = require_own_doctor(session, actor, action="availability.preview_template", now=now)
    check_length(slot_minutes)
    _check_template(windows, valid_from, valid_to, today_of(doctor, now))
    before = _open_template_times(session, doctor.user_id, now)
    savepoint = session.begin_nested()
    try:
        _replace_template(
            session,
            doctor=doctor,
            windows=windows,
            slot_minutes=slot_minutes,
            valid_from=valid_from,
            valid_to=valid_to,
            settings=settings,
            now=now,
        )
        after = _open_template_times(session, doctor.user_id, now)
    finally:
        savepoint.rollback()
    zone = zone_of(doctor)
    counts: dict[date, list[int]] = {}
    for starts_at, index in [(t, 0) for t in after - before] + [(t, 1) for t in before - after]:
        counts.setdefault(_as_utc(starts_at).astimezone(zone).date(), [0, 0])[index] += 1
    days = tuple(DayChange(d, a, r) for d, (a, r) in sorted(counts.items()))
    return TemplateChange(
        days=days, added=sum(d.added for d in days), removed=sum(d.removed for d in days)
    )


def save_weekly_template(
    session: Session,
    *,
    actor: Actor,
    windows: list[WindowInput],
    slot_minutes: int,
    valid_from: date,
    valid_to: date | None,
    settings: Settings,
    now: datetime,
) -> int:
    """New weekly hours from `valid_from` (the old ones go on until then) and the rolling
    horizon filled; returns slots created."""
    doctor = require_own_doctor(session, actor, action="availability.save_template", now=now)
    check_length(slot_minutes)
    _check_template(windows, valid_from, valid_to, today_of(doctor, now))
    created = _replace_template(
        session,
        doctor=doctor,
        windows=windows,
        slot_minutes=slot_minutes,
        valid_from=valid_from,
        valid_to=valid_to,
        settings=settings,
        now=now,
    )
    record_change(
        session,
        actor,
        "availability.save_template",
        now,
        f"{len(windows)} windows, {created} slots",
    )
    return created


def _as_utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def fill_horizon(session: Session, *, doctor: DoctorProfile, days: int, now: datetime) -> int:
    """Generate template slots from today to today + days (caller holds the doctor lock)."""
    today = today_of(doctor, now)
    rows = session.exec(select(WeeklyWindow).where(WeeklyWindow.doctor_id == doctor.user_id)).all()
    candidates: list[Interval] = []
    for row in rows:
        first = max(today, row.valid_from)
        last = min(today + timedelta(days=days), row.valid_to or date.max)
        if first <= last:
            window = Window(row.weekday, row.start_time, row.end_time, row.slot_minutes)
            candidates.extend(template_slots([window], first, last, zone_of(doctor)))
    return insert_slots(
        session, doctor=doctor, candidates=candidates, now=now, source=SlotSource.TEMPLATE
    )


def extend_all_templates(session: Session, *, settings: Settings, now: datetime) -> int:
    """The scheduled job: keep every template's horizon filled."""
    doctor_ids = session.exec(select(WeeklyWindow.doctor_id).distinct()).all()
    created = 0
    for doctor_id in doctor_ids:
        doctor = session.get(DoctorProfile, doctor_id)
        if doctor is not None:
            lock_doctor(session, doctor_id)
            created += fill_horizon(
                session, doctor=doctor, days=settings.availability_horizon_days, now=now
            )
    return created
