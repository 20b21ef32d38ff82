"""Fast scheduling fixtures: demo people (one password hash), slots opened by the service."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, text
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.dev import demo
from health_app.models import Role, User
from health_app.services.people import display_name
from health_app.services.scheduling import availability
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
