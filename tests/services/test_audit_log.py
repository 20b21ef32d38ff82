"""The audit pages: admins see and filter everything; a patient sees who touched their record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from health_app.config import Settings
from health_app.services.errors import NotFound
from health_app.services.files import visit_files
from health_app.services.files.local_storage import LocalStorage
from health_app.services.messaging import delivery_status
from health_app.services.records import audit_history, visit_record
from health_app.services.records.audit_history import AuditFilter, action_words
from health_app.services.scheduling import booking, search
from tests.factories import make_admin
from tests.services.scheduling_helpers import actor_for, open_day, people, request

TOMORROW = date(2026, 3, 3)


@pytest.fixture
def world(session: Session, settings: Settings, now: datetime):  # type: ignore[no-untyped-def]
    cfg = replace(settings, booking_attempts_per_hour=1000)
    (doctor, other_doctor), (patient, other_patient, *_) = people(session, cfg, now)
    admin = actor_for(make_admin(session, now, email="boss@example.com"))
    open_day(session, doctor, now, TOMORROW)
    slot = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)[0]
    visit = booking.book_appointment(
        session, actor=patient, request=request(slot.slot_id), settings=cfg, now=now
    )
    session.commit()
    later = now + timedelta(hours=1)
    visit_record.get_record(session, actor=doctor, appointment_id=visit.id, now=later)
    visit_record.save_notes(
        session, actor=doctor, appointment_id=visit.id, body="Seen", based_on_version=0, now=later
    )
    visit_record.get_record(session, actor=patient, appointment_id=visit.id, now=later)
    session.commit()
    with pytest.raises(NotFound):
        visit_record.get_record(session, actor=other_doctor, appointment_id=visit.id, now=later)
    return admin, doctor, other_doctor, patient, other_patient, visit.id


def test_a_patient_sees_who_read_or_changed_their_record(
    session: Session, world, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    _, doctor, _, patient, other_patient, _ = world
    page = audit_history.list_record_access(session, actor=patient, page=1, now=now)
    assert [(r.action, r.actor.split(" (")[0]) for r in page.items] == [
        (action_words("visit.notes"), doctor.display_name),
        (action_words("visit.read"), doctor.display_name),
    ]
    assert page.items[0].action == "wrote visit notes"  # words, never codes
    assert all("(doctor)" in r.actor for r in page.items)  # their own reads are not listed
    assert (
        audit_history.list_record_access(session, actor=other_patient, page=1, now=now).total == 0
    )


def test_admins_filter_the_log_and_others_are_refused(
    session: Session, world, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    admin, doctor, other_doctor, patient, _, visit_id = world
    everything = audit_history.list_events(
        session, actor=admin, query=AuditFilter(), page=1, now=now
    )
    assert everything.total >= 6
    by_action = audit_history.list_events(
        session, actor=admin, query=AuditFilter(action="visit."), page=1, now=now
    )
    assert {r.action for r in by_action.items} == {
        action_words("visit.read"),
        action_words("visit.notes"),
    }
    denied = [r for r in by_action.items if r.outcome == "refused"]
    assert [r.actor.split(" (")[0] for r in denied] == [other_doctor.display_name]
    by_patient = audit_history.list_events(
        session,
        actor=admin,
        query=AuditFilter(patient=patient.display_name.split()[-1].lower()),
        page=1,
        now=now,
    )
    assert by_patient.total >= 3 and all(
        r.subject.startswith(patient.display_name) for r in by_patient.items
    )
    by_user = audit_history.list_events(
        session, actor=admin, query=AuditFilter(user=doctor.display_name), page=1, now=now
    )
    assert by_user.items and all(r.actor.startswith(doctor.display_name) for r in by_user.items)
    nothing = audit_history.list_events(
        session, actor=admin, query=AuditFilter(first=date(2027, 1, 1)), page=1, now=now
    )
    assert nothing.total == 0
    for intruder in (doctor, patient):
        with pytest.raises(NotFound):
            audit_history.list_events(session, actor=intruder, query=AuditFilter(), page=1, now=now)
    with pytest.raises(NotFound):
        audit_history.list_record_access(session, actor=doctor, page=1, now=now)
    del visit_id


def test_file_and_message_reads_show_in_who_looked_at_my_record(
    session: Session, settings: Settings, world, now: datetime, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _, doctor, _, patient, other_patient, visit_id = world
    storage = LocalStorage(tmp_path / "files", tmp_path / "public", secret="test-secret")
    visit_files.list_files(
        session,
        actor=doctor,
        appointment_id=visit_id,
        settings=settings,
        storage=storage,
        now=now,
    )
    delivery_status.list_visit_messages(session, actor=doctor, appointment_id=visit_id, now=now)
    session.commit()
    page = audit_history.list_record_access(session, actor=patient, page=1, now=now)
    assert {action_words("file.list"), action_words("visit.messages.read")} <= {
        r.action for r in page.items
    }
    assert (
        audit_history.list_record_access(session, actor=other_patient, page=1, now=now).total == 0
    )


def test_repeated_reads_are_one_line_with_a_count(session: Session, world, now: datetime) -> None:  # type: ignore[no-untyped-def]
    """Before: one visit opened 23 times made 23 rows on "who looked at my record"."""
    _, doctor, _, patient, _, visit_id = world
    for minute in range(5):
        visit_record.get_record(
            session, actor=doctor, appointment_id=visit_id, now=now + timedelta(minutes=minute)
        )
    session.commit()
    page = audit_history.list_record_access(session, actor=patient, page=1, now=now)
    reads = [r for r in page.items if r.action == action_words("visit.read")]
    assert len(reads) == 1 and reads[0].times == 6 and reads[0].object == f"visit {visit_id}"


def test_an_approval_names_the_doctor_approved(
    session: Session, settings: Settings, world, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    from health_app.services.accounts import admin as accounts_admin
    from health_app.services.accounts import registration
    from tests.factories import doctor_form

    boss, *_ = world
    registration.apply_doctor(
        session, form=doctor_form(last_name="Okafor"), settings=settings, now=now
    )
    session.commit()
    pending = accounts_admin.list_doctor_applications(
        session, actor=boss, status="pending", page=1, now=now
    ).items[0]
    accounts_admin.approve_doctor(
        session, actor=boss, doctor_id=pending.user_id, settings=settings, now=now
    )
    session.commit()
    log = audit_history.list_events(
        session, actor=boss, query=AuditFilter(action="admin.approve"), page=1, now=now
    )
    assert [(r.action, r.subject.split(" (")[0]) for r in log.items] == [
        ("approved a doctor's application", pending.name)
    ]
