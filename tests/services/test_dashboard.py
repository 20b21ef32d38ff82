from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time

import pytest
from sqlmodel import Session

from health_app.config import Settings
from health_app.services import booking, dashboard, search
from health_app.services.errors import NotFound, ValidationFailed
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
