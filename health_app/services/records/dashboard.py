"""The doctor's dashboard: the day's visits, what comes next, slot counters and weekly load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, case, func
from sqlmodel import Session, col, select

from health_app.db import reads_only
from health_app.models import (
    Appointment,
    AppointmentStatus,
    Role,
    Slot,
    SlotStatus,
    User,
    WeeklyWindow,
)
from health_app.services.access import require_own_doctor
from health_app.services.errors import ValidationFailed
from health_app.services.scheduling.availability import open_range
from health_app.services.scheduling.booking import AppointmentView, appointment_views
from health_app.services.validation import FieldError, clean_text
from health_app.services.views import Actor

MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Counters:
    first: date
    last: date
    all: int
    open: int
    booked: int


COUNTER_DAYS = 7


@reads_only
def slot_counters(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    first: date | None = None,
    last: date | None = None,
) -> Counters:
    """Published (open + booked), open and booked slots starting in [first, last] (the
    doctor's local days); from today for COUNTER_DAYS days when not given."""
    doctor = require_own_doctor(session, actor, action="dashboard.read", now=now)
    zone = ZoneInfo(doctor.time_zone)
    first = first or now.astimezone(zone).date()
    last = last or first + timedelta(days=COUNTER_DAYS - 1)
    if last < first:
        raise ValidationFailed({"last": "The end date is before the start date."})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValidationFailed({"last": "Choose at most one year."})
    begin = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    counts = dict(
        session.exec(
            select(Slot.status, func.count())
            .where(
                Slot.doctor_id == doctor.user_id,
                col(Slot.starts_at) >= begin,
                col(Slot.starts_at) < end,
                col(Slot.status).in_([SlotStatus.OPEN, SlotStatus.BOOKED]),
            )
            .group_by(col(Slot.status))
        ).all()
    )
    opened, booked = counts.get(SlotStatus.OPEN, 0), counts.get(SlotStatus.BOOKED, 0)
    return Counters(first=first, last=last, all=opened + booked, open=opened, booked=booked)


CHART_WEEKS = 8
UPCOMING_LIMIT = 20
PATIENT_QUERY_MAX = 100
# The one-click "open tomorrow" quick action: a usual clinic day in 15-minute slots.
QUICK_DAY_START, QUICK_DAY_END, QUICK_SLOT_MINUTES = time(9), time(17), 15


@dataclass(frozen=True)
class WeekLoad:
    """Published slots of one week (Monday to Sunday, local) by state."""

    first_day: date
    open: int
    booked: int


@dataclass(frozen=True)
class DoctorDashboard:
    today: date
    # The day shown first: today, or the day the doctor filtered on.
    day: date
    patient_query: str
    day_visits: tuple[AppointmentView, ...]
    # Booked visits after `day` (empty when filtering on a day), soonest first.
    upcoming: tuple[AppointmentView, ...]
    upcoming_total: int
    weeks: tuple[WeekLoad, ...]


@reads_only
def doctor_dashboard(
    session: Session,
    *,
    actor: Actor,
    day: date | None,
    patient_query: str,
    now: datetime,
    limit: int = UPCOMING_LIMIT,
) -> DoctorDashboard:
    """The doctor's day (today unless filtered), then what is booked after it, and the chart.

    Lists hold names and visit facts only: identifiers stay on the visit details page.
    """
    doctor = require_own_doctor(session, actor, action="dashboard.read", now=now)
    zone = ZoneInfo(doctor.time_zone)
    today = now.astimezone(zone).date()
    errors: dict[str, str] = {}
    if day is not None and abs((day - today).days) > MAX_RANGE_DAYS:
        errors["day"] = "Choose a day within a year of today."
    try:
        query = clean_text(
            patient_query, label="Patient name", max_len=PATIENT_QUERY_MAX, required=False
        )
    except FieldError as exc:
        errors["patient"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    shown = day or today
    day_begin = datetime.combine(shown, time(0), tzinfo=zone)
    day_end = datetime.combine(shown + timedelta(days=1), time(0), tzinfo=zone)

    mine = select(Appointment).where(Appointment.doctor_id == doctor.user_id)
    if query:
        full_name = func.lower(User.first_name + " " + User.last_name)
        known_as = func.lower(User.preferred_name + " " + User.last_name)
        needle = query.lower()
        # A semi-join on the matching people keeps the visit scans on their indexes.
        matching = select(User.id).where(
            User.role == Role.PATIENT,
            full_name.contains(needle, autoescape=True)
            | known_as.contains(needle, autoescape=True),
        )
        mine = mine.where(col(Appointment.patient_id).in_(matching))
    on_day = col(Appointment.starts_at) >= day_begin
    if shown == today:
        # A visit that began before midnight and is still running belongs to today too.
        on_day = on_day | (
            (col(Appointment.ends_at) > now) & (Appointment.status == AppointmentStatus.BOOKED)
        )
    day_rows = session.exec(
        mine.where(
            on_day,
            # Visits last hours, not days: this bound keeps the scan on the index range.
            col(Appointment.starts_at) >= day_begin - timedelta(days=1),
            col(Appointment.starts_at) < day_end,
            Appointment.status != AppointmentStatus.CANCELLED,
        ).order_by(col(Appointment.starts_at), col(Appointment.id))
    ).all()
    upcoming_rows: list[Appointment] = []
    upcoming_total = 0
    if day is None:
        later = mine.where(
            col(Appointment.starts_at) >= day_end,
            Appointment.status == AppointmentStatus.BOOKED,
        )
        upcoming_total = session.exec(select(func.count()).select_from(later.subquery())).one()
        upcoming_rows = list(
            session.exec(
                later.order_by(col(Appointment.starts_at), col(Appointment.id)).limit(limit)
            ).all()
        )
    views = appointment_views(session, [*day_rows, *upcoming_rows])
    return DoctorDashboard(
        today=today,
        day=shown,
        patient_query=query,
        day_visits=tuple(views[: len(day_rows)]),
        upcoming=tuple(views[len(day_rows) :]),
        upcoming_total=upcoming_total,
        weeks=_week_loads(session, doctor_id=doctor.user_id, today=today, zone=zone),
    )


def _week_load_statement() -> Select[*tuple[Any, ...]]:
    """Built once: a dashboard load only binds the doctor and the week boundaries."""
    starts_at = col(Slot.starts_at)
    week = case(
        *[(starts_at < bindparam(f"week_end_{w}"), w) for w in range(CHART_WEEKS)],
        else_=CHART_WEEKS,
    )
    return (
        select(week, Slot.status, func.count())
        .where(
            Slot.doctor_id == bindparam("doctor_id"),
            starts_at >= bindparam("week_start_0"),
            starts_at < bindparam(f"week_end_{CHART_WEEKS - 1}"),
            col(Slot.status).in_([SlotStatus.OPEN, SlotStatus.BOOKED]),
        )
        .group_by(week, col(Slot.status))
    )


_WEEK_LOADS = _week_load_statement()


def _week_loads(
    session: Session, *, doctor_id: int, today: date, zone: ZoneInfo
) -> tuple[WeekLoad, ...]:
    """Open and booked slots per week for CHART_WEEKS weeks from this Monday: one query.

    Weeks are bucketed in SQL with a CASE over local-midnight boundaries, which is portable
    across SQLite and PostgreSQL and stays right across daylight-saving changes.
    """
    monday = today - timedelta(days=today.weekday())
    starts = [monday + timedelta(weeks=w) for w in range(CHART_WEEKS + 1)]
    bounds = [datetime.combine(d, time(0), tzinfo=zone) for d in starts]
    params: dict[str, Any] = {f"week_end_{w}": bounds[w + 1] for w in range(CHART_WEEKS)}
    params.update(doctor_id=doctor_id, week_start_0=bounds[0])
    counts = {(int(w), status): n for w, status, n in session.execute(_WEEK_LOADS, params).all()}
    return tuple(
        WeekLoad(
            first_day=starts[w],
            open=counts.get((w, SlotStatus.OPEN), 0),
            booked=counts.get((w, SlotStatus.BOOKED), 0),
        )
        for w in range(CHART_WEEKS)
    )


def open_tomorrow(session: Session, *, actor: Actor, now: datetime) -> int:
    """The dashboard's quick action: tomorrow's usual clinic day; returns slots created."""
    doctor = require_own_doctor(session, actor, action="availability.open_range", now=now)
    tomorrow = now.astimezone(ZoneInfo(doctor.time_zone)).date() + timedelta(days=1)
    return open_range(
        session,
        actor=actor,
        first=tomorrow,
        last=tomorrow,
        start=QUICK_DAY_START,
        end=QUICK_DAY_END,
        minutes=QUICK_SLOT_MINUTES,
        now=now,
    )


@dataclass(frozen=True)
class Checklist:
    """A new doctor's first steps, each done or not yet."""

    weekly_hours: bool  # weekly hours saved
    free_time: bool  # some time open to patients (doctors with none are not listed)
    photo: bool  # a photo on their card

    @property
    def done(self) -> bool:
        return self.weekly_hours and self.free_time and self.photo


@reads_only
def doctor_checklist(session: Session, *, actor: Actor, now: datetime) -> Checklist:
    doctor = require_own_doctor(session, actor, action="dashboard.read", now=now)
    has_hours = session.exec(
        select(func.count()).where(WeeklyWindow.doctor_id == doctor.user_id)
    ).one()
    has_free = session.exec(
        select(func.count()).where(
            col(Slot.doctor_id) == doctor.user_id,
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.starts_at) > now,
        )
    ).one()
    return Checklist(
        weekly_hours=has_hours > 0, free_time=has_free > 0, photo=bool(doctor.photo_blob)
    )
