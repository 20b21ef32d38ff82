"""The visit record: who may read and write it, history instead of overwrites, closing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, Prescription, VisitNote
from health_app.services.errors import DomainError, NotFound, ValidationFailed
from health_app.services.records import visit_record
from health_app.services.records.visit_record import PrescriptionInput
from health_app.services.scheduling import booking, search
from health_app.services.views import Actor
from tests.services.scheduling_helpers import open_day, people, request

TOMORROW = date(2026, 3, 3)
AMOXICILLIN = PrescriptionInput(
    drug="Amoxicillin",
    strength="500 mg",
    route="oral",
    frequency="three times a day",
    duration="7 days",
    quantity="21",
    refills="0",
    instructions="Take with food. Finish the course.",
)


@pytest.fixture
def visit(session: Session, settings: Settings, now: datetime) -> tuple[Actor, Actor, Actor, int]:
    """(doctor, patient, another patient, visit id) for a visit tomorrow at 09:00 local."""
    cfg = replace(settings, booking_attempts_per_hour=1000)
    (doctor, _), (patient, other, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW)
    slot = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)[0]
    view = booking.book_appointment(
        session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    return doctor, patient, other, view.id


def test_doctor_writes_notes_and_prescriptions_patient_reads_them(
    session: Session, visit, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    doctor, patient, _, visit_id = visit
    long_note = "Throat red, no exudate. " * 400  # far beyond the prototype's 50 characters
    assert (
        visit_record.save_notes(
            session,
            actor=doctor,
            appointment_id=visit_id,
            body=long_note,
            based_on_version=0,
            now=now,
        )
        == 1
    )
    visit_record.add_prescription(
        session, actor=doctor, appointment_id=visit_id, form=AMOXICILLIN, now=now
    )
    visit_record.add_prescription(
        session,
        actor=doctor,
        appointment_id=visit_id,
        now=now,
        form=replace(
            AMOXICILLIN, drug="Ibuprofen", strength="200 mg", quantity="20", frequency="as needed"
        ),
    )
    session.commit()
    record = visit_record.get_record(session, actor=patient, appointment_id=visit_id, now=now)
    assert record.notes == long_note.strip() and not record.editable
    assert [p.drug for p in record.prescriptions] == ["Amoxicillin", "Ibuprofen"]
    assert record.notes_history == ()  # the history is for the doctor
    reads = session.exec(select(AuditEvent).where(AuditEvent.action == "visit.read")).all()
    assert [(r.actor_id, r.subject_id) for r in reads] == [(patient.user_id, patient.user_id)]


def test_notes_are_versioned_and_a_stale_save_is_refused(
    session: Session, visit, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    doctor, *_, visit_id = visit
    visit_record.save_notes(
        session,
        actor=doctor,
        appointment_id=visit_id,
        body="First draft",
        based_on_version=0,
        now=now,
    )
    visit_record.save_notes(
        session,
        actor=doctor,
        appointment_id=visit_id,
        body="Second draft",
        based_on_version=1,
        now=now + timedelta(minutes=1),
    )
    session.commit()
    with pytest.raises(DomainError, match="changed since you opened"):
        visit_record.save_notes(
            session,
            actor=doctor,
            appointment_id=visit_id,
            body="Stale tab",
            based_on_version=1,
            now=now,
        )
    session.rollback()
    record = visit_record.get_record(session, actor=doctor, appointment_id=visit_id, now=now)
    assert record.notes == "Second draft" and record.notes_version == 2
    assert [n.body for n in record.notes_history] == ["Second draft", "First draft"]


def test_editing_a_prescription_keeps_the_previous_one(
    session: Session, visit, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    doctor, *_, visit_id = visit
    first = visit_record.add_prescription(
        session, actor=doctor, appointment_id=visit_id, form=AMOXICILLIN, now=now
    )
    second = visit_record.edit_prescription(
        session,
        actor=doctor,
        appointment_id=visit_id,
        prescription_id=first,
        form=replace(AMOXICILLIN, quantity="30"),
        now=now,
    )
    session.commit()
    rows = session.exec(select(Prescription).order_by(Prescription.id)).all()
    assert [(r.id, r.quantity, r.replaced_by_id) for r in rows] == [
        (first, 21, second),
        (second, 30, None),
    ]
    with pytest.raises(DomainError, match="changed since"):
        visit_record.edit_prescription(
            session,
            actor=doctor,
            appointment_id=visit_id,
            prescription_id=first,
            form=AMOXICILLIN,
            now=now,
        )
    session.rollback()
    visit_record.remove_prescription(
        session, actor=doctor, appointment_id=visit_id, prescription_id=second, now=now
    )
    session.commit()
    assert (
        visit_record.get_record(
            session, actor=doctor, appointment_id=visit_id, now=now
        ).prescriptions
        == ()
    )
    assert len(session.exec(select(Prescription)).all()) == 2  # removed is a status, not a DELETE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", "0"),
        ("quantity", "-3"),
        ("quantity", "ten"),
        ("refills", "-1"),
        ("drug", ""),
        ("route", "by pigeon"),
        ("drug", "x" * 201),
    ],
)
def test_bad_prescriptions_are_refused(
    session: Session, visit, now: datetime, field: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    doctor, *_, visit_id = visit
    with pytest.raises(ValidationFailed) as err:
        visit_record.add_prescription(
            session,
            actor=doctor,
            appointment_id=visit_id,
            form=replace(AMOXICILLIN, **{field: value}),
            now=now,
        )
    assert set(err.value.field_errors) == {field}
    session.rollback()
    assert session.exec(select(Prescription)).all() == []


def test_patients_and_strangers_cannot_write(session: Session, visit, now: datetime) -> None:  # type: ignore[no-untyped-def]
    _, patient, other, visit_id = visit
    with pytest.raises(NotFound):
        visit_record.save_notes(
            session,
            actor=patient,
            appointment_id=visit_id,
            body="I feel fine",
            based_on_version=0,
            now=now,
        )
    for stranger in (other,):
        with pytest.raises(NotFound):
            visit_record.get_record(session, actor=stranger, appointment_id=visit_id, now=now)
        with pytest.raises(NotFound):
            visit_record.add_prescription(
                session, actor=stranger, appointment_id=visit_id, form=AMOXICILLIN, now=now
            )
    session.rollback()
    assert session.exec(select(VisitNote)).all() == []
    denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert {d.actor_id for d in denied} == {patient.user_id, other.user_id} and len(denied) == 3


def test_after_closing_corrections_are_dated_addenda_and_nothing_is_lost(
    session: Session, visit, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    """Before: after "Mark completed" nothing could be corrected. Now, as in charting
    systems, the doctor adds dated addenda; every earlier version stays."""
    doctor, patient, _, visit_id = visit
    with pytest.raises(DomainError, match="once it has started"):
        visit_record.close_visit(
            session, actor=doctor, appointment_id=visit_id, outcome="fulfilled", now=now
        )
    later = now + timedelta(days=1)  # the visit (tomorrow 09:00 local) has started
    visit_record.save_notes(
        session, actor=doctor, appointment_id=visit_id, body="Seen.", based_on_version=0, now=later
    )
    rx_id = visit_record.add_prescription(
        session, actor=doctor, appointment_id=visit_id, form=AMOXICILLIN, now=later
    )
    visit_record.close_visit(
        session, actor=doctor, appointment_id=visit_id, outcome="fulfilled", now=later
    )
    session.commit()
    with pytest.raises(DomainError, match="completed"):  # closing twice: the word, no code
        visit_record.close_visit(
            session, actor=doctor, appointment_id=visit_id, outcome="noshow", now=later
        )
    session.rollback()
    after = later + timedelta(hours=2)
    visit_record.save_notes(
        session,
        actor=doctor,
        appointment_id=visit_id,
        body="Seen. Addendum: swab result negative.",
        based_on_version=1,
        now=after,
    )
    corrected = visit_record.edit_prescription(
        session,
        actor=doctor,
        appointment_id=visit_id,
        prescription_id=rx_id,
        form=replace(AMOXICILLIN, quantity="14"),
        now=after,
    )
    session.commit()
    record = visit_record.get_record(session, actor=doctor, appointment_id=visit_id, now=after)
    assert record.visit.status == "fulfilled" and record.editable and record.closed
    assert record.notes == "Seen. Addendum: swab result negative."
    assert [(n.version, n.addendum) for n in record.notes_history] == [(2, True), (1, False)]
    assert [p.id for p in record.prescriptions] == [corrected]
    assert session.get(Prescription, rx_id).replaced_by_id == corrected  # the original stays
    # The patient reads the corrected record; only the doctor may write it.
    assert visit_record.get_record(
        session, actor=patient, appointment_id=visit_id, now=after
    ).notes.endswith("negative.")
    with pytest.raises(NotFound):
        visit_record.save_notes(
            session,
            actor=patient,
            appointment_id=visit_id,
            body="mine",
            based_on_version=2,
            now=after,
        )


def test_a_cancelled_visit_keeps_its_record_and_cannot_be_edited(
    session: Session, visit, settings: Settings, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    doctor, patient, _, visit_id = visit
    visit_record.save_notes(
        session,
        actor=doctor,
        appointment_id=visit_id,
        body="Pre-visit note",
        based_on_version=0,
        now=now,
    )
    booking.cancel_appointment(
        session,
        actor=patient,
        appointment_id=visit_id,
        reason="Better now",
        settings=settings,
        now=now,
    )
    session.commit()
    with pytest.raises(DomainError, match="cancelled"):
        visit_record.add_prescription(
            session, actor=doctor, appointment_id=visit_id, form=AMOXICILLIN, now=now
        )
    assert (
        visit_record.get_record(session, actor=patient, appointment_id=visit_id, now=now).notes
        == "Pre-visit note"
    )


def test_a_visit_completed_early_is_listed_as_past(session: Session, visit, now: datetime) -> None:  # type: ignore[no-untyped-def]
    doctor, patient, _, visit_id = visit
    started = now + timedelta(days=1)  # tomorrow 09:00 local has begun; it ends at 09:15
    visit_record.close_visit(
        session, actor=doctor, appointment_id=visit_id, outcome="fulfilled", now=started
    )
    session.commit()
    upcoming, _ = booking.list_appointments(session, actor=patient, upcoming=True, now=started)
    past, total = booking.list_appointments(session, actor=patient, upcoming=False, now=started)
    assert upcoming == [] and [v.id for v in past] == [visit_id] and total == 1


def test_history_lists_past_and_future_visits_filtered_and_paginated(
    session: Session, settings: Settings, now: datetime
) -> None:
    cfg = replace(settings, booking_attempts_per_hour=1000, max_future_appointments=100)
    (doctor, other_doctor), (patient, other, *_) = people(session, cfg, now)
    for day in (TOMORROW, date(2026, 3, 4)):
        open_day(session, doctor, now, day, end=time(13))
    slots = search.free_slots(session, doctor_id=doctor.user_id, first=TOMORROW, days=2, now=now)
    ids = []
    for slot in slots[:25]:
        ids.append(
            booking.book_appointment(
                session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
            ).id
        )
    booking.cancel_appointment(
        session,
        actor=patient,
        appointment_id=ids[0],
        reason="Changed plans",
        settings=settings,
        now=now,
    )
    session.commit()
    page1 = booking.list_history(
        session, actor=patient, status="", first=None, last=None, page=1, settings=cfg, now=now
    )
    page2 = booking.list_history(
        session, actor=patient, status="", first=None, last=None, page=2, settings=cfg, now=now
    )
    assert page1.total == 25 and len(page1.items) == 20 and len(page2.items) == 5
    assert page1.items[0].starts_at > page2.items[-1].starts_at  # newest first
    cancelled = booking.list_history(
        session,
        actor=patient,
        status="cancelled",
        first=None,
        last=None,
        page=1,
        settings=cfg,
        now=now,
    )
    assert [v.id for v in cancelled.items] == [ids[0]]
    one_day = booking.list_history(
        session,
        actor=doctor,
        status="",
        first=TOMORROW,
        last=TOMORROW,
        page=1,
        settings=cfg,
        now=now,
    )
    assert one_day.total == 16 and all(
        v.starts_at.astimezone(cfg.clinic_zone).date() == TOMORROW for v in one_day.items
    )
    for stranger in (other, other_doctor):
        assert (
            booking.list_history(
                session,
                actor=stranger,
                status="",
                first=None,
                last=None,
                page=1,
                settings=cfg,
                now=now,
            ).total
            == 0
        )


def test_a_cancelled_future_visit_is_listed_as_cancelled_not_past(
    session: Session, visit, settings: Settings, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    """Before: a cancelled visit of next week appeared under "Past visits"."""
    _doctor, patient, _, visit_id = visit
    booking.cancel_appointment(
        session,
        actor=patient,
        appointment_id=visit_id,
        reason="Feeling better",
        settings=settings,
        now=now,
    )
    session.commit()
    lists = {
        which: [
            v.id for v in booking.list_appointments(session, actor=patient, which=which, now=now)[0]
        ]
        for which in ("upcoming", "past", "cancelled")
    }
    assert lists == {"upcoming": [], "past": [], "cancelled": [visit_id]}
