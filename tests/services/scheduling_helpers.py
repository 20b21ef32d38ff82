"""Fast scheduling fixtures: demo people (one password hash), slots opened by the service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, text
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.dev import demo
from health_app.models import Role, User
from health_app.services.people import display_name
from health_app.services.records import dashboard
from health_app.services.scheduling import availability, booking, search
from health_app.services.scheduling.booking import BookingRequest
from health_app.services.views import Actor

OVERLAP_SWEEP = text("""
    SELECT count(*) FROM appointment a JOIN appointment b
      ON a.id < b.id AND a.status = 'booked' AND b.status = 'booked'
     AND (a.doctor_id = b.doctor_id OR a.patient_id = b.patient_id)
     AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
""")
SLOT_SWEEP = text("""
    SELECT count(*) FROM slot s WHERE (s.status = 'booked') <> EXISTS (
      SELECT 1 FROM appointment a WHERE a.slot_id = s.id AND a.status = 'booked')
""")


def sweep(engine: Engine) -> tuple[int, int]:
    """(overlapping active visits, slots whose status disagrees with their visits): both 0."""
    with engine.connect() as conn:
        return conn.execute(OVERLAP_SWEEP).scalar_one(), conn.execute(SLOT_SWEEP).scalar_one()


def actor_for(user: User) -> Actor:
    assert user.id is not None
    return Actor(user_id=user.id, role=user.role, display_name=display_name(user))


def people(
    session: Session, settings: Settings, now: datetime, *, doctors: int = 2, patients: int = 20
) -> tuple[list[Actor], list[Actor]]:
    demo.seed_demo(
        session, settings=settings, now=now - timedelta(days=30), doctors=doctors, patients=patients
    )
    session.commit()
    users = session.exec(select(User).order_by(User.id)).all()
    return (
        [actor_for(u) for u in users if u.role == Role.DOCTOR],
        [actor_for(u) for u in users if u.role == Role.PATIENT],
    )


def open_day(
    session: Session,
    doctor: Actor,
    now: datetime,
    day: date,
    *,
    start: time = time(9),
    end: time = time(12),
    minutes: int = 15,
) -> None:
    availability.open_range(
        session, actor=doctor, first=day, last=day, start=start, end=end, minutes=minutes, now=now
    )
    session.commit()


def request(slot_id: int, **over: str) -> BookingRequest:
    data = {
        "format": "video",
        "consultation_type": "general",
        "reason": "Sore throat for three days",
    }
    data.update(over)
    return BookingRequest(slot_id=slot_id, **data)


def _book_day(
    session: Session, doctor: Actor, patient: Actor, day: date, cfg: Settings, now: datetime
) -> list[int]:
    ids = []
    for slot in search.free_times(session, doctor_id=doctor.user_id, day=day, now=now):
        ids.append(
            booking.book_appointment(
                session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
            ).id
        )
    session.commit()
    return ids


def _cancel(session: Session, who: Actor, visit_id: int, settings: Settings, now: datetime) -> None:
    booking.cancel_appointment(
        session,
        actor=who,
        appointment_id=visit_id,
        reason="Plans changed",
        settings=settings,
        now=now,
    )
    session.commit()


def clinic_with_visits(
    session: Session, settings: Settings, now: datetime
) -> tuple[Actor, Actor, Actor, date, datetime]:
    """A doctor with 3 days of 8 visits of one patient (the first day's cancelled in part),
    another patient with none; and a moment on the second day, when the first is past."""
    cfg = replace(settings, booking_attempts_per_hour=1000, max_future_appointments=100)
    (doctor, _), (ann, bob, *_) = people(session, cfg, now)
    zone = ZoneInfo(dashboard.doctor_facts(session, actor=doctor, now=now).time_zone)
    today = now.astimezone(zone).date()
    first = today + timedelta(days=1)
    booked: list[int] = []
    for d in range(3):
        open_day(session, doctor, now, first + timedelta(days=d), start=time(18), end=time(20))
        booked += _book_day(session, doctor, ann, first + timedelta(days=d), cfg, now)
    for visit_id in (booked[1], booked[5], booked[12]):
        _cancel(session, ann, visit_id, settings, now)
    later = datetime.combine(first + timedelta(days=1), time(12), tzinfo=now.tzinfo)
    return doctor, ann, bob, first, later


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """The statements the session sends meanwhile."""
    seen: list[str] = []
    conn = session.connection()

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(conn, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(conn, "before_cursor_execute", note)
