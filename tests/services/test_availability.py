"""Doctors publishing time: slots, ranges, the weekly template, time off, cancelling a range,
tidying, authorization, time zones, and the database's own net under the booking guard.
On SQLite and PostgreSQL; after every test the database is swept for overlapping active visits
and for slots that disagree with their visits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import (
    Appointment,
    AuditEvent,
    DoctorProfile,
    OutboxMessage,
    Slot,
    TimeOff,
    User,
    WeeklyWindow,
)
from health_app.services.errors import DomainError, NotFound, ValidationFailed
from health_app.services.scheduling import availability, booking, search, weekly_hours
from health_app.services.scheduling.weekly_hours import WindowInput
from health_app.services.views import Actor
from health_app.state.timefmt import clock
from tests.services.scheduling_helpers import open_day, people, request, sweep

TORONTO = ZoneInfo("America/Toronto")
TODAY = date(2026, 3, 2)  # a Monday; `now` is 10:00 local
TOMORROW = date(2026, 3, 3)
MONDAY_AFTER_DST = date(2026, 3, 9)  # clocks went forward on Sunday 8 March
WEEKDAYS = [
    WindowInput(weekday=d, start=s, end=e)
    for d in range(5)
    for s, e in ((time(9), time(12)), (time(13), time(17)))
]
PER_WEEKDAY = 12 + 16  # 09:00-12:00 and 13:00-17:00 in 15-minute slots


@pytest.fixture(autouse=True)
def invariant_sweep(engine: Engine) -> Iterator[None]:
    yield
    assert sweep(engine) == (0, 0)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return replace(settings, booking_attempts_per_hour=1000, max_future_appointments=1000)


def _free(session: Session, doctor: Actor, day: date, now: datetime) -> list[search.FreeSlot]:
    return search.free_times(session, doctor_id=doctor.user_id, day=day, now=now)


def _free_count(session: Session, doctor: Actor, first: date, days: int, now: datetime) -> int:
    return sum(len(_free(session, doctor, first + timedelta(days=i), now)) for i in range(days))


def _local(slot: search.FreeSlot, zone: ZoneInfo = TORONTO) -> time:
    return slot.starts_at.astimezone(zone).time()


def _open_range(session: Session, doctor: Actor, now: datetime, **kw: object) -> int:
    args: dict[str, object] = {
        "first": TOMORROW,
        "last": TOMORROW,
        "start": time(9),
        "end": time(12),
        "minutes": 15,
    }
    args.update(kw)
    created = availability.open_range(session, actor=doctor, now=now, **args)  # type: ignore[arg-type]
    session.commit()
    return created


def _template(
    session: Session,
    doctor: Actor,
    settings: Settings,
    now: datetime,
    windows: list[WindowInput] = WEEKDAYS,
    minutes: int = 15,
) -> int:
    created = weekly_hours.save_weekly_template(
        session,
        actor=doctor,
        windows=windows,
        slot_minutes=minutes,
        valid_from=now.astimezone(TORONTO).date(),
        valid_to=None,
        settings=settings,
        now=now,
    )
    session.commit()
    return created


def _book(session: Session, patient: Actor, slot_id: int, cfg: Settings, now: datetime) -> int:
    view = booking.book_appointment(
        session, actor=patient, request=request(slot_id), settings=cfg, now=now
    )
    session.commit()
    return view.id


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


# --- single slots and ranges ------------------------------------------------------------


@pytest.mark.parametrize("minutes", [4, 241])
def test_slot_length_out_of_bounds_is_refused(
    session: Session, settings: Settings, now: datetime, minutes: int
) -> None:
    (doctor, _), _ = people(session, settings, now)
    with pytest.raises(ValidationFailed) as err:
        availability.open_slot(
            session, actor=doctor, day=TOMORROW, start=time(9), minutes=minutes, now=now
        )
    assert set(err.value.field_errors) == {"slot_minutes"}
    with pytest.raises(ValidationFailed) as err:
        _open_range(session, doctor, now, minutes=minutes)
    assert set(err.value.field_errors) == {"slot_minutes"}
    session.rollback()
    assert _count(session, Slot) == 0
    # The bounds themselves are accepted.
    for ok, day in ((5, TOMORROW), (240, TOMORROW + timedelta(days=1))):
        availability.open_slot(session, actor=doctor, day=day, start=time(9), minutes=ok, now=now)
    session.commit()
    assert [s.ends_at - s.starts_at for s in _free(session, doctor, TOMORROW, now)] == [
        timedelta(minutes=5)
    ]
    assert len(_free(session, doctor, TOMORROW + timedelta(days=1), now)) == 1


def test_dates_in_the_past_too_far_ahead_or_reversed_are_refused(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    yesterday, year_on = TODAY - timedelta(days=1), TODAY + timedelta(days=366)
    cases = [
        ({"day": yesterday}, {"first": yesterday, "last": TOMORROW}, "from_date"),
        ({"day": year_on}, {"first": TOMORROW, "last": year_on}, "to_date"),
    ]
    for slot_args, range_args, field in cases:
        with pytest.raises(ValidationFailed) as err:
            availability.open_slot(
                session, actor=doctor, start=time(9), minutes=15, now=now, **slot_args
            )
        assert set(err.value.field_errors) == {field}
        with pytest.raises(ValidationFailed) as err:
            _open_range(session, doctor, now, **range_args)
        assert set(err.value.field_errors) == {field}
    with pytest.raises(ValidationFailed) as err:  # end date before start date
        _open_range(session, doctor, now, first=TOMORROW, last=TODAY)
    assert set(err.value.field_errors) == {"to_date"}
    with pytest.raises(ValidationFailed) as err:  # end time before start time
        _open_range(session, doctor, now, start=time(12), end=time(9))
    assert set(err.value.field_errors) == {"end_time"}
    with pytest.raises(ValidationFailed) as err:  # earlier today
        availability.open_slot(session, actor=doctor, day=TODAY, start=time(9), minutes=15, now=now)
    assert set(err.value.field_errors) == {"start_time"}
    session.rollback()
    assert _count(session, Slot) == 0
    # The last day within the year is still allowed.
    last_day = TODAY + timedelta(days=365)
    assert _open_range(session, doctor, now, first=last_day, last=last_day) == 12


def test_opening_the_same_range_twice_creates_nothing_new(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    last = TOMORROW + timedelta(days=2)
    assert _open_range(session, doctor, now, last=last) == 36
    before = _free_count(session, doctor, TOMORROW, 3, now)
    assert before == 36
    assert _open_range(session, doctor, now, last=last) == 0
    assert _free_count(session, doctor, TOMORROW, 3, now) == before
    with pytest.raises(DomainError, match="overlaps"):
        availability.open_slot(
            session, actor=doctor, day=TOMORROW, start=time(9), minutes=15, now=now
        )
    session.rollback()
    assert _count(session, Slot) == 36


def test_range_skips_only_the_candidates_overlapping_an_existing_slot(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    availability.open_slot(
        session, actor=doctor, day=TOMORROW, start=time(9, 15), minutes=30, now=now
    )
    session.commit()
    # 09:00-11:00 in 15 minutes is 8 candidates; 09:15 and 09:30 fall in the 30-minute slot.
    assert _open_range(session, doctor, now, start=time(9), end=time(11)) == 6
    free = _free(session, doctor, TOMORROW, now)
    assert [(_local(s), (s.ends_at - s.starts_at).seconds // 60) for s in free] == [
        (time(9), 15),
        (time(9, 15), 30),
        (time(9, 45), 15),
        (time(10), 15),
        (time(10, 15), 15),
        (time(10, 30), 15),
        (time(10, 45), 15),
    ]


def test_slots_earlier_than_now_today_are_not_created(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    assert now.astimezone(TORONTO).time() == time(10)
    created = _open_range(
        session, doctor, now, first=TODAY, last=TODAY, start=time(8), end=time(12)
    )
    assert created == 7  # 10:15 .. 11:45; 10:00 starts right now
    free = _free(session, doctor, TODAY, now)
    assert [_local(s) for s in free] == [time(10, 15 * i) for i in range(1, 4)] + [
        time(11, 15 * i) for i in range(4)
    ]
    assert _count(session, Slot) == 7
    assert all(s.starts_at > now for s in session.exec(select(Slot)).all())


def test_thirty_days_of_quarter_hours_across_the_clock_change(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    last = TOMORROW + timedelta(days=29)  # 3 March .. 1 April spans Sunday 8 March
    created = _open_range(session, doctor, now, last=last, start=time(8), end=time(20))
    assert created == 30 * 48 == 1440
    days = search.free_days(session, doctor_id=doctor.user_id, first=TOMORROW, days=30, now=now)
    assert len(days) == 30
    per_day = {d: _free(session, doctor, d, now) for d in days}
    assert sum(len(v) for v in per_day.values()) == 1440
    for slots in per_day.values():
        local = [_local(s) for s in slots]
        assert len(local) == 48 and local[0] == time(8) and local[-1] == time(19, 45)
        assert all(t.minute % 15 == 0 and t.second == 0 for t in local)
    # 08:00 local is 13:00 UTC before the change and 12:00 UTC after it.
    assert per_day[TOMORROW][0].starts_at == datetime(2026, 3, 3, 13, tzinfo=UTC)
    assert per_day[MONDAY_AFTER_DST][0].starts_at == datetime(2026, 3, 9, 12, tzinfo=UTC)


# --- the weekly template ----------------------------------------------------------------


def test_weekly_template_fills_the_horizon_at_local_times(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    horizon = settings.availability_horizon_days
    assert horizon == 60
    created = _template(session, doctor, settings, now)
    days = search.free_days(
        session, doctor_id=doctor.user_id, first=TODAY, days=horizon + 30, now=now
    )
    assert all(d.weekday() < 5 for d in days)
    every_weekday = [
        d for d in (TODAY + timedelta(days=i) for i in range(horizon)) if d.weekday() < 5
    ]
    assert set(every_weekday) <= set(days)
    assert max(days) <= TODAY + timedelta(days=horizon)
    # Today has 7 morning slots left after 10:00 plus the afternoon.
    assert len(_free(session, doctor, TODAY, now)) == 7 + 16
    assert created == 7 + 16 + PER_WEEKDAY * (len(days) - 1)
    assert _free_count(session, doctor, TODAY, horizon + 30, now) == created
    for day in (TOMORROW, MONDAY_AFTER_DST, date(2026, 4, 6)):
        local = [_local(s) for s in _free(session, doctor, day, now)]
        assert len(local) == PER_WEEKDAY
        assert local[0] == time(9) and local[11] == time(11, 45)
        assert local[12] == time(13) and local[-1] == time(16, 45)
    assert _free(session, doctor, MONDAY_AFTER_DST, now)[0].starts_at == datetime(
        2026, 3, 9, 13, tzinfo=UTC
    )
    assert _free(session, doctor, date(2026, 3, 7), now) == []  # a Saturday


def test_new_template_replaces_windows_but_keeps_booked_slots(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    _template(session, doctor, cfg, now)
    slot = _free(session, doctor, TOMORROW, now)[0]
    visit = _book(session, patient, slot.slot_id, cfg, now)
    afternoons = [WindowInput(weekday=d, start=time(14), end=time(16)) for d in (1, 3)]
    _template(session, doctor, cfg, now, windows=afternoons, minutes=30)
    windows = availability.overview(session, actor=doctor, days=7, now=now).windows
    assert [(w.weekday, w.start, w.end, w.slot_minutes) for w in windows] == [
        (1, time(14), time(16), 30),
        (3, time(14), time(16), 30),
    ]
    kept = session.get(Appointment, visit)
    assert kept is not None and kept.status == "booked" and kept.slot_id == slot.slot_id
    booked_slot = session.get(Slot, slot.slot_id)
    assert booked_slot is not None and booked_slot.status == "booked"
    # The old template's unbooked times are withdrawn: tomorrow (a Tuesday) now offers only
    # the new afternoon times.
    labels = [
        f.starts_at.astimezone(cfg.clinic_zone).strftime("%H:%M")
        for f in _free(session, doctor, TOMORROW, now)
    ]
    assert labels == ["14:00", "14:30", "15:00", "15:30"]


def test_new_hours_from_next_monday_keep_this_weeks_times_and_say_so_first(
    session: Session, cfg: Settings, now: datetime
) -> None:
    """Before: saving Saturday hours "valid from next Monday" withdrew the rest of this
    week's open times at once, without a word."""
    (doctor, _), _ = people(session, cfg, now)
    _template(session, doctor, cfg, now)  # weekdays 09-12 and 13-17, from today
    this_week = _free_count(session, doctor, TOMORROW, 4, now)
    assert this_week == 4 * PER_WEEKDAY
    saturdays = [WindowInput(weekday=5, start=time(10), end=time(13))]
    next_monday = TODAY + timedelta(days=7)
    change = weekly_hours.preview_weekly_template(
        session,
        actor=doctor,
        windows=saturdays,
        slot_minutes=30,
        valid_from=next_monday,
        valid_to=None,
        settings=cfg,
        now=now,
    )
    # The preview changed nothing, and says what saving will do, day by day.
    assert _free_count(session, doctor, TOMORROW, 4, now) == this_week
    assert change.days and all(d.day >= next_monday for d in change.days)
    saturday = next(d for d in change.days if d.day.weekday() == 5)
    assert (saturday.added, saturday.removed) == (6, 0)
    monday = next(d for d in change.days if d.day == next_monday)
    assert (monday.added, monday.removed) == (0, PER_WEEKDAY)
    assert change.removed == sum(d.removed for d in change.days) > 0

    created = weekly_hours.save_weekly_template(
        session,
        actor=doctor,
        windows=saturdays,
        slot_minutes=30,
        valid_from=next_monday,
        valid_to=None,
        settings=cfg,
        now=now,
    )
    session.commit()
    assert created == change.added
    assert _free_count(session, doctor, TOMORROW, 4, now) == this_week  # this week stays
    assert _free_count(session, doctor, next_monday, 5, now) == 0  # weekdays end then
    assert len(_free(session, doctor, next_monday + timedelta(days=5), now)) == 6
    windows = availability.overview(session, actor=doctor, days=7, now=now).windows
    assert {(w.valid_from, w.valid_to) for w in windows} == {
        (TODAY, next_monday - timedelta(days=1)),
        (next_monday, None),
    }


def test_new_template_keeps_slots_opened_by_hand(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, cfg, now)
    availability.open_range(
        session,
        actor=doctor,
        first=TOMORROW,
        last=TOMORROW,
        start=time(18),
        end=time(19),
        minutes=30,
        now=now,
    )
    session.commit()
    _template(session, doctor, cfg, now)
    _template(
        session,
        doctor,
        cfg,
        now,
        windows=[WindowInput(weekday=1, start=time(9), end=time(10))],
        minutes=30,
    )
    labels = [
        f.starts_at.astimezone(cfg.clinic_zone).strftime("%H:%M")
        for f in _free(session, doctor, TOMORROW, now)
    ]
    assert labels == ["09:00", "09:30", "18:00", "18:30"]


def test_template_windows_must_exist_and_not_overlap(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    overlapping = [
        WindowInput(weekday=0, start=time(9), end=time(12)),
        WindowInput(weekday=0, start=time(11, 30), end=time(13)),
    ]
    for windows in (overlapping, []):
        with pytest.raises(ValidationFailed) as err:
            _template(session, doctor, settings, now, windows=windows)
        assert set(err.value.field_errors) == {"windows"}
    session.rollback()
    assert _count(session, WeeklyWindow) == 0 and _count(session, Slot) == 0
    # The same windows on different days, or touching end to start, are fine.
    fine = [
        WindowInput(weekday=0, start=time(9), end=time(12)),
        WindowInput(weekday=0, start=time(12), end=time(13)),
        WindowInput(weekday=1, start=time(11, 30), end=time(13)),
    ]
    assert _template(session, doctor, settings, now, windows=fine) > 0
    assert len(availability.overview(session, actor=doctor, days=7, now=now).windows) == 3


def test_extending_templates_adds_new_days_once(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    created = _template(session, doctor, settings, now)
    before = search.free_days(session, doctor_id=doctor.user_id, first=TODAY, days=120, now=now)
    assert weekly_hours.extend_all_templates(session, settings=settings, now=now) == 0
    later = now + timedelta(days=7)
    added = weekly_hours.extend_all_templates(session, settings=settings, now=later)
    session.commit()
    assert added == 5 * PER_WEEKDAY  # one more working week came into the horizon
    assert weekly_hours.extend_all_templates(session, settings=settings, now=later) == 0
    session.commit()
    assert _count(session, Slot) == created + added
    after = search.free_days(session, doctor_id=doctor.user_id, first=TODAY, days=120, now=later)
    assert max(after) - max(before) == timedelta(days=7)


# --- time off ---------------------------------------------------------------------------


def test_time_off_blocks_open_slots_and_later_generation(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW)
    assert len(_free(session, doctor, TOMORROW, now)) == 12
    blocked = availability.add_time_off(
        session, actor=doctor, first=TOMORROW, last=TOMORROW, reason="Conference", now=now
    )
    session.commit()
    assert blocked == 12
    assert _free(session, doctor, TOMORROW, now) == []
    assert _open_range(session, doctor, now) == 0  # the same times again: still blocked
    # Time off on days without slots yet: later ranges and templates stay out of it.
    away = (date(2026, 3, 5), date(2026, 3, 6))  # Thursday and Friday
    none_blocked = availability.add_time_off(
        session, actor=doctor, first=away[0], last=away[1], reason="", now=now
    )
    session.commit()
    assert none_blocked == 0
    assert _open_range(session, doctor, now, first=date(2026, 3, 4), last=away[1]) == 12
    wed_to_fri = [w for w in WEEKDAYS if w.weekday >= 2]
    _template(session, doctor, settings, now, windows=wed_to_fri)
    days = search.free_days(session, doctor_id=doctor.user_id, first=TODAY, days=14, now=now)
    assert days == [date(2026, 3, 4), date(2026, 3, 11), date(2026, 3, 12), date(2026, 3, 13)]
    assert len(_free(session, doctor, date(2026, 3, 4), now)) == PER_WEEKDAY
    assert _count(session, TimeOff) == 2


def test_generation_after_time_off_over_existing_slots_stays_out(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), _ = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW)  # 09:00-12:00, then blocked by the time off
    availability.add_time_off(
        session, actor=doctor, first=TOMORROW, last=TOMORROW, reason="Conference", now=now
    )
    session.commit()
    created = _open_range(session, doctor, now, start=time(8), end=time(20))
    assert (created, _free(session, doctor, TOMORROW, now)) == (0, [])


def test_time_off_is_refused_while_a_booked_visit_falls_inside(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    slot = _free(session, doctor, TOMORROW, now)[3]
    _book(session, patient, slot.slot_id, cfg, now)
    with pytest.raises(DomainError, match="1 booked visit"):
        availability.add_time_off(
            session, actor=doctor, first=TODAY, last=TOMORROW, reason="Away", now=now
        )
    session.rollback()
    assert _count(session, TimeOff) == 0
    assert len(_free(session, doctor, TOMORROW, now)) == 11


# --- cancelling a range -----------------------------------------------------------------


def test_cancel_range_needs_a_reason(session: Session, settings: Settings, now: datetime) -> None:
    (doctor, _), _ = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW)
    for reason in ("", "   "):
        with pytest.raises(ValidationFailed) as err:
            availability.cancel_range(
                session,
                actor=doctor,
                first=TOMORROW,
                last=TOMORROW,
                reason=reason,
                settings=settings,
                now=now,
            )
        assert set(err.value.field_errors) == {"reason"}
    session.rollback()
    assert len(_free(session, doctor, TOMORROW, now)) == 12


def test_cancel_range_cancels_visits_with_the_reason_and_tells_patients(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, p3, *_) = people(session, cfg, now)
    day_after = TOMORROW + timedelta(days=1)
    for day in (TOMORROW, day_after):
        open_day(session, doctor, now, day)
    first, second = _free(session, doctor, TOMORROW, now)[2:4]
    inside = [_book(session, p, s.slot_id, cfg, now) for p, s in ((p1, first), (p2, second))]
    outside = _book(session, p3, _free(session, doctor, day_after, now)[0].slot_id, cfg, now)
    reason = "Family emergency, sorry"
    removed, cancelled = availability.cancel_range(
        session, actor=doctor, first=TOMORROW, last=TOMORROW, reason=reason, settings=cfg, now=now
    )
    session.commit()
    assert (removed, cancelled) == (10, 2)
    assert _free(session, doctor, TOMORROW, now) == []
    for visit_id in inside:
        visit = session.get(Appointment, visit_id)
        assert visit is not None
        assert (visit.status, visit.cancel_reason, visit.cancelled_by_id) == (
            "cancelled",
            reason,
            doctor.user_id,
        )
    untouched = session.get(Appointment, outside)
    assert untouched is not None and untouched.status == "booked" and not untouched.cancel_reason
    assert len(_free(session, doctor, day_after, now)) == 11
    mails = session.exec(
        select(OutboxMessage).where(OutboxMessage.kind == "appointment.cancelled")
    ).all()
    emails = {session.get(User, p.user_id).email for p in (p1, p2)}  # type: ignore[union-attr]
    assert sorted(m.recipient for m in mails) == sorted(emails)
    assert all(reason in m.body for m in mails)
    assert _count(session, Appointment) == 3


def test_cancel_range_withdraws_a_slot_freed_by_an_earlier_cancellation(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    slot = _free(session, doctor, TOMORROW, now)[0]
    visit = _book(session, patient, slot.slot_id, cfg, now)
    booking.cancel_appointment(
        session, actor=patient, appointment_id=visit, reason="Feeling better", settings=cfg, now=now
    )
    session.commit()
    assert len(_free(session, doctor, TOMORROW, now)) == 12  # the slot reopened
    availability.cancel_range(
        session,
        actor=doctor,
        first=TOMORROW,
        last=TOMORROW,
        reason="Clinic closed",
        settings=cfg,
        now=now,
    )
    session.commit()
    assert _free(session, doctor, TOMORROW, now) == []


# --- tidying ----------------------------------------------------------------------------


def test_tidy_removes_past_open_slots_but_keeps_those_with_visits(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    later_day = TOMORROW + timedelta(days=7)
    for day in (TOMORROW, later_day):
        open_day(session, doctor, now, day)
    booked, freed = _free(session, doctor, TOMORROW, now)[:2]
    _book(session, p1, booked.slot_id, cfg, now)
    gone = _book(session, p2, freed.slot_id, cfg, now)
    booking.cancel_appointment(
        session, actor=p2, appointment_id=gone, reason="x", settings=cfg, now=now
    )
    session.commit()
    assert availability.tidy_past_slots(session, now=now) == 0
    later = now + timedelta(days=2)
    assert availability.tidy_past_slots(session, now=later) == 10
    session.commit()
    left = {s.id for s in session.exec(select(Slot)).all()}
    assert {booked.slot_id, freed.slot_id} <= left and len(left) == 2 + 12
    kept = session.get(Slot, booked.slot_id)
    assert kept is not None and kept.status == "booked"
    assert len(_free(session, doctor, later_day, later)) == 12
    assert availability.tidy_past_slots(session, now=later) == 0


# --- authorization ----------------------------------------------------------------------


def test_patients_cannot_publish_or_withdraw_time(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, settings, now)
    calls = {
        "availability.open_range": lambda: availability.open_range(
            session,
            actor=patient,
            first=TOMORROW,
            last=TOMORROW,
            start=time(9),
            end=time(12),
            minutes=15,
            now=now,
        ),
        "availability.save_template": lambda: weekly_hours.save_weekly_template(
            session,
            actor=patient,
            windows=WEEKDAYS,
            slot_minutes=15,
            valid_from=TODAY,
            valid_to=None,
            settings=settings,
            now=now,
        ),
        "availability.cancel_range": lambda: availability.cancel_range(
            session,
            actor=patient,
            first=TOMORROW,
            last=TOMORROW,
            reason="mine",
            settings=settings,
            now=now,
        ),
        "availability.time_off": lambda: availability.add_time_off(
            session, actor=patient, first=TOMORROW, last=TOMORROW, reason="", now=now
        ),
    }
    for action, call in calls.items():
        with pytest.raises(NotFound):
            call()
        session.rollback()
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == "denied")
        ).all()
        assert [e.actor_id for e in denied] == [patient.user_id], action
    for model in (Slot, WeeklyWindow, TimeOff, Appointment):
        assert _count(session, model) == 0
    assert search.free_days(session, doctor_id=doctor.user_id, first=TODAY, days=90, now=now) == []


# --- time zones -------------------------------------------------------------------------


def test_a_doctor_in_vancouver_publishes_in_vancouver_time(
    session: Session, settings: Settings, now: datetime
) -> None:
    (toronto, vancouver), _ = people(session, settings, now)
    profile = session.get(DoctorProfile, vancouver.user_id)
    assert profile is not None
    profile.time_zone = "America/Vancouver"
    session.add(profile)
    session.commit()
    friday_before = date(2026, 3, 6)
    for doctor in (toronto, vancouver):
        for day in (friday_before, MONDAY_AFTER_DST):
            open_day(session, doctor, now, day)
        open_day(session, doctor, now, MONDAY_AFTER_DST, start=time(22), end=time(23))
    starts = {
        (who, day): _free(session, doctor, day, now)[0].starts_at
        for who, doctor in (("tor", toronto), ("van", vancouver))
        for day in (friday_before, MONDAY_AFTER_DST)
    }
    # 09:00 in Vancouver: PST (UTC-8) before 8 March, PDT (UTC-7) from then on.
    assert starts["van", friday_before] == datetime(2026, 3, 6, 17, tzinfo=UTC)
    assert starts["van", MONDAY_AFTER_DST] == datetime(2026, 3, 9, 16, tzinfo=UTC)
    assert starts["tor", friday_before] == datetime(2026, 3, 6, 14, tzinfo=UTC)
    assert starts["tor", MONDAY_AFTER_DST] == datetime(2026, 3, 9, 13, tzinfo=UTC)
    view = search.get_doctor(session, doctor_id=vancouver.user_id)
    assert view.time_zone == "America/Vancouver"
    monday = _free(session, vancouver, MONDAY_AFTER_DST, now)
    labels = [clock(s.starts_at, view.time_zone) for s in monday]
    assert labels[:2] == ["09:00", "09:15"] and labels[-1] == "22:45"
    assert clock(monday[0].starts_at, "America/Toronto") == "12:00"
    # 22:00 in Vancouver is already the next day in UTC and in Toronto, yet it is a Monday slot.
    assert len(monday) == 12 + 4 and monday[-1].starts_at.date() == date(2026, 3, 10)
    assert _free(session, vancouver, date(2026, 3, 10), now) == []
    assert search.free_days(
        session, doctor_id=vancouver.user_id, first=MONDAY_AFTER_DST, days=2, now=now
    ) == [MONDAY_AFTER_DST]


# --- the database's own safety net ------------------------------------------------------


def _visit(slot: search.FreeSlot, doctor: Actor, patient: Actor, now: datetime, **over: object):
    data: dict[str, object] = {
        "doctor_id": doctor.user_id,
        "patient_id": patient.user_id,
        "slot_id": slot.slot_id,
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "status": "booked",
        "format": "video",
        "consultation_type": "general",
        "reason": "Written straight to the table",
        "created_at": now,
        "updated_at": now,
    }
    data.update(over)
    return Appointment(**data)


def _mark_booked(session: Session, *slots: search.FreeSlot) -> None:
    for free in slots:
        slot = session.get(Slot, free.slot_id)
        assert slot is not None
        slot.status = "booked"
        session.add(slot)


def test_postgres_exclusion_constraint_refuses_overlapping_visits(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("exclusion constraints exist on PostgreSQL only")
    (doctor, other_doctor), (p1, p2, *_) = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW, minutes=30)
    open_day(session, other_doctor, now, TOMORROW, minutes=30)
    a, b = _free(session, doctor, TOMORROW, now)[:2]  # 09:00-09:30 and 09:30-10:00
    shifted = {
        "starts_at": a.starts_at + timedelta(minutes=15),
        "ends_at": b.ends_at - timedelta(minutes=15),
    }
    # Same doctor, different slots and patients, overlapping by 15 minutes.
    session.add_all([_visit(a, doctor, p1, now), _visit(b, doctor, p2, now, **shifted)])
    with pytest.raises(IntegrityError, match="ex_appointment_doctor_overlap"):
        session.commit()
    session.rollback()
    # Same patient with two doctors at overlapping times.
    c = _free(session, other_doctor, TOMORROW, now)[1]
    session.add_all([_visit(a, doctor, p1, now), _visit(c, other_doctor, p1, now, **shifted)])
    with pytest.raises(IntegrityError, match="ex_appointment_patient_overlap"):
        session.commit()
    session.rollback()
    assert _count(session, Appointment) == 0
    # Back to back is not an overlap: the ranges are half-open.
    session.add_all([_visit(a, doctor, p1, now), _visit(b, doctor, p2, now)])
    _mark_booked(session, a, b)
    session.commit()
    assert _count(session, Appointment) == 2


def test_two_booked_visits_at_the_same_start_are_refused(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, *_) = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW, minutes=30)
    a, b = _free(session, doctor, TOMORROW, now)[:2]
    same = {"starts_at": a.starts_at, "ends_at": a.ends_at}
    session.add_all([_visit(a, doctor, p1, now), _visit(b, doctor, p2, now, **same)])
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert _count(session, Appointment) == 0
    # The index is partial: a cancelled visit at the same start does not count.
    session.add_all(
        [_visit(a, doctor, p1, now), _visit(b, doctor, p2, now, status="cancelled", **same)]
    )
    _mark_booked(session, a)
    session.commit()
    assert _count(session, Appointment) == 2


def test_withdrawing_days_says_first_what_it_will_cancel(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    _open_range(session, doctor, now)
    free = _free(session, doctor, TOMORROW, now)
    _book(session, patient, free[0].slot_id, cfg, now)
    impact = availability.range_impact(
        session, actor=doctor, first=TOMORROW, last=TOMORROW, now=now
    )
    assert impact == availability.RangeImpact(open_times=len(free) - 1, booked_visits=1)
    # Asking changed nothing.
    assert len(_free(session, doctor, TOMORROW, now)) == len(free) - 1
    with pytest.raises(NotFound):
        availability.range_impact(session, actor=patient, first=TOMORROW, last=TOMORROW, now=now)
