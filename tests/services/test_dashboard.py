from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, Outcome, User
from health_app.services.errors import NotFound, ValidationFailed
from health_app.services.records import dashboard
from health_app.services.scheduling import booking, search
from health_app.services.views import Actor
from tests.services.scheduling_helpers import open_day, people, request


def test_counters_for_a_range_of_days(session: Session, settings: Settings, now: datetime) -> None:
    cfg = replace(settings, booking_attempts_per_hour=1000, max_future_appointments=100)
    (doctor, other_doctor), (patient, *_) = people(session, cfg, now)
    for day in (date(2026, 3, 3), date(2026, 3, 4)):
        open_day(session, doctor, now, day, end=time(10))  # 4 slots a day
    for slot in search.free_times(session, doctor_id=doctor.user_id, day=date(2026, 3, 3), now=now)[
        :3
    ]:
        booking.book_appointment(
            session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
        )
    session.commit()
    one = dashboard.slot_counters(
        session, actor=doctor, first=date(2026, 3, 3), last=date(2026, 3, 3), now=now
    )
    both = dashboard.slot_counters(
        session, actor=doctor, first=date(2026, 3, 3), last=date(2026, 3, 4), now=now
    )
    assert (one.all, one.open, one.booked) == (4, 1, 3)
    assert (both.all, both.open, both.booked) == (8, 5, 3)
    assert (
        dashboard.slot_counters(
            session, actor=other_doctor, first=date(2026, 3, 3), last=date(2026, 3, 4), now=now
        ).all
        == 0
    )
    with pytest.raises(ValidationFailed):
        dashboard.slot_counters(
            session, actor=doctor, first=date(2026, 3, 4), last=date(2026, 3, 3), now=now
        )
    with pytest.raises(NotFound):
        dashboard.slot_counters(
            session, actor=patient, first=date(2026, 3, 3), last=date(2026, 3, 4), now=now
        )


def _book_first(
    session: Session, doctor: Actor, patient: Actor, day: date, cfg: Settings, now: datetime
) -> int:
    slot = search.free_times(session, doctor_id=doctor.user_id, day=day, now=now)[0]
    appt = booking.book_appointment(
        session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    return appt.id


def test_doctor_dashboard_puts_today_first_then_upcoming_and_filters(
    session: Session, settings: Settings, now: datetime
) -> None:
    cfg = replace(settings, booking_attempts_per_hour=1000, max_future_appointments=100)
    (doctor, other_doctor), (ann, bob, *_) = people(session, cfg, now)
    today = dashboard.doctor_dashboard(
        session, actor=doctor, day=None, patient_query="", now=now
    ).today
    for day in (today, today + timedelta(days=1), today + timedelta(days=8)):
        open_day(session, doctor, now, day, start=time(18), end=time(20))  # 8 slots a day
    open_day(session, other_doctor, now, today + timedelta(days=1), start=time(18), end=time(20))
    ann_today = _book_first(session, doctor, ann, today, cfg, now)
    bob_today = _book_first(session, doctor, bob, today, cfg, now)
    ann_later = _book_first(session, doctor, ann, today + timedelta(days=8), cfg, now)
    bob_tomorrow = _book_first(session, doctor, bob, today + timedelta(days=1), cfg, now)
    _book_first(session, other_doctor, ann, today + timedelta(days=1), cfg, now)
    cancelled = _book_first(session, doctor, ann, today + timedelta(days=1), cfg, now)
    booking.cancel_appointment(
        session, actor=ann, appointment_id=cancelled, reason="Better", settings=settings, now=now
    )
    session.commit()

    board = dashboard.doctor_dashboard(session, actor=doctor, day=None, patient_query="", now=now)
    assert board.day == today
    assert [v.id for v in board.day_visits] == [ann_today, bob_today]
    assert [v.id for v in board.upcoming] == [bob_tomorrow, ann_later]
    assert board.upcoming_total == 2
    # The chart: this week holds today's and tomorrow's 16 slots, next week the 8 of day 8.
    assert len(board.weeks) == dashboard.CHART_WEEKS
    assert board.weeks[0].first_day == today - timedelta(days=today.weekday())
    assert (board.weeks[0].open + board.weeks[0].booked, board.weeks[0].booked) == (16, 3)
    assert (board.weeks[1].open, board.weeks[1].booked) == (7, 1)
    assert all(w.open == w.booked == 0 for w in board.weeks[2:])

    ann_user = session.get(User, ann.user_id)
    assert ann_user is not None
    by_name = dashboard.doctor_dashboard(
        session, actor=doctor, day=None, patient_query=f"  {ann_user.last_name.upper()} ", now=now
    )
    assert [v.id for v in by_name.day_visits] == [ann_today]
    assert [v.id for v in by_name.upcoming] == [ann_later]
    nobody = dashboard.doctor_dashboard(
        session, actor=doctor, day=None, patient_query="%_", now=now
    )
    assert nobody.day_visits == () and nobody.upcoming == ()

    tomorrow = dashboard.doctor_dashboard(
        session, actor=doctor, day=today + timedelta(days=1), patient_query="", now=now
    )
    assert [v.id for v in tomorrow.day_visits] == [bob_tomorrow]  # the cancelled one is not shown
    assert tomorrow.upcoming == () and tomorrow.upcoming_total == 0


def test_doctor_dashboard_refuses_others_and_bad_filters(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, settings, now, patients=1)
    with pytest.raises(NotFound):
        dashboard.doctor_dashboard(session, actor=patient, day=None, patient_query="", now=now)
    session.rollback()
    denied = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "dashboard.read", AuditEvent.outcome == Outcome.DENIED
        )
    ).all()
    assert len(denied) == 1 and denied[0].actor_id == patient.user_id
    with pytest.raises(ValidationFailed) as bad:
        dashboard.doctor_dashboard(
            session, actor=doctor, day=date(2030, 1, 1), patient_query="x" * 101, now=now
        )
    assert set(bad.value.field_errors) == {"day", "patient"}


def test_a_new_doctor_sees_first_steps_until_they_are_done(
    session: Session, settings: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, settings, now)
    steps = dashboard.doctor_checklist(session, actor=doctor, now=now)
    assert (steps.weekly_hours, steps.free_time, steps.photo, steps.done) == (
        False,
        False,
        False,
        False,
    )
    open_day(session, doctor, now, date(2026, 3, 3))
    steps = dashboard.doctor_checklist(session, actor=doctor, now=now)
    assert steps.free_time and not steps.weekly_hours and not steps.done
    with pytest.raises(NotFound):
        dashboard.doctor_checklist(session, actor=patient, now=now)
