"""The doctor's dashboard: the day's visits, what comes next, slot counters and weekly load.

Every read here is a statement built once with bind parameters (see visit_lists.py for
why the dashboard's reads are counted in statements): the doctor's facts in one row, the
slot figures (counters and the weekly chart) in one statement, and the visit lists in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    case,
    exists,
    func,
    literal,
    union_all,
)
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from health_app.db import planned_each_time, reads_only
from health_app.driver_reads import read_first
from health_app.models import (
    AppointmentStatus,
    DoctorProfile,
    MicrosoftConnection,
    Role,
    Slot,
    SlotStatus,
    User,
    WeeklyWindow,
)
from health_app.services import audit
from health_app.services.access import require_own_doctor
from health_app.services.errors import ValidationFailed
from health_app.services.scheduling import visit_lists
from health_app.services.scheduling.availability import open_range
from health_app.services.scheduling.booking import AppointmentView
from health_app.services.scheduling.visit_lists import VisitList
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
CHART_WEEKS = 8
UPCOMING_LIMIT = 20
PATIENT_QUERY_MAX = 100
# The one-click "open tomorrow" quick action: a usual clinic day in 15-minute slots.
QUICK_DAY_START, QUICK_DAY_END, QUICK_SLOT_MINUTES = time(9), time(17), 15

_SHOWN_SLOTS = (SlotStatus.OPEN, SlotStatus.BOOKED)


# --- the doctor's own facts ------------------------------------------------------------


@dataclass(frozen=True)
class Checklist:
    """A new doctor's first steps, each done or not yet."""

    weekly_hours: bool  # weekly hours saved
    free_time: bool  # some time open to patients (doctors with none are not listed)
    photo: bool  # a photo on their card

    @property
    def done(self) -> bool:
        return self.weekly_hours and self.free_time and self.photo


@dataclass(frozen=True)
class DoctorFacts:
    time_zone: str
    checklist: Checklist
    # Their Microsoft 365 connection's status; "" when they never connected.
    microsoft_status: str


def _doctor_facts_statement() -> Select[*tuple[Any, ...]]:
    me = col(DoctorProfile.user_id)
    return sql_select(
        col(DoctorProfile.time_zone),
        col(DoctorProfile.photo_blob),
        exists().where(col(WeeklyWindow.doctor_id) == me).label("has_hours"),
        exists()
        .where(
            col(Slot.doctor_id) == me,
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.starts_at) > bindparam("now"),
        )
        .label("has_free"),
        sql_select(col(MicrosoftConnection.status))
        .where(col(MicrosoftConnection.user_id) == me)
        .scalar_subquery()
        .label("microsoft_status"),
    ).where(me == bindparam("me", type_=Integer))


_DOCTOR_FACTS = _doctor_facts_statement()


def doctor_facts(
    session: Session, *, actor: Actor, now: datetime, action: str = "dashboard.read"
) -> DoctorFacts:
    """The actor's own doctor facts in one row; patients, admins and strangers are refused
    (and audited) as `require_own_doctor` refuses them."""
    found = (
        read_first(session, _DOCTOR_FACTS, {"me": actor.user_id, "now": now})
        if actor.role == Role.DOCTOR
        else None
    )
    if found is None:
        raise audit.deny(session, actor=actor, action=action, now=now)
    zone, photo, hours, free, microsoft = found
    return DoctorFacts(
        time_zone=zone,
        checklist=Checklist(weekly_hours=bool(hours), free_time=bool(free), photo=bool(photo)),
        microsoft_status=microsoft or "",
    )


@reads_only
def doctor_checklist(session: Session, *, actor: Actor, now: datetime) -> Checklist:
    return doctor_facts(session, actor=actor, now=now).checklist


# --- slot figures: the counters and the weekly chart -----------------------------------


def _slot_counts(
    bucket: ColumnElement[int], begin: str, end: str, by_bucket: bool
) -> Select[*tuple[Any, ...]]:
    """Published slots of the doctor (`doctor_id`) starting in [`begin`, `end`), counted
    by state (and by `bucket` when `by_bucket`)."""
    starts_at = col(Slot.starts_at)
    status = col(Slot.status)
    return (
        sql_select(bucket.label("bucket"), status, func.count())
        .where(
            col(Slot.doctor_id) == bindparam("doctor_id", type_=Integer),
            starts_at >= bindparam(begin),
            starts_at < bindparam(end),
            status.in_(_SHOWN_SLOTS),
        )
        .group_by(*((bucket, status) if by_bucket else (status,)))
    )


def _week(w: int) -> str:
    return f"week_end_{w}"


# The week a slot is in, bucketed in SQL with a CASE over local-midnight boundaries:
# portable across SQLite and PostgreSQL and right across daylight-saving changes.
_WEEK_BUCKET = case(
    *[(col(Slot.starts_at) < bindparam(_week(w)), w) for w in range(CHART_WEEKS)],
    else_=CHART_WEEKS,
)
# -1: the counters' range, beside the chart's weeks 0..CHART_WEEKS-1.
_COUNTERS = _slot_counts(literal(-1, Integer), "count_begin", "count_end", by_bucket=False)
_SLOT_FIGURES = union_all(
    _COUNTERS,
    _slot_counts(_WEEK_BUCKET, "week_start_0", _week(CHART_WEEKS - 1), by_bucket=True),
)


def _counter_params(first: date, last: date, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "count_begin": datetime.combine(first, time(0), tzinfo=zone),
        "count_end": datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    }


def _counters(first: date, last: date, counts: dict[str, int]) -> Counters:
    opened, booked = counts.get(SlotStatus.OPEN, 0), counts.get(SlotStatus.BOOKED, 0)
    return Counters(first=first, last=last, all=opened + booked, open=opened, booked=booked)


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
    params = {"doctor_id": doctor.user_id, **_counter_params(first, last, zone)}
    counts = {status: n for _, status, n in session.execute(_COUNTERS, params)}
    return _counters(first, last, counts)


@dataclass(frozen=True)
class WeekLoad:
    """Published slots of one week (Monday to Sunday, local) by state."""

    first_day: date
    open: int
    booked: int


def slot_figures(
    session: Session, *, doctor_id: int, today: date, zone: ZoneInfo
) -> tuple[Counters, tuple[WeekLoad, ...]]:
    """The counters for COUNTER_DAYS days from today and the chart's CHART_WEEKS weeks
    from this Monday, in one statement."""
    first, last = today, today + timedelta(days=COUNTER_DAYS - 1)
    monday = today - timedelta(days=today.weekday())
    starts = [monday + timedelta(weeks=w) for w in range(CHART_WEEKS + 1)]
    bounds = [datetime.combine(d, time(0), tzinfo=zone) for d in starts]
    params: dict[str, Any] = {_week(w): bounds[w + 1] for w in range(CHART_WEEKS)}
    params.update(doctor_id=doctor_id, week_start_0=bounds[0], **_counter_params(first, last, zone))
    counts: dict[tuple[int, str], int] = {
        (int(bucket), status): n for bucket, status, n in session.execute(_SLOT_FIGURES, params)
    }
    weeks = tuple(
        WeekLoad(
            first_day=starts[w],
            open=counts.get((w, SlotStatus.OPEN), 0),
            booked=counts.get((w, SlotStatus.BOOKED), 0),
        )
        for w in range(CHART_WEEKS)
    )
    in_range = {status: n for (bucket, status), n in counts.items() if bucket == -1}
    return _counters(first, last, in_range), weeks


# --- the board: the day's visits and what is booked after it ---------------------------


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


@dataclass(frozen=True)
class BoardRequest:
    """What the doctor asked to see, checked: the day shown and the patient filter."""

    today: date
    day: date
    # True when the doctor chose the day (then nothing after it is listed).
    day_chosen: bool
    patient_query: str


def board_request(
    *, day: date | None, patient_query: str, zone: ZoneInfo, now: datetime
) -> BoardRequest:
    today = now.astimezone(zone).date()
    errors: dict[str, str] = {}
    if day is not None and abs((day - today).days) > MAX_RANGE_DAYS:
        errors["day"] = "Choose a day within a year of today."
    query = ""
    try:
        query = clean_text(
            patient_query, label="Patient name", max_len=PATIENT_QUERY_MAX, required=False
        )
    except FieldError as exc:
        errors["patient"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    return BoardRequest(
        today=today, day=day or today, day_chosen=day is not None, patient_query=query
    )


def _patient_matches() -> ColumnElement[bool]:
    """Visits of patients whose name holds the query (binds `pattern`, a LIKE pattern).

    A semi-join on the matching people keeps the visit scans on their indexes."""
    full_name = func.lower(col(User.first_name) + " " + col(User.last_name))
    known_as = func.lower(col(User.preferred_name) + " " + col(User.last_name))
    pattern = bindparam("pattern")
    matching = sql_select(col(User.id)).where(
        col(User.role) == Role.PATIENT,
        full_name.like(pattern, escape="\\") | known_as.like(pattern, escape="\\"),
    )
    return visit_lists.column("patient_id").in_(matching)


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _doctor_list(name: str, *, filtered: bool, today_shown: bool) -> VisitList:
    """One list of the doctor's board, over the doctor's own visits (binds `me`, `now`,
    `day_begin`, `day_end`, `day_before` and, when filtered, `pattern`)."""
    if name in ("past", "cancelled"):  # the dashboard's own lists: never filtered
        return visit_lists.own(Role.DOCTOR, name)
    starts_at, status = visit_lists.column("starts_at"), visit_lists.column("status")
    mine = visit_lists.mine(Role.DOCTOR)
    if filtered:
        mine = mine & _patient_matches()
    if name == "later":
        later = mine & (starts_at >= bindparam("day_end")) & (status == AppointmentStatus.BOOKED)
        return VisitList(later, limit=UPCOMING_LIMIT, counted=True)
    on_day = starts_at >= bindparam("day_begin")
    if today_shown:
        # A visit that began before midnight and is still running belongs to today too.
        on_day = on_day | (
            (visit_lists.column("ends_at") > bindparam("now"))
            & (status == AppointmentStatus.BOOKED)
        )
    day = (
        mine
        & on_day
        # Visits last hours, not days: this bound keeps the scan on the index range.
        & (starts_at >= bindparam("day_before"))
        & (starts_at < bindparam("day_end"))
        & (status != AppointmentStatus.CANCELLED)
    )
    return VisitList(day)


@lru_cache(maxsize=32)
def _board_lists(
    names: tuple[str, ...], filtered: bool, today_shown: bool
) -> tuple[dict[str, VisitList], Select[*tuple[Any, ...]]]:
    lists = {n: _doctor_list(n, filtered=filtered, today_shown=today_shown) for n in names}
    return lists, visit_lists.statement(tuple(lists.values()))


def read_board(
    session: Session,
    *,
    doctor_id: int,
    asked: BoardRequest,
    zone: ZoneInfo,
    now: datetime,
    also: tuple[str, ...] = (),
) -> dict[str, visit_lists.ReadList]:
    """The board's lists ("day", and "later" unless a day was chosen) and `also` ("past",
    "cancelled"), in one statement."""
    names = ("day",) if asked.day_chosen else ("day", "later")
    lists, stmt = _board_lists(names + also, bool(asked.patient_query), asked.day == asked.today)
    day_begin = datetime.combine(asked.day, time(0), tzinfo=zone)
    params: dict[str, Any] = {
        "me": doctor_id,
        "now": now,
        "day_begin": day_begin,
        "day_before": day_begin - timedelta(days=1),
        "day_end": datetime.combine(asked.day + timedelta(days=1), time(0), tzinfo=zone),
    }
    if asked.patient_query:
        params["pattern"] = _like_pattern(asked.patient_query)
        # How many patients a name matches decides the plan ("a": most of them, a full
        # name: one). A statement prepared on the connection would settle on one generic
        # plan, 50 % slower for the broad names; filtering is rare enough to plan each time.
        with planned_each_time(session):
            return visit_lists.read(session, stmt, lists, params)
    return visit_lists.read(session, stmt, lists, params)


def board(
    asked: BoardRequest, lists: dict[str, visit_lists.ReadList], weeks: tuple[WeekLoad, ...]
) -> DoctorDashboard:
    later = lists.get("later")
    return DoctorDashboard(
        today=asked.today,
        day=asked.day,
        patient_query=asked.patient_query,
        day_visits=lists["day"].visits,
        upcoming=later.visits if later else (),
        upcoming_total=later.total if later else 0,
        weeks=weeks,
    )


@reads_only
def doctor_dashboard(
    session: Session,
    *,
    actor: Actor,
    day: date | None,
    patient_query: str,
    now: datetime,
) -> DoctorDashboard:
    """The doctor's day (today unless filtered), then what is booked after it, and the chart.
    Lists hold names and visit facts only: identifiers stay on the visit details page.
    """
    facts = doctor_facts(session, actor=actor, now=now)
    zone = ZoneInfo(facts.time_zone)
    asked = board_request(day=day, patient_query=patient_query, zone=zone, now=now)
    lists = read_board(session, doctor_id=actor.user_id, asked=asked, zone=zone, now=now)
    _, weeks = slot_figures(session, doctor_id=actor.user_id, today=asked.today, zone=zone)
    return board(asked, lists, weeks)


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
