"""Booking rules and races, on SQLite and PostgreSQL. After every test the database is swept
for overlapping active visits and for slots that disagree with their visits."""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.db import writer
from health_app.models import Appointment, AuditEvent, Slot, User
from health_app.services.access import access_appointment
from health_app.services.errors import DomainError, NotFound, ValidationFailed
from health_app.services.scheduling import booking, search
from health_app.services.scheduling.booking import SlotTaken
from tests.services.scheduling_helpers import open_day, people, request, sweep

TOMORROW = date(2026, 3, 3)


@pytest.fixture(autouse=True)
def invariant_sweep(engine: Engine) -> Iterator[None]:
    yield
    assert sweep(engine) == (0, 0)


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return replace(settings, booking_attempts_per_hour=1000, max_future_appointments=1000)


def _slots(
    session: Session, doctor_id: int, now: datetime, day: date = TOMORROW
) -> list[search.FreeSlot]:
    return search.free_times(session, doctor_id=doctor_id, day=day, now=now)


def test_book_then_the_slot_is_no_longer_free(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    free = _slots(session, doctor.user_id, now)
    assert len(free) == 12
    view = booking.book_appointment(
        session, actor=patient, request=request(free[0].slot_id), settings=cfg, now=now
    )
    session.commit()
    prefix = "https://meet.jit.si/HealthApp-"
    assert view.status == "booked" and view.join_url.startswith(prefix)
    assert len(view.join_url.removeprefix(prefix)) >= 22  # 128 random bits
    assert [s.slot_id for s in _slots(session, doctor.user_id, now)] == [
        s.slot_id for s in free[1:]
    ]
    with pytest.raises(SlotTaken):
        booking.book_appointment(
            session, actor=patient, request=request(free[0].slot_id), settings=cfg, now=now
        )


def _race(
    engine: Engine, cfg: Settings, now: datetime, slot_id: int, patients: list, results: list
) -> None:  # type: ignore[type-arg]
    barrier = threading.Barrier(len(patients))

    def attempt(actor: object) -> None:
        barrier.wait()
        started = clock.perf_counter()
        try:
            with Session(writer(engine)) as s:
                booking.book_appointment(
                    s, actor=actor, request=request(slot_id), settings=cfg, now=now
                )  # type: ignore[arg-type]
                s.commit()
            outcome = "won"
        except SlotTaken:
            outcome = "taken"
        except Exception as exc:  # anything else is a failure of the guard
            outcome = f"error: {type(exc).__name__}: {exc}"
        results.append((outcome, clock.perf_counter() - started))

    threads = [threading.Thread(target=attempt, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_twenty_patients_race_for_one_slot_twenty_five_times(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), patients = people(session, cfg, now, patients=20)
    open_day(session, doctor, now, TOMORROW, end=time(16))
    slots = _slots(session, doctor.user_id, now)[:25]
    assert len(slots) == 25
    session.close()
    slowest = 0.0
    for slot in slots:
        results: list[tuple[str, float]] = []
        _race(engine, cfg, now, slot.slot_id, patients, results)
        outcomes = [o for o, _ in results]
        assert outcomes.count("won") == 1, [o for o in outcomes if o != "taken"]
        assert outcomes.count("taken") == 19, [o for o in outcomes if o != "taken"]
        slowest = max(slowest, *(t for _, t in results))
    assert slowest < 2.0, f"slowest attempt took {slowest:.2f}s"
    with Session(engine) as s:
        assert len(s.exec(select(Appointment)).all()) == 25


def test_overlapping_different_starts_are_refused(
    session: Session, cfg: Settings, now: datetime
) -> None:
    """A 30-minute visit at 9:00 blocks a 15-minute slot at 9:15 added later, for any path."""
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW, minutes=30, end=time(9, 30))
    first = _slots(session, doctor.user_id, now)[0]
    booking.book_appointment(
        session, actor=p1, request=request(first.slot_id), settings=cfg, now=now
    )
    session.commit()
    # Force an overlapping slot past the generator's overlap check, as a buggy path might.
    rogue = Slot(
        doctor_id=doctor.user_id,
        starts_at=first.starts_at + timedelta(minutes=15),
        ends_at=first.starts_at + timedelta(minutes=30),
        status="open",
    )
    session.add(rogue)
    session.commit()
    with pytest.raises(SlotTaken):
        booking.book_appointment(
            session, actor=p2, request=request(rogue.id), settings=cfg, now=now
        )  # type: ignore[arg-type]
    session.rollback()
    session.delete(session.get(Slot, rogue.id))
    session.commit()


def test_back_to_back_visits_both_succeed(session: Session, cfg: Settings, now: datetime) -> None:
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    a, b = _slots(session, doctor.user_id, now)[:2]
    assert a.ends_at == b.starts_at
    booking.book_appointment(session, actor=p1, request=request(a.slot_id), settings=cfg, now=now)
    booking.book_appointment(session, actor=p2, request=request(b.slot_id), settings=cfg, now=now)
    session.commit()
    # and the same patient back to back is fine too
    c = _slots(session, doctor.user_id, now)[0]
    booking.book_appointment(session, actor=p2, request=request(c.slot_id), settings=cfg, now=now)
    session.commit()


def test_reschedule_onto_a_taken_slot_leaves_the_visit_intact(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    a, b, c = _slots(session, doctor.user_id, now)[:3]
    mine = booking.book_appointment(
        session, actor=p1, request=request(a.slot_id), settings=cfg, now=now
    )
    booking.book_appointment(session, actor=p2, request=request(b.slot_id), settings=cfg, now=now)
    session.commit()
    with pytest.raises(SlotTaken):
        booking.reschedule_appointment(
            session, actor=p1, appointment_id=mine.id, new_slot_id=b.slot_id, settings=cfg, now=now
        )
    session.rollback()
    kept = session.get(Appointment, mine.id)
    assert kept.slot_id == a.slot_id and kept.status == "booked"
    moved = booking.reschedule_appointment(
        session, actor=p1, appointment_id=mine.id, new_slot_id=c.slot_id, settings=cfg, now=now
    )
    session.commit()
    assert moved.id == mine.id and moved.starts_at == c.starts_at
    assert a.slot_id in [s.slot_id for s in _slots(session, doctor.user_id, now)]


def test_cancel_keeps_the_record_and_the_slot_can_be_rebooked(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    slot = _slots(session, doctor.user_id, now)[0]
    visit = booking.book_appointment(
        session, actor=p1, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    with pytest.raises(ValidationFailed):
        booking.cancel_appointment(
            session, actor=p1, appointment_id=visit.id, reason=" ", settings=cfg, now=now
        )
    booking.cancel_appointment(
        session, actor=p1, appointment_id=visit.id, reason="Feeling better", settings=cfg, now=now
    )
    session.commit()
    record = session.get(Appointment, visit.id)
    assert (record.status, record.cancel_reason, record.cancelled_by_id) == (
        "cancelled",
        "Feeling better",
        p1.user_id,
    )
    again = booking.book_appointment(
        session, actor=p2, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    assert again.id != visit.id and session.get(Appointment, visit.id).status == "cancelled"


def test_one_patient_cannot_be_with_two_doctors_at_once(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (d1, d2), (patient, *_) = people(session, cfg, now)
    open_day(session, d1, now, TOMORROW)
    open_day(session, d2, now, TOMORROW)
    a = _slots(session, d1.user_id, now)[0]
    b = _slots(session, d2.user_id, now)[0]
    assert a.starts_at == b.starts_at
    booking.book_appointment(
        session, actor=patient, request=request(a.slot_id), settings=cfg, now=now
    )
    session.commit()
    with pytest.raises(DomainError, match="already have a visit"):
        booking.book_appointment(
            session, actor=patient, request=request(b.slot_id), settings=cfg, now=now
        )


def test_patient_notice_limit_and_visit_start(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    today = now.astimezone(cfg.clinic_zone).date()
    open_day(session, doctor, now, today, start=time(10, 30), end=time(11))
    slot = _slots(session, doctor.user_id, now, today)[0]  # 10:30 local, now is 10:00
    visit = booking.book_appointment(
        session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    with pytest.raises(DomainError, match="Please call the clinic"):
        booking.cancel_appointment(
            session, actor=patient, appointment_id=visit.id, reason="busy", settings=cfg, now=now
        )
    session.rollback()
    # The doctor is not bound by the patient notice...
    booking.cancel_appointment(
        session, actor=doctor, appointment_id=visit.id, reason="Emergency", settings=cfg, now=now
    )
    session.commit()
    # ...and past slots are not offered.
    assert _slots(session, doctor.user_id, now + timedelta(hours=1), today) == []


def test_other_people_cannot_see_or_cancel_a_visit(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (d1, d2), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, d1, now, TOMORROW)
    slot = _slots(session, d1.user_id, now)[0]
    visit = booking.book_appointment(
        session, actor=p1, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    for intruder in (p2, d2):
        with pytest.raises(NotFound):
            booking.cancel_appointment(
                session, actor=intruder, appointment_id=visit.id, reason="x", settings=cfg, now=now
            )
        with pytest.raises(NotFound):
            access_appointment(
                session,
                actor=intruder,
                appointment_id=visit.id,
                action="appointment.read",
                now=now,
            )
    assert session.get(Appointment, visit.id).status == "booked"
    denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert len(denied) == 4
    with pytest.raises(NotFound):
        booking.book_appointment(
            session, actor=d2, request=request(slot.slot_id), settings=cfg, now=now
        )


def test_bad_booking_input_changes_nothing(session: Session, cfg: Settings, now: datetime) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    slot = _slots(session, doctor.user_id, now)[0]
    with pytest.raises(ValidationFailed) as err:
        booking.book_appointment(
            session,
            actor=patient,
            request=request(
                slot.slot_id, format="carrier-pigeon", consultation_type="brain-surgery", reason=""
            ),
            settings=cfg,
            now=now,
        )
    assert set(err.value.field_errors) == {"format", "consultation_type", "reason"}
    session.rollback()
    assert session.exec(select(Appointment)).all() == []
    assert len(_slots(session, doctor.user_id, now)) == 12


def test_phone_visit_needs_a_phone_number(session: Session, cfg: Settings, now: datetime) -> None:
    from health_app.models import User

    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    user = session.get(User, patient.user_id)
    user.phone = ""
    session.add(user)
    session.commit()
    slot = _slots(session, doctor.user_id, now)[0]
    with pytest.raises(ValidationFailed) as err:
        booking.book_appointment(
            session,
            actor=patient,
            request=request(slot.slot_id, format="phone"),
            settings=cfg,
            now=now,
        )
    assert "phone number" in err.value.field_errors["format"]


def test_future_visit_cap_and_attempt_rate_limit(
    session: Session, settings: Settings, now: datetime
) -> None:
    from health_app.services.errors import Throttled

    (doctor, _), (patient, *_) = people(session, settings, now)
    open_day(session, doctor, now, TOMORROW, end=time(17))
    slots = _slots(session, doctor.user_id, now)
    for slot in slots[: settings.max_future_appointments]:
        booking.book_appointment(
            session, actor=patient, request=request(slot.slot_id), settings=settings, now=now
        )
        session.commit()
    with pytest.raises(DomainError, match="at most 5 upcoming"):
        booking.book_appointment(
            session, actor=patient, request=request(slots[10].slot_id), settings=settings, now=now
        )
    session.rollback()
    tight = replace(settings, booking_attempts_per_hour=6)
    with pytest.raises(Throttled):
        booking.book_appointment(
            session, actor=patient, request=request(slots[10].slot_id), settings=tight, now=now
        )


def test_a_deactivated_doctors_open_slot_cannot_be_booked(
    session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, date(2026, 3, 3), end=time(10))
    slot = search.free_times(session, doctor_id=doctor.user_id, day=date(2026, 3, 3), now=now)[0]
    user = session.get(User, doctor.user_id)
    assert user is not None
    user.deactivated_at = now
    session.add(user)
    session.commit()
    with pytest.raises(SlotTaken):
        booking.book_appointment(
            session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
        )
    session.rollback()
    assert session.exec(select(Appointment)).all() == []


def test_a_booking_writes_everything_in_a_few_statements(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    """PostgreSQL: BEGIN, locks, facts, the guarded write, the outbox rows, COMMIT (six
    round trips, four of them statements); SQLite: BEGIN, facts, the write as three
    statements (slot, visit, audit rows), the outbox rows."""
    from sqlalchemy import event

    from health_app.models import OutboxMessage

    (doctor, _), (patient, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    free = _slots(session, doctor.user_id, now)
    session.commit()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        view = booking.book_appointment(
            session, actor=patient, request=request(free[3].slot_id), settings=cfg, now=now
        )
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == (4 if engine.dialect.name == "postgresql" else 6), statements
    appt = session.get(Appointment, view.id)
    assert appt is not None and appt.status == "booked" and appt.slot_id == free[3].slot_id
    slot = session.get(Slot, free[3].slot_id)
    assert slot is not None and slot.status == "booked"
    audit = session.exec(
        select(AuditEvent.action, AuditEvent.object_id).where(
            AuditEvent.actor_id == patient.user_id
        )
    ).all()
    assert sorted(audit) == [("appointment.book", str(view.id)), ("appointment.book_attempt", "")]
    messages = session.exec(
        select(OutboxMessage.kind, OutboxMessage.recipient_user_id).where(
            OutboxMessage.appointment_id == view.id
        )
    ).all()
    kind = "appointment.booked"
    assert (kind, patient.user_id) in messages and (kind, doctor.user_id) in messages
    assert view.doctor_name.startswith("Dr. ") and view.patient_name == patient.display_name
