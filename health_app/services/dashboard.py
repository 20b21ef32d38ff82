"""The doctor's dashboard figures: slot counters for a range of local days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.models import Slot, SlotStatus
from health_app.services.availability import require_doctor
from health_app.services.errors import ValidationFailed
from health_app.services.views import Actor

MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Counters:
    first: date
    last: date
    all: int
    open: int
    booked: int


def slot_counters(
    session: Session, *, actor: Actor, first: date, last: date, now: datetime
) -> Counters:
    """Published (open + booked), open and booked slots starting in [first, last] (local days)."""
    doctor = require_doctor(session, actor, action="dashboard.read", now=now)
    if last < first:
        raise ValidationFailed({"last": "The end date is before the start date."})
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValidationFailed({"last": "Choose at most one year."})
    zone = ZoneInfo(doctor.time_zone)
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
