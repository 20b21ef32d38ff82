"""Finding doctors and their free time, on SQLite and PostgreSQL: who is listed, filters,
ordering by the earliest free slot, pages, statement counts, and what counts as free.
After every test the database is swept for overlapping active visits and for slots that
disagree with their visits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, event
from sqlmodel import Session, col, select

from health_app.config import Settings, load_settings
from health_app.models import (
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    User,
)
from health_app.services.errors import NotFound
from health_app.services.scheduling import availability, booking, search
from health_app.services.scheduling.search import PAGE_SIZE, DoctorQuery
from health_app.services.views import Actor
from tests.services.scheduling_helpers import open_day, people, request, sweep

TODAY = date(2026, 3, 2)  # a Monday; `now` is 10:00 in Toronto
TOMORROW = date(2026, 3, 3)


@pytest.fixture(autouse=True)
def invariant_sweep(engine: Engine) -> Iterator[None]:
    yield
    assert sweep(engine) == (0, 0)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return replace(settings, booking_attempts_per_hour=1000, max_future_appointments=1000)


def _ids(page: Any) -> list[int]:
    return [card.doctor_id for card in page.items]


def _find(session: Session, now: datetime, page: int = 1, **query: Any) -> Any:
    return search.search_doctors(
        session, query=DoctorQuery(**query), page=page, now=now, settings=load_settings()
    )


def _slot(session: Session, doctor: Actor, now: datetime, day: date, at: time) -> None:
    availability.open_slot(session, actor=doctor, day=day, start=at, minutes=15, now=now)
    session.commit()


def _book(session: Session, patient: Actor, slot_id: int, cfg: Settings, now: datetime) -> None:
    booking.book_appointment(
        session, actor=patient, request=request(slot_id), settings=cfg, now=now
    )
    session.commit()


def _set_user(session: Session, doctor: Actor, **values: object) -> None:
    user = session.get(User, doctor.user_id)
    assert user is not None
    for key, value in values.items():
        setattr(user, key, value)
    session.add(user)


def _set_profile(session: Session, doctor: Actor, **values: object) -> None:
    profile = session.get(DoctorProfile, doctor.user_id)
    assert profile is not None
    for key, value in values.items():
        setattr(profile, key, value)
    session.add(profile)


def _set_chips(session: Session, doctor: Actor, *, types: list[str], langs: list[str]) -> None:
    doctor_id = doctor.user_id
    session.execute(
        delete(DoctorConsultationType).where(col(DoctorConsultationType.doctor_id) == doctor_id)
    )
    session.execute(delete(DoctorLanguage).where(col(DoctorLanguage.doctor_id) == doctor_id))
    session.add_all(DoctorConsultationType(doctor_id=doctor_id, code=c) for c in types)
    session.add_all(DoctorLanguage(doctor_id=doctor_id, code=c) for c in langs)


def _first_free(session: Session, doctor_id: int, now: datetime) -> datetime | None:
    days = search.free_days(session, doctor_id=doctor_id, first=TODAY, days=90, now=now)
    if not days:
        return None
    return search.free_times(session, doctor_id=doctor_id, day=days[0], now=now)[0].starts_at


# --- who is listed ----------------------------------------------------------------------


def test_only_approved_active_doctors_are_listed(
    session: Session, settings: Settings, now: datetime
) -> None:
    doctors, _ = people(session, settings, now, doctors=5)
    for doctor in doctors:  # everybody has free time, so only the status can hide them
        open_day(session, doctor, now, TOMORROW)
    ok1, ok2, pending, rejected, gone = doctors
    _set_profile(session, pending, approval_status="pending")
    _set_profile(session, rejected, approval_status="rejected")
    _set_user(session, gone, deactivated_at=now - timedelta(days=1))
    session.commit()
    found = _find(session, now)
    assert sorted(_ids(found)) == sorted([ok1.user_id, ok2.user_id])
    assert found.total == 2
    assert all(card.earliest_free is not None for card in found.items)


def test_get_doctor_shows_labels_and_hides_unlisted_doctors(
    session: Session, settings: Settings, now: datetime
) -> None:
    (listed, pending, gone), _ = people(session, settings, now, doctors=3)
    _set_chips(session, listed, types=["sick-note", "general", "acne"], langs=["fr", "en"])
    _set_profile(session, pending, approval_status="pending")
    _set_user(session, gone, deactivated_at=now - timedelta(hours=1))
    session.commit()
    view = search.get_doctor(session, doctor_id=listed.user_id)
    assert view.languages == ("English", "French")
    assert view.consultation_types == (
        ("acne", "Acne"),
        ("general", "General check-up"),
        ("sick-note", "Sick note"),
    )
    assert view.name.startswith("Dr. ") and view.time_zone == "America/Toronto"
    for hidden in (pending.user_id, gone.user_id, 999_999):
        with pytest.raises(NotFound):
            search.get_doctor(session, doctor_id=hidden)


# --- filters ----------------------------------------------------------------------------


def test_filters_by_name_specialty_consultation_type_and_language(
    session: Session, settings: Settings, now: datetime
) -> None:
    doctors, _ = people(session, settings, now, doctors=4)
    khan, patel, chen, tremblay = doctors
    names = {
        khan: ("Amir", "Khan", ""),
        patel: ("Priya", "Patel", ""),
        chen: ("Wei", "Chen", "Vivian"),
        tremblay: ("Amira", "Tremblay", ""),
    }
    for doctor, (first, last, preferred) in names.items():
        _set_user(session, doctor, first_name=first, last_name=last, preferred_name=preferred)
        _set_profile(session, doctor, specialty="Family medicine")
    _set_profile(session, patel, specialty="Dermatology")
    _set_chips(session, khan, types=["general", "acne"], langs=["en"])
    _set_chips(session, patel, types=["general"], langs=["en", "fr"])
    _set_chips(session, chen, types=["allergies"], langs=["fr"])
    _set_chips(session, tremblay, types=["general"], langs=["en"])
    session.commit()
    for hour, doctor in enumerate(doctors, start=8):  # only doctors with free time are found
        _slot(session, doctor, now, TOMORROW, time(hour))

    def found(**query: str) -> set[int]:
        page = _find(session, now, **query)
        assert page.total == len(page.items)
        return set(_ids(page))

    def of(*who: Actor) -> set[int]:
        return {d.user_id for d in who}

    assert found() == of(*doctors)
    assert found(name="KHAN") == of(khan)
    assert found(name="mir") == of(khan, tremblay)  # Amir and Amira
    assert found(name="  amir KH ") == of(khan)  # first and last name together
    assert found(name="vivian") == of(chen)  # preferred name
    assert found(name="nobody") == set()
    assert found(specialty="Dermatology") == of(patel)
    assert found(specialty="Family medicine") == of(khan, chen, tremblay)
    assert found(consultation_type="acne") == of(khan)
    assert found(consultation_type="general") == of(khan, patel, tremblay)
    assert found(language="fr") == of(patel, chen)
    assert found(language="fr", consultation_type="general") == of(patel)
    assert found(name="mir", language="en", specialty="Family medicine") == of(khan, tremblay)


# --- ordering and pages -----------------------------------------------------------------


def test_sorted_by_earliest_free_slot_and_doctors_without_free_time_unlisted(
    session: Session, cfg: Settings, now: datetime
) -> None:
    doctors, (patient, *_) = people(session, cfg, now, doctors=5)
    later, soonest, third, fully_booked, no_slots = doctors
    _slot(session, later, now, TOMORROW, time(10))
    _slot(session, soonest, now, TOMORROW, time(9))
    _slot(session, later, now, TOMORROW + timedelta(days=1), time(8))  # not its earliest
    _slot(session, third, now, TOMORROW + timedelta(days=2), time(9))
    _slot(session, fully_booked, now, TOMORROW, time(8))
    only = search.free_times(session, doctor_id=fully_booked.user_id, day=TOMORROW, now=now)
    _book(session, patient, only[0].slot_id, cfg, now)
    page = _find(session, now)
    ids = _ids(page)
    # Nothing free (fully booked, or nothing opened): not listed until they have some.
    assert ids == [soonest.user_id, later.user_id, third.user_id] and page.total == 3
    assert not {fully_booked.user_id, no_slots.user_id} & set(ids)
    for card in page.items:
        assert card.earliest_free == _first_free(session, card.doctor_id, now)
        # The next free times come with the card, to book from the results.
        assert card.next_free and card.next_free[0].starts_at == card.earliest_free
    assert [len(c.next_free) for c in page.items] == [1, 2, 1]
    assert page.items[0].earliest_free == datetime(2026, 3, 3, 14, tzinfo=UTC)  # 09:00 EST
    # Once the soonest slot has started it no longer counts.
    moved = _find(session, datetime(2026, 3, 3, 14, 5, tzinfo=UTC))
    assert _ids(moved)[:2] == [later.user_id, third.user_id]


def test_pages_of_ten_cover_every_doctor_once(
    session: Session, settings: Settings, now: datetime
) -> None:
    doctors, _ = people(session, settings, now, doctors=12)
    assert PAGE_SIZE == 10
    last = doctors[-1]
    _slot(session, last, now, TOMORROW, time(9))
    _slot(session, doctors[4], now, TOMORROW, time(11))
    for doctor in doctors:  # the rest all free at one time, ordered by name then
        if doctor not in (last, doctors[4]):
            _slot(session, doctor, now, TOMORROW, time(14))
    first_page, second_page = _find(session, now, page=1), _find(session, now, page=2)
    assert (first_page.total, second_page.total) == (12, 12)
    assert (len(first_page.items), len(second_page.items)) == (10, 2)
    everyone = _ids(first_page) + _ids(second_page)
    assert sorted(everyone) == sorted(d.user_id for d in doctors)
    assert everyone[:2] == [last.user_id, doctors[4].user_id]
    # Doctors free at the same time follow in a stable order: last name, then id.
    rest = everyone[2:]
    key = {u.id: (u.last_name, u.id) for u in session.exec(select(User)).all()}
    assert rest == sorted(rest, key=lambda i: key[i])
    assert _ids(_find(session, now, page=0)) == _ids(first_page)
    beyond = _find(session, now, page=3)
    assert beyond.items == () and beyond.total == 12  # past the last page: the count still
    assert _ids(_find(session, now, page=2)) == _ids(second_page)  # stable between calls


# --- one statement for many doctors -----------------------------------------------------


def _statements(engine: Engine, call: Any) -> tuple[int, Any]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as fresh:
            result = call(fresh)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


def test_earliest_free_slots_uses_a_constant_number_of_statements(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    doctors, _ = people(session, settings, now, doctors=50, patients=1)
    expected: dict[int, datetime] = {}
    for i, doctor in enumerate(doctors):
        day, at = TOMORROW + timedelta(days=i % 7), time(9 + i % 5, 15 * (i % 4))
        _slot(session, doctor, now, day, at)
        _slot(session, doctor, now, day + timedelta(days=1), time(8))  # later, never the first
        expected[doctor.user_id] = search.free_times(
            session, doctor_id=doctor.user_id, day=day, now=now
        )[0].starts_at
    until = now + timedelta(days=90)
    ids = [d.user_id for d in doctors]

    def earliest(n: int) -> Any:
        return lambda s: search.earliest_free_slots(s, doctor_ids=ids[:n], now=now, until=until)

    few, few_result = _statements(engine, earliest(5))
    many, many_result = _statements(engine, earliest(50))
    assert few == many <= 3, (few, many)
    assert few_result == {i: expected[i] for i in ids[:5]}
    assert many_result == expected


# --- what counts as free ----------------------------------------------------------------


def test_free_days_and_times_leave_out_booked_and_started_slots(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)  # 09:00-12:00, 12 slots
    _slot(session, doctor, now, TOMORROW + timedelta(days=1), time(9))  # a single slot
    free = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)
    assert len(free) == 12
    _book(session, p1, free[1].slot_id, cfg, now)
    lone = search.free_times(
        session, doctor_id=doctor.user_id, day=TOMORROW + timedelta(days=1), now=now
    )
    _book(session, p2, lone[0].slot_id, cfg, now)

    def times(at: datetime) -> list[int]:
        slots = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=at)
        return [s.slot_id for s in slots]

    def days(at: datetime) -> list[date]:
        return search.free_days(session, doctor_id=doctor.user_id, first=TODAY, days=7, now=at)

    assert times(now) == [s.slot_id for s in free if s is not free[1]]
    assert days(now) == [TOMORROW]  # the next day's only slot is booked
    nine_thirty = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 in Toronto
    assert times(nine_thirty) == [s.slot_id for s in free[3:]]  # 09:30 has started
    assert times(nine_thirty + timedelta(minutes=15)) == [s.slot_id for s in free[4:]]
    after_last = datetime(2026, 3, 3, 16, 45, tzinfo=UTC)  # 11:45 local, the last slot started
    assert times(after_last) == []
    assert days(after_last) == []


def test_free_days_agrees_with_free_times_for_a_midnight_slot(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    _slot(session, doctor, now, TOMORROW, time(0))
    assert len(search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)) == 1
    assert search.free_days(session, doctor_id=doctor.user_id, first=TOMORROW, days=1, now=now) == [
        TOMORROW
    ]


def test_when_filter_today_and_this_week(
    session: Session, settings: Settings, now: datetime
) -> None:
    """`now` is Monday 2 March, 10:00 in Toronto."""
    (today_doc, week_doc, later_doc), _ = people(session, settings, now, doctors=3)
    _slot(session, today_doc, now, date(2026, 3, 2), time(16))
    _slot(session, week_doc, now, date(2026, 3, 8), time(9))  # Sunday: still this week
    _slot(session, later_doc, now, date(2026, 3, 9), time(9))  # next Monday
    assert set(_ids(_find(session, now, within="today"))) == {today_doc.user_id}
    assert set(_ids(_find(session, now, within="week"))) == {today_doc.user_id, week_doc.user_id}
    assert len(_ids(_find(session, now))) == 3


def test_on_a_day_filter_lists_doctors_free_that_day_with_that_days_times(
    session: Session, settings: Settings, now: datetime
) -> None:
    """`now` is Monday 2 March, 10:00 in Toronto."""
    (busy_doc, free_doc), _ = people(session, settings, now, doctors=2)
    _slot(session, busy_doc, now, date(2026, 3, 2), time(16))  # earlier overall, not Thursday
    _slot(session, busy_doc, now, date(2026, 3, 6), time(9))
    _slot(session, free_doc, now, date(2026, 3, 5), time(11))
    _slot(session, free_doc, now, date(2026, 3, 5), time(23, 45))  # late evening, same day
    thursday = _find(session, now, on=date(2026, 3, 5))
    assert _ids(thursday) == [free_doc.user_id]
    card = thursday.items[0]
    zone = load_settings().clinic_zone
    assert card.earliest_free.astimezone(zone) == datetime(2026, 3, 5, 11, tzinfo=zone)
    assert [f.starts_at.astimezone(zone).date() for f in card.next_free] == [date(2026, 3, 5)] * 2
    # The day overrides "today"; a day already over lists nobody.
    assert _ids(_find(session, now, on=date(2026, 3, 6), within="today")) == [busy_doc.user_id]
    assert _ids(_find(session, now, on=date(2026, 3, 1))) == []


def test_the_calendar_marks_today(session: Session, settings: Settings, now: datetime) -> None:
    (doctor,), _ = people(session, settings, now, doctors=1)
    cells = search.free_calendar(session, doctor_id=doctor.user_id, weeks=6, now=now)
    assert [c.day for c in cells if c.today] == [date(2026, 3, 2)]
    assert cells[0].day == date(2026, 3, 2) and cells[-1].day == date(2026, 4, 12)


# --- doctors near a place ------------------------------------------------------------------

ORIGIN = (43.6426, -79.3871)  # the CN Tower
KM_NORTH = 1 / 111.195  # degrees of latitude in one km (6371.0088 km earth radius)


def _place(session: Session, doctor: Actor, lat: float | None, lng: float | None) -> None:
    profile = session.get(DoctorProfile, doctor.user_id)
    assert profile is not None
    profile.latitude, profile.longitude = lat, lng
    session.add(profile)
    session.commit()


def test_doctors_within_a_radius_sorted_by_distance_or_earliest_time(
    session: Session, cfg: Settings, now: datetime
) -> None:
    near_late, far_early, edge_in, edge_out, unplaced = people(session, cfg, now, doctors=5)[0]
    lat, lng = ORIGIN
    _place(session, near_late, lat + 1 * KM_NORTH, lng)  # 1 km north
    _place(session, far_early, lat - 3 * KM_NORTH, lng)  # 3 km south
    _place(session, edge_in, lat + 4.99 * KM_NORTH, lng)  # just inside 5 km
    _place(session, edge_out, lat + 5.01 * KM_NORTH, lng)  # just outside
    _place(session, unplaced, None, None)
    for d, hour in ((near_late, 15), (far_early, 8), (edge_in, 9), (edge_out, 7), (unplaced, 6)):
        _slot(session, d, now, TOMORROW, time(hour))

    within = _find(session, now, near=ORIGIN, within_km=5)
    assert _ids(within) == [far_early.user_id, edge_in.user_id, near_late.user_id]  # earliest
    assert within.total == 3
    by_distance = {c.doctor_id: c.distance_km for c in within.items}
    assert by_distance[near_late.user_id] == 1.0 and by_distance[far_early.user_id] == 3.0
    assert by_distance[edge_in.user_id] == 5.0  # 4.99, rounded for people

    nearest = _find(session, now, near=ORIGIN, within_km=5, sort="nearest")
    assert _ids(nearest) == [near_late.user_id, far_early.user_id, edge_in.user_id]

    # Without a radius everyone is listed; the doctor with no known place comes last.
    anywhere = _find(session, now, near=ORIGIN, sort="nearest")
    assert _ids(anywhere)[-1] == unplaced.user_id and anywhere.total == 5
    assert anywhere.items[-1].distance_km is None
    # Combined with the other filters and the "when" filter.
    today_only = _find(session, now, near=ORIGIN, within_km=5, within="today")
    assert today_only.total == 0


def test_a_radius_across_longitude_measures_the_great_circle(
    session: Session, cfg: Settings, now: datetime
) -> None:
    east, west = people(session, cfg, now, doctors=2)[0]
    lat, lng = ORIGIN
    # 7 km east and 7 km west: at 43.6° a degree of longitude is ~80.5 km, not 111.
    per_km = 1 / (111.195 * 0.7240)
    _place(session, east, lat, lng + 7 * per_km)
    _place(session, west, lat, lng - 7 * per_km)
    for d in (east, west):
        _slot(session, d, now, TOMORROW, time(9))
    assert _find(session, now, near=ORIGIN, within_km=5).total == 0
    found = _find(session, now, near=ORIGIN, within_km=10)
    assert found.total == 2 and all(6.9 <= (c.distance_km or 0) <= 7.1 for c in found.items)


def test_a_search_shape_is_built_once_and_binds_its_values(
    session: Session, settings: Settings, now: datetime
) -> None:
    """The same filters with other values reuse the statement built for them (building
    and keying it was a third of a search's Python time), and still find by the values."""
    doctors, _ = people(session, settings, now, doctors=2)
    first, second = doctors
    _set_profile(session, first, specialty="Dermatology")
    _set_profile(session, second, specialty="Cardiology")
    session.commit()
    for hour, doctor in enumerate(doctors, start=8):
        _slot(session, doctor, now, TOMORROW, time(hour))
    assert _ids(_find(session, now, specialty="Dermatology")) == [first.user_id]
    built = search._search_statements.cache_info().misses
    assert _ids(_find(session, now, specialty="Cardiology")) == [second.user_id]
    assert _ids(_find(session, now, specialty="Neurology")) == []  # the count alone
    assert search._search_statements.cache_info().misses == built


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14, -11
def test_a_days_times_in_a_zone_far_from_utc_take_one_statement(
    engine: Engine, session: Session, settings: Settings, now: datetime, zone: str
) -> None:
    """A day's times are read with the doctor's zone in one statement, bounded widely
    enough in UTC for any zone: the first and last times of the local day are in, the
    neighbouring days' are not; the calendar's today is the doctor's."""
    (doctor,), _ = people(session, settings, now, doctors=1)
    _set_profile(session, doctor, time_zone=zone)
    session.commit()
    day = TOMORROW + timedelta(days=2)
    for on, at in [(day, time(0)), (day, time(23, 45))]:
        _slot(session, doctor, now, on, at)
    _slot(session, doctor, now, day - timedelta(days=1), time(23, 45))
    _slot(session, doctor, now, day + timedelta(days=1), time(0))

    def times(on: date) -> list[datetime]:
        return [
            s.starts_at
            for s in search.free_times(session, doctor_id=doctor.user_id, day=on, now=now)
        ]

    local = ZoneInfo(zone)
    assert [t.astimezone(local).time() for t in times(day)] == [time(0), time(23, 45)]
    assert [t.astimezone(local).date() for t in times(day - timedelta(days=1))] == [
        day - timedelta(days=1)
    ]
    count, _ = _statements(
        engine, lambda s: search.free_times(s, doctor_id=doctor.user_id, day=day, now=now)
    )
    one, _ = _statements(engine, lambda s: s.execute(select(User.id)).all())  # SQLite: + BEGIN
    assert count == one
    cells = search.free_calendar(session, doctor_id=doctor.user_id, weeks=2, now=now)
    assert [c.day for c in cells if c.today] == [now.astimezone(local).date()]
    assert [c.day for c in cells if c.free] == [
        day - timedelta(days=1),
        day,
        day + timedelta(days=1),
    ]
    with pytest.raises(NotFound):
        search.free_times(session, doctor_id=doctor.user_id + 999, day=day, now=now)
