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
from health_app.services.records.audit_history import AuditFilter
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
        ("visit.notes", doctor.display_name),
        ("visit.read", doctor.display_name),
    ]
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
    assert {r.action for r in by_action.items} == {"visit.read", "visit.notes"}
    denied = [r for r in by_action.items if r.outcome == "denied"]
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
    assert {"file.list", "visit.messages.read"} <= {r.action for r in page.items}
    assert (
        audit_history.list_record_access(session, actor=other_patient, page=1, now=now).total == 0
    )
