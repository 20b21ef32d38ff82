"""Finding a doctor and their free time. Only approved, active doctors are ever shown."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from health_app.config import Settings
from health_app.db import reads_only, require_id
from health_app.driver_reads import read_rows
from health_app.models import (
    ApprovalStatus,
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    Slot,
    SlotStatus,
    User,
)
from health_app.services.catalogue import consultation_types, languages
from health_app.services.errors import NotFound
from health_app.services.people import Named, display_name
from health_app.services.views import Page

PAGE_SIZE = 10
KM_PER_DEGREE = 111.32  # of latitude, and of longitude at the equator
WITHIN_KM = (0, 2, 5, 10, 25, 50)
SEARCH_HORIZON = timedelta(days=90)


# "When" filters: a free time today, or by the end of this week (the clinic's days).
WITHIN = ("", "today", "week")


@dataclass(frozen=True)
class DoctorQuery:
    name: str = ""
    specialty: str = ""
    consultation_type: str = ""
    language: str = ""
    within: str = ""  # one of WITHIN
    on: date | None = None  # a free time on this day (clinic zone); overrides `within`
    # Doctors near a point (the patient's home, a typed place, the browser's location,
    # resolved by `near.resolve_near`): within this many km (0: any distance).
    near: tuple[float, float] | None = None
    within_km: int = 0
    sort: str = "earliest"  # or "nearest" (with a point)


@dataclass(frozen=True)
class FreeSlot:
    slot_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class DoctorCard:
    doctor_id: int
    name: str
    specialty: str
    clinic: str
    time_zone: str
    earliest_free: datetime | None
    # Public asset name of the doctor's photo ("" if none); the storage makes it a URL.
    photo_blob: str = ""
    # The next few free times, to book straight from the search results.
    next_free: tuple[FreeSlot, ...] = ()
    # Kilometres from the point searched near (None without one, or without a location).
    distance_km: float | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class DoctorPublicView:
    doctor_id: int
    name: str
    specialty: str
    qualifications: str
    languages: tuple[str, ...]
    consultation_types: tuple[tuple[str, str], ...]  # (code, label)
    clinic_name: str
    clinic_address: str
    time_zone: str
    photo_blob: str = ""
    latitude: float | None = None
    longitude: float | None = None


NEXT_FREE = 3


def _bookable() -> tuple[ColumnElement[bool], ...]:
    """Doctors patients may find and book: approved, with an active account (joined)."""
    return (
        col(DoctorProfile.approval_status) == ApprovalStatus.APPROVED,
        col(User.deactivated_at).is_(None),
    )


def _bookable_doctors() -> Select[DoctorProfile, User]:
    return (
        select(DoctorProfile, User)
        .join(User, col(User.id) == col(DoctorProfile.user_id))
        .where(*_bookable())
    )


_CARD_COLUMNS = (
    col(DoctorProfile.user_id),
    col(DoctorProfile.specialty),
    col(DoctorProfile.clinic_name),
    col(DoctorProfile.clinic_city),
    col(DoctorProfile.time_zone),
    col(DoctorProfile.photo_blob),
    col(DoctorProfile.latitude),
    col(DoctorProfile.longitude),
    col(User.first_name),
    col(User.preferred_name),
    col(User.last_name),
)


def _is_open() -> ColumnElement[bool]:
    """A slot is open, matched with a constant, not a bound value: a prepared statement's
    generic plan can then use the partial index of open slots (ix_slot_open). With the
    status bound, PostgreSQL's generic plan was a sequential scan, so it planned every
    search and day afresh."""
    return col(Slot.status) == literal_column(f"'{SlotStatus.OPEN.value}'")


def _earliest_subquery(start: Any, horizon: Any):
    """A doctor's earliest free time after `start` and before `horizon` (values or binds)."""
    return (
        select(func.min(Slot.starts_at))
        .where(
            Slot.doctor_id == DoctorProfile.user_id,
            _is_open(),
            col(Slot.starts_at) > start,
            col(Slot.starts_at) < horizon,
        )
        .correlate(DoctorProfile)
        .scalar_subquery()
    )


def _until(within: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The end of today, or of this week (Sunday night), in the clinic's time zone."""
    today = now.astimezone(zone).date()
    last = today if within == "today" else today + timedelta(days=6 - today.weekday())
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


@dataclass(frozen=True)
class _SearchShape:
    """Which filters a search uses: each shape's statements are built once (the values
    are bound), as building and keying the statement anew was a third of a search's
    Python time (py-spy, benchmarks/bench_load.py)."""

    until: bool
    name: bool
    specialty: bool
    consultation_type: bool
    language: bool
    near: bool
    within_km: bool
    nearest: bool


@lru_cache(maxsize=256)  # 2^8 shapes at most
def _search_statements(shape: _SearchShape) -> tuple[Any, Any]:
    """The page of cards (with the number found as a window count) and the count alone.

    Binds `start`, `horizon` and, as the shape says, `until`, `name`, `specialty`,
    `consultation_type`, `language`, `lat`, `lng`, the box (`lat_low`, `lat_high`,
    `lng_low`, `lng_high`) and `within_km`, and `offset`.
    """
    earliest = _earliest_subquery(bindparam("start"), bindparam("horizon")).label("earliest")
    # The card's columns only (not whole profile rows), and the number of doctors found
    # as a window count in the same statement.
    stmt = (
        sa_select(*_CARD_COLUMNS)
        .join(User, col(User.id) == col(DoctorProfile.user_id))
        .where(*_bookable())
    )
    if shape.name:
        like = bindparam("name")
        full = func.lower(User.first_name + " " + User.last_name)
        stmt = stmt.where(
            or_(
                full.like(like),
                func.lower(User.preferred_name).like(like),
                func.lower(User.last_name).like(like),
            )
        )
    if shape.specialty:
        stmt = stmt.where(col(DoctorProfile.specialty) == bindparam("specialty"))
    if shape.consultation_type:
        stmt = stmt.where(
            col(DoctorProfile.user_id).in_(
                select(DoctorConsultationType.doctor_id).where(
                    DoctorConsultationType.code == bindparam("consultation_type")
                )
            )
        )
    if shape.language:
        stmt = stmt.where(
            col(DoctorProfile.user_id).in_(
                select(DoctorLanguage.doctor_id).where(DoctorLanguage.code == bindparam("language"))
            )
        )
    distance: Any = literal(None).label("distance")
    if shape.near:
        distance = func.geo_km(
            bindparam("lat", type_=Float),
            bindparam("lng", type_=Float),
            col(DoctorProfile.latitude),
            col(DoctorProfile.longitude),
        ).label("distance")
        if shape.within_km:
            # A box first (an index range on latitude), then the exact great circle.
            stmt = stmt.where(
                col(DoctorProfile.latitude).between(
                    bindparam("lat_low", type_=Float), bindparam("lat_high", type_=Float)
                ),
                col(DoctorProfile.longitude).between(
                    bindparam("lng_low", type_=Float), bindparam("lng_high", type_=Float)
                ),
            )
    # Each doctor's earliest free time (and distance) worked out once, in a subquery the
    # planner keeps apart (OFFSET 0), then filtered and sorted on: written in the filter
    # and the columns of one statement, PostgreSQL looked every doctor's earliest time up
    # twice (EXPLAIN ANALYZE, the load benchmark's data: every doctor 0.26 -> 0.17 ms).
    found = stmt.add_columns(earliest, distance).offset(0).subquery("found_doctors")
    filtered = sa_select(*found.c).where(found.c.earliest.is_not(None))
    if shape.until:
        filtered = filtered.where(found.c.earliest < bindparam("until"))
    if shape.within_km:
        filtered = filtered.where(found.c.distance <= bindparam("within_km", type_=Float))
    order = [found.c.earliest]
    if shape.nearest:
        order = [found.c.distance.is_(None), found.c.distance, found.c.earliest]
    cards = (
        filtered.add_columns(func.count().over().label("found"))
        .order_by(*order, found.c.last_name, found.c.user_id)
        .offset(bindparam("offset", type_=Integer))
        .limit(PAGE_SIZE)
    )
    return cards, sa_select(func.count()).select_from(filtered.subquery())


@reads_only
def search_doctors(
    session: Session,
    *,
    query: DoctorQuery,
    page: int,
    now: datetime,
    settings: Settings,
) -> Page[DoctorCard]:
    """Doctors with free time, filtered, sorted by their earliest free time, paginated in SQL.
    A doctor with nothing free in the next 90 days is not listed until they open some."""
    page = max(1, page)
    # With a chosen day, "earliest" and the card's next times start from that day.
    start = now
    until: datetime | None = None
    if query.on is not None:
        day_start, until = _day_bounds(query.on, settings.clinic_zone)
        start = max(now, day_start)
    elif query.within in ("today", "week"):
        until = _until(query.within, settings.clinic_zone, now)
    params: dict[str, Any] = {
        "start": start,
        "horizon": start + SEARCH_HORIZON,
        "until": until,
        "name": f"%{query.name.strip().lower()[:100]}%",
        "specialty": query.specialty,
        "consultation_type": query.consultation_type,
        "language": query.language,
        "offset": (page - 1) * PAGE_SIZE,
    }
    near = query.near is not None
    if query.near is not None:
        lat, lng = query.near
        dlat = query.within_km / KM_PER_DEGREE
        dlng = query.within_km / (KM_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
        params.update(
            lat=lat,
            lng=lng,
            lat_low=lat - dlat,
            lat_high=lat + dlat,
            lng_low=lng - dlng,
            lng_high=lng + dlng,
            within_km=query.within_km,
        )
    shape = _SearchShape(
        until=until is not None,
        name=bool(query.name.strip()),
        specialty=bool(query.specialty),
        consultation_type=bool(query.consultation_type),
        language=bool(query.language),
        near=near,
        within_km=near and query.within_km > 0,
        nearest=near and query.sort == "nearest",
    )
    cards, count = _search_statements(shape)
    rows = read_rows(session, cards, params)
    # Past the last page (or nothing found): the count alone.
    total = rows[0].found if rows else read_rows(session, count, params)[0][0]
    upcoming = next_free_slots(session, doctor_ids=[r.user_id for r in rows], now=start)
    items = tuple(
        DoctorCard(
            doctor_id=r.user_id,
            name=f"Dr. {display_name(cast(Named, r))}",
            specialty=r.specialty,
            clinic=f"{r.clinic_name}, {r.clinic_city}",
            time_zone=r.time_zone,
            earliest_free=r.earliest,
            photo_blob=r.photo_blob,
            next_free=upcoming.get(r.user_id, ()),
            distance_km=None if r.distance is None else round(float(r.distance), 1),
            latitude=r.latitude,
            longitude=r.longitude,
        )
        for r in rows
    )
    return Page(items=items, total=total, page=page, page_size=PAGE_SIZE)


def free_slot(session: Session, *, doctor_id: int, slot_id: int, now: datetime) -> FreeSlot | None:
    """One of the doctor's times if it is still free and ahead (a time chosen on the search
    page may have gone since)."""
    slot = session.get(Slot, slot_id)
    if (
        slot is None
        or slot.doctor_id != doctor_id
        or slot.status != SlotStatus.OPEN
        or _utc(slot.starts_at) <= now
    ):
        return None
    return FreeSlot(require_id(slot.id), _utc(slot.starts_at), _utc(slot.ends_at))


@lru_cache(maxsize=64)
def _next_free_statement(doctors: int, count: int) -> Any:
    """Built once per number of doctors (a page holds at most PAGE_SIZE): binds
    `doctor_0`..., `now` and `until`."""
    parts = [
        sa_select(
            sa_select(col(Slot.doctor_id), col(Slot.id), col(Slot.starts_at), col(Slot.ends_at))
            .where(
                col(Slot.doctor_id) == bindparam(f"doctor_{i}", type_=Integer),
                _is_open(),
                col(Slot.starts_at) > bindparam("now"),
                col(Slot.starts_at) < bindparam("until"),
            )
            .order_by(col(Slot.starts_at), col(Slot.id))
            .limit(count)
            .subquery()
        )
        for i in range(doctors)
    ]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def next_free_slots(
    session: Session, *, doctor_ids: list[int], now: datetime, count: int = NEXT_FREE
) -> dict[int, tuple[FreeSlot, ...]]:
    """The next `count` free times of each doctor, in one statement: one small indexed
    read per doctor (ix_slot_open), glued with UNION ALL. Ranking every free slot of the
    horizon with a window function read thousands of rows for ten cards."""
    if not doctor_ids:
        return {}
    wanted = list(dict.fromkeys(doctor_ids))
    params: dict[str, Any] = {f"doctor_{i}": d for i, d in enumerate(wanted)}
    params.update(now=now, until=now + SEARCH_HORIZON)
    rows = read_rows(session, _next_free_statement(len(wanted), count), params)
    found: dict[int, list[FreeSlot]] = {}
    for doctor_id, slot_id, starts_at, ends_at in rows:
        found.setdefault(doctor_id, []).append(FreeSlot(slot_id, _utc(starts_at), _utc(ends_at)))
    # UNION ALL promises no order: each doctor's times are put in order here.
    return {k: tuple(sorted(v, key=lambda f: (f.starts_at, f.slot_id))) for k, v in found.items()}


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def earliest_free_slots(
    session: Session, *, doctor_ids: list[int], now: datetime, until: datetime
) -> dict[int, datetime]:
    """Earliest free slot per doctor in one statement, whatever the number of doctors."""
    rows = session.exec(
        select(Slot.doctor_id, func.min(Slot.starts_at))
        .where(
            col(Slot.doctor_id).in_(doctor_ids),
            Slot.status == SlotStatus.OPEN,
            col(Slot.starts_at) > now,
            col(Slot.starts_at) < until,
        )
        .group_by(col(Slot.doctor_id))
    ).all()
    return {doctor_id: first for doctor_id, first in rows}


@reads_only
def get_doctor(session: Session, *, doctor_id: int) -> DoctorPublicView:
    found = session.exec(_bookable_doctors().where(DoctorProfile.user_id == doctor_id)).first()
    if found is None:
        raise NotFound("That doctor was not found.")
    d, u = found
    ct, lg = consultation_types(), languages()
    codes = session.exec(
        select(DoctorConsultationType.code).where(DoctorConsultationType.doctor_id == doctor_id)
    ).all()
    langs = session.exec(
        select(DoctorLanguage.code).where(DoctorLanguage.doctor_id == doctor_id)
    ).all()
    return DoctorPublicView(
        doctor_id=d.user_id,
        name=f"Dr. {display_name(u)}",
        specialty=d.specialty,
        qualifications=d.qualifications,
        languages=tuple(lg.get(c, c) for c in sorted(langs)),
        consultation_types=tuple(
            (c, ct.get(c, c)) for c in sorted(codes, key=lambda c: ct.get(c, c))
        ),
        clinic_name=d.clinic_name,
        clinic_address=(
            f"{d.clinic_address_line}, {d.clinic_city}, {d.clinic_province} {d.clinic_postal_code}"
        ),
        time_zone=d.time_zone,
        photo_blob=d.photo_blob,
        latitude=d.latitude,
        longitude=d.longitude,
    )


# Whatever the zone (UTC-12 to UTC+14), a local day lies within 14 hours before and 12
# after the same day in UTC: a read bounded so in UTC finds every slot of the local days
# before the zone is known, and the slots outside them are dropped here.
_AHEAD_OF_UTC = timedelta(hours=14)
_BEHIND_UTC = timedelta(hours=12)


@lru_cache(maxsize=1)
def _open_slots_statement() -> Any:
    """A doctor's zone with their open slots from `low` to `high` that start after `now`:
    one row without a slot when there is none, no row when there is no such doctor."""
    open_slot = and_(
        col(Slot.doctor_id) == col(DoctorProfile.user_id),
        _is_open(),
        col(Slot.starts_at) >= bindparam("low"),
        col(Slot.starts_at) < bindparam("high"),
        col(Slot.starts_at) > bindparam("now"),
    )
    return (
        sa_select(
            col(DoctorProfile.time_zone), col(Slot.id), col(Slot.starts_at), col(Slot.ends_at)
        )
        .select_from(DoctorProfile)
        .outerjoin(Slot, open_slot)
        .where(col(DoctorProfile.user_id) == bindparam("doctor_id", type_=Integer))
        .order_by(col(Slot.starts_at))
    )


def _open_slots(
    session: Session, *, doctor_id: int, low: datetime, high: datetime, now: datetime
) -> tuple[ZoneInfo, list[FreeSlot]]:
    """The doctor's zone and their open slots from `low` to `high` starting after `now`,
    in one statement."""
    rows = read_rows(
        session,
        _open_slots_statement(),
        {"doctor_id": doctor_id, "low": low, "high": high, "now": now},
    )
    if not rows:
        raise NotFound("That doctor was not found.")
    slots = [FreeSlot(slot_id=i, starts_at=_utc(s), ends_at=_utc(e)) for _z, i, s, e in rows if i]
    return ZoneInfo(rows[0].time_zone), slots


def _local_days(
    session: Session, *, doctor_id: int, first: date, days: int, now: datetime
) -> tuple[ZoneInfo, list[FreeSlot]]:
    """The doctor's zone and their free slots from local midnight of `first` for `days`
    days, excluding started ones."""
    utc_first = datetime.combine(first, time(0), tzinfo=UTC)
    zone, slots = _open_slots(
        session,
        doctor_id=doctor_id,
        low=utc_first - _AHEAD_OF_UTC,
        high=utc_first + timedelta(days=days) + _BEHIND_UTC,
        now=now,
    )
    begin = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(first + timedelta(days=days), time(0), tzinfo=zone)
    return zone, [s for s in slots if begin <= s.starts_at < end]


@reads_only
def free_days(
    session: Session, *, doctor_id: int, first: date, days: int, now: datetime
) -> list[date]:
    """Local dates (doctor's zone) with at least one free slot, for the calendar."""
    zone, slots = _local_days(session, doctor_id=doctor_id, first=first, days=days, now=now)
    return sorted({s.starts_at.astimezone(zone).date() for s in slots})


@dataclass(frozen=True)
class CalendarDay:
    day: date
    free: bool
    past: bool
    today: bool = False


@reads_only
def free_calendar(
    session: Session, *, doctor_id: int, weeks: int, now: datetime
) -> list[CalendarDay]:
    """Whole weeks (Monday first) from the doctor's current local week, marking free days
    from today on."""
    # Today in the doctor's zone is the UTC day of `now`, or the one before or after.
    zone, slots = _local_days(
        session,
        doctor_id=doctor_id,
        first=now.date() - timedelta(days=1),
        days=weeks * 7 + 2,
        now=now,
    )
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    horizon = today + timedelta(days=weeks * 7)
    free = {d for s in slots if today <= (d := s.starts_at.astimezone(zone).date()) < horizon}
    days = [monday + timedelta(days=i) for i in range(weeks * 7)]
    return [CalendarDay(day=d, free=d in free, past=d < today, today=d == today) for d in days]


@reads_only
def free_slots(
    session: Session, *, doctor_id: int, first: date, days: int, now: datetime
) -> list[FreeSlot]:
    """Free slots from local midnight of `first` for `days` days, excluding started ones."""
    return _local_days(session, doctor_id=doctor_id, first=first, days=days, now=now)[1]


@reads_only
def free_times(session: Session, *, doctor_id: int, day: date, now: datetime) -> list[FreeSlot]:
    """Free slots on one local day, excluding those already started."""
    return free_slots(session, doctor_id=doctor_id, first=day, days=1, now=now)
