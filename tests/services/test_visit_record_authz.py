"""A doctor cannot reach another visit's prescription through one of their own visits."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import AuditEvent, Prescription
from health_app.services.errors import NotFound
from health_app.services.records import visit_record
from health_app.services.records.visit_record import PrescriptionInput
from health_app.services.scheduling import booking, search
from tests.services.scheduling_helpers import open_day, people, request

TOMORROW = date(2026, 3, 3)
RX = PrescriptionInput(
    drug="Amoxicillin",
    strength="500 mg",
    route="oral",
    frequency="three times a day",
    duration="7 days",
    quantity="21",
    refills="0",
    instructions="",
)


@pytest.mark.parametrize("change", ["edit", "remove"])
def test_own_visit_id_with_another_visits_prescription_is_refused_and_audited(
    session: Session, settings: Settings, now: datetime, change: str
) -> None:
    cfg = replace(settings, booking_attempts_per_hour=1000)
    (doc_a, doc_b), (pat_a, pat_b, *_) = people(session, cfg, now, doctors=2, patients=2)
    visits = {}
    for doctor, patient in ((doc_a, pat_a), (doc_b, pat_b)):
        open_day(session, doctor, now, TOMORROW)
        slot = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)[0]
        visits[doctor.user_id] = booking.book_appointment(
            session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
        ).id
        session.commit()
    theirs = visit_record.add_prescription(
        session, actor=doc_b, appointment_id=visits[doc_b.user_id], form=RX, now=now
    )
    session.commit()
    before = [(p.id, p.replaced_by_id, p.removed_at) for p in session.exec(select(Prescription))]

    with pytest.raises(NotFound):
        if change == "edit":
            visit_record.edit_prescription(
                session,
                actor=doc_a,
                appointment_id=visits[doc_a.user_id],
                prescription_id=theirs,
                form=replace(RX, drug="Placebo"),
                now=now,
            )
        else:
            visit_record.remove_prescription(
                session,
                actor=doc_a,
                appointment_id=visits[doc_a.user_id],
                prescription_id=theirs,
                now=now,
            )
    session.rollback()

    after = [(p.id, p.replaced_by_id, p.removed_at) for p in session.exec(select(Prescription))]
    assert after == before
    denied = session.exec(
        select(AuditEvent).where(AuditEvent.outcome == "denied").order_by(col(AuditEvent.id))
    ).all()
    assert [(d.actor_id, d.action, d.object_type, d.object_id) for d in denied] == [
        (doc_a.user_id, "visit.prescribe", "prescription", str(theirs))
    ]
