"""Notifications and reminders, on SQLite and PostgreSQL, with a frozen clock.

Messages are delivered through the development senders (the dev mailbox), so what a
person would find in their inbox is what these tests read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import (
    AuditEvent,
    DevMailboxMessage,
    DoctorProfile,
    LoginFailure,
    OutboxLease,
    OutboxMessage,
    Slot,
    User,
)
from health_app.services import operations
from health_app.services.accounts import registration
from health_app.services.errors import DomainError, NotFound
from health_app.services.jobs.scheduler import LeaderLock, run_tick
from health_app.services.messaging import delivery_status, outbox
from health_app.services.messaging.mailer import DevMailboxMailer
from health_app.services.messaging.outbox import DeliveryReport, Senders, deliver_due
from health_app.services.messaging.sms import DevSms
from health_app.services.scheduling import availability, booking
from health_app.services.views import Actor
from tests.factories import last_link, make_admin, patient_form
from tests.services.scheduling_helpers import actor_for, people, request

TORONTO = ZoneInfo("America/Toronto")


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return replace(settings, booking_attempts_per_hour=1000, max_future_appointments=1000)


def senders(engine: Engine, cfg: Settings) -> Senders:
    return Senders(DevMailboxMailer(engine), DevSms(engine), cfg)


def tick(engine: Engine, cfg: Settings, now: datetime) -> DeliveryReport:
    return deliver_due(engine, senders(engine, cfg), now=now)


def open_at(session: Session, doctor: Actor, starts_at: datetime, *, now: datetime) -> int:
    """A 15-minute slot at `starts_at` (UTC), opened through the service; its id."""
    profile = session.get(DoctorProfile, doctor.user_id)
    assert profile is not None
    local = starts_at.astimezone(ZoneInfo(profile.time_zone))
    availability.open_slot(
        session, actor=doctor, day=local.date(), start=local.time(), minutes=15, now=now
    )
    session.commit()
    return session.exec(
        select(Slot.id).where(Slot.doctor_id == doctor.user_id, Slot.starts_at == starts_at)
    ).one()


def book_at(
    session: Session,
    cfg: Settings,
    doctor: Actor,
    patient: Actor,
    starts_at: datetime,
    *,
    now: datetime,
    visit_format: str = "video",
) -> int:
    """Open a 15-minute slot at `starts_at` (UTC) and book it as `patient` at `now`."""
    slot_id = open_at(session, doctor, starts_at, now=now)
    view = booking.book_appointment(
        session,
        actor=patient,
        request=request(slot_id, format=visit_format),
        settings=cfg,
        now=now,
    )
    session.commit()
    return view.id


def fresh(session: Session) -> None:
    """End the test's read snapshot: delivery wrote through other connections."""
    session.commit()
    session.expire_all()


def rows(session: Session, appointment_id: int) -> list[OutboxMessage]:
    fresh(session)
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.appointment_id == appointment_id)
            .order_by(col(OutboxMessage.id))
        )
    )


def states(session: Session, appointment_id: int, kind: str) -> list[str]:
    return sorted(r.status for r in rows(session, appointment_id) if r.kind == kind)


def inbox(session: Session, contains: str = "") -> list[DevMailboxMessage]:
    fresh(session)
    found = session.exec(select(DevMailboxMessage).order_by(col(DevMailboxMessage.id))).all()
    return [m for m in found if contains in m.subject or contains in m.body]


R24, R15 = outbox.reminder_kind(1440), outbox.reminder_kind(15)


def test_booking_writes_confirmations_with_ics_and_reminders(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    starts = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, starts, now=now)
    made = rows(session, visit)
    assert sorted((r.kind, r.channel) for r in made) == sorted(
        [(outbox.BOOKED, "email")] * 2 + [(R24, "email")] * 2 + [(R15, "email")] * 2
    )
    due = {(r.kind, r.recipient_user_id): r.due_at for r in made}
    assert due[(R24, patient.user_id)] == starts - timedelta(hours=24)
    assert due[(R15, doctor.user_id)] == starts - timedelta(minutes=15)

    assert tick(engine, cfg, now).sent == 2
    patient_mail = session.get(User, patient.user_id)
    assert patient_mail is not None
    [mail] = [m for m in inbox(session) if m.recipient == patient_mail.email]
    assert mail.attachment_name == "visit.ics"
    event = icalendar.Calendar.from_ical(mail.attachment).walk("VEVENT")[0]
    assert event.decoded("dtstart") == starts
    assert event.decoded("dtend") == starts + timedelta(minutes=15)
    assert str(event["summary"]).startswith("Video visit with Dr. ")
    assert f"visit?id={visit}" in mail.body and "Join: https://meet.jit.si/HealthApp-" in mail.body
    # Nothing clinical: not the reason for the visit, not the consultation type.
    for m in inbox(session):
        assert "Sore throat" not in m.body + m.attachment
        assert "General" not in m.body + m.attachment
    # A second tick sends nothing more: each message once.
    assert tick(engine, cfg, now + timedelta(minutes=1)).sent == 0


def test_a_failed_booking_leaves_no_message(session: Session, cfg: Settings, now: datetime) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    slot_id = open_at(session, doctor, now + timedelta(days=1), now=now)
    booking.book_appointment(
        session, actor=patient, request=request(slot_id), settings=cfg, now=now
    )
    session.rollback()  # the transaction that would have booked it
    assert session.exec(select(OutboxMessage)).all() == []


def test_text_is_in_each_recipients_zone(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    profile = session.get(DoctorProfile, doctor.user_id)
    assert profile is not None
    profile.time_zone = "America/Vancouver"
    session.add(profile)
    session.commit()
    starts = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 Toronto, 07:00 Vancouver
    slot_id = open_at(session, doctor, starts, now=now)
    booking.book_appointment(
        session, actor=patient, request=request(slot_id), settings=cfg, now=now
    )
    session.commit()
    tick(engine, cfg, now)
    by_user = {m.recipient: m.body for m in inbox(session) if m.subject.startswith("Visit booked")}
    doctor_email = session.get(User, doctor.user_id).email  # type: ignore[union-attr]
    patient_email = session.get(User, patient.user_id).email  # type: ignore[union-attr]
    assert "Wednesday 4 March 2026 at 07:00 PST" in by_user[doctor_email]
    assert "Wednesday 4 March 2026 at 10:00 EST" in by_user[patient_email]


def test_preferences_decide_the_channels_and_sms_says_who_calls(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    session.execute(
        update(User)
        .where(col(User.id) == patient.user_id)
        .values(notify_email=False, notify_sms=True)
    )
    session.commit()
    visit = book_at(
        session, cfg, doctor, patient, now + timedelta(days=2), now=now, visit_format="phone"
    )
    by_person = {(r.recipient_user_id, r.channel, r.kind) for r in rows(session, visit)}
    assert (patient.user_id, "email", outbox.BOOKED) not in by_person
    assert (patient.user_id, "sms", outbox.BOOKED) in by_person
    assert (patient.user_id, "sms", R15) in by_person
    assert (doctor.user_id, "email", outbox.BOOKED) in by_person
    tick(engine, cfg, now)
    [sms] = [m for m in inbox(session) if m.channel == "sms"]
    phone = session.get(User, patient.user_id).phone  # type: ignore[union-attr]
    assert sms.recipient == phone and sms.subject == ""
    assert "will call you at" in sms.body and phone in sms.body
    assert len(sms.body) <= 160 * 2  # short: at most two SMS segments


def test_a_channel_turned_off_after_booking_is_skipped(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    starts = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, starts, now=now)
    tick(engine, cfg, now)
    session.execute(
        update(User)
        .where(col(User.id) == patient.user_id)
        .values(notify_email=False, notify_sms=True)
    )
    session.commit()
    tick(engine, cfg, starts - timedelta(hours=24))
    patient_24 = [r for r in rows(session, visit) if r.kind == R24]
    assert sorted(r.status for r in patient_24) == ["sent", "skipped"]
    skipped = next(r for r in patient_24 if r.status == "skipped")
    assert skipped.recipient_user_id == patient.user_id
    assert skipped.last_error == "channel turned off by the person"


def test_cancel_before_the_reminder_sends_no_reminder(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    starts = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, starts, now=now)
    tick(engine, cfg, now)
    booking.cancel_appointment(
        session,
        actor=patient,
        appointment_id=visit,
        reason="Feeling better",
        now=now + timedelta(hours=1),
        settings=cfg,
    )
    session.commit()
    assert states(session, visit, R24) == ["cancelled", "cancelled"]
    assert states(session, visit, R15) == ["cancelled", "cancelled"]
    for at in (
        now + timedelta(hours=1),
        starts - timedelta(hours=24),
        starts - timedelta(minutes=15),
    ):
        tick(engine, cfg, at)
    assert inbox(session, "Reminder") == []
    cancelled = inbox(session, "Visit cancelled")
    assert len(cancelled) == 2
    assert all("Reason: Feeling better" in m.body for m in cancelled)
    assert all("METHOD:CANCEL" in m.attachment for m in cancelled)
    doctor_mail = next(m for m in cancelled if "cancelled by the patient" in m.body)
    assert doctor_mail.recipient == session.get(User, doctor.user_id).email  # type: ignore[union-attr]


def test_a_message_being_sent_is_leased_not_rewritten_and_a_cancel_cannot_call_it_back(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    admin = actor_for(make_admin(session, now))
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
    claimed, skipped = outbox.claim_batch(engine, now=now, limit=100, settings=cfg)
    assert skipped == 0 and {c.kind for c in claimed} == {outbox.BOOKED}
    patient_copy = next(c for c in claimed if c.user_id == patient.user_id)
    # The message rows are as they were; each has a lease with the attempt in flight.
    assert {(r.status, r.attempts) for r in rows(session, visit)} == {("pending", 0)}
    leases = session.exec(select(OutboxLease)).all()
    assert sorted(lease.message_id for lease in leases) == sorted(c.id for c in claimed)
    assert {lease.attempts for lease in leases} == {1}
    # A second sender claiming at the same moment gets none of them.
    assert outbox.claim_batch(engine, now=now, limit=100, settings=cfg) == ([], 0)
    shown = delivery_status.list_visit_messages(
        session, actor=doctor, appointment_id=visit, now=now
    )
    assert {m.status for m in shown if m.kind == outbox.BOOKED} == {"sending"}
    figures = operations.operations_figures(session, actor=admin, settings=cfg, now=now)
    assert figures.sending == len(claimed)
    # The patient cancels while the confirmations are on their way: the reminders are
    # withdrawn, the confirmations in flight are not (they cannot be called back).
    booking.cancel_appointment(
        session, actor=patient, appointment_id=visit, reason="Away", now=now, settings=cfg
    )
    session.commit()
    assert states(session, visit, outbox.BOOKED) == ["pending", "pending"]
    assert states(session, visit, R24) == ["cancelled", "cancelled"]
    report = outbox.send_claimed(engine, senders(engine, cfg), claimed, now=now)
    assert report.sent == len(claimed)
    assert states(session, visit, outbox.BOOKED) == ["sent", "sent"]
    sent = next(r for r in rows(session, visit) if r.id == patient_copy.id)
    assert (sent.attempts, sent.sent_at) == (1, now)
    assert session.exec(select(OutboxLease)).all() == []
    # A result from a sender that no longer holds the lease is not recorded.
    outbox.send_claimed(engine, senders(engine, cfg), [patient_copy], now=now)
    assert next(r for r in rows(session, visit) if r.id == patient_copy.id).attempts == 1


def test_a_message_given_back_or_held_keeps_its_attempts(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
    claimed, _ = outbox.claim_batch(engine, now=now, limit=100, settings=cfg)
    quick = replace(cfg, outbox_lease_seconds=0)  # past its deadline at once: all given back
    report = outbox.send_claimed(engine, senders(engine, quick), claimed, now=now)
    assert report.given_back == len(claimed) and report.sent == 0
    assert {(r.status, r.attempts) for r in rows(session, visit)} == {("pending", 0)}
    assert session.exec(select(OutboxLease)).all() == []
    assert tick(engine, cfg, now).sent == len(claimed)


def test_reschedule_cancels_old_reminders_and_makes_new_ones(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    first = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, first, now=now)
    second = first + timedelta(days=1)
    local = second.astimezone(TORONTO)
    new_slot = open_at(session, doctor, second, now=now)
    booking.reschedule_appointment(
        session, actor=patient, appointment_id=visit, new_slot_id=new_slot, now=now, settings=cfg
    )
    session.commit()
    reminders = [r for r in rows(session, visit) if r.kind in (R24, R15)]
    old = [r for r in reminders if r.visit_revision == 0]
    new = [r for r in reminders if r.visit_revision == 1]
    assert len(old) == 4 and {r.status for r in old} == {"cancelled"}
    assert len(new) == 4 and {r.status for r in new} == {"pending"}
    assert {r.due_at for r in new if r.kind == R24} == {second - timedelta(hours=24)}
    # At the old reminder time nothing; at the new one, the reminder for the new time.
    tick(engine, cfg, first - timedelta(hours=24))
    assert inbox(session, "Reminder") == []
    tick(engine, cfg, second - timedelta(hours=24))
    reminded = inbox(session, "Reminder")
    assert len(reminded) == 2
    assert all(local.strftime("%H:%M") in m.body for m in reminded)
    moved = inbox(session, "Visit moved")
    assert len(moved) == 2 and all(m.attachment_name == "visit.ics" for m in moved)
    assert "SEQUENCE:1" in moved[0].attachment


def test_catch_up_after_downtime_sends_only_useful_reminders(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    """Booked two days ago; the scheduler was down since. Clock at `now`, then 3 h later."""
    (doctor, _), patients = people(session, cfg, now)
    booked_at = now - timedelta(days=2)
    at = {
        label: book_at(session, cfg, doctor, patients[i], now + delta, now=booked_at)
        for i, (label, delta) in enumerate(
            (
                ("+25h", timedelta(hours=25)),
                ("+3h", timedelta(hours=3)),
                ("+1h", timedelta(hours=1)),
                ("-1h", timedelta(hours=-1)),
            )
        )
    }
    tick(engine, cfg, booked_at)  # the confirmations went out when booked

    report = tick(engine, cfg, now)  # back after two days
    assert states(session, at["+25h"], R24) == ["pending", "pending"]  # due in 1 h
    assert states(session, at["+3h"], R24) == ["sent", "sent"]  # 3 h left: still useful
    assert states(session, at["+1h"], R24) == ["skipped", "skipped"]  # 1 h left: too late
    assert states(session, at["-1h"], R24) == ["skipped", "skipped"]  # already over
    assert states(session, at["-1h"], R15) == ["skipped", "skipped"]
    assert (report.sent, report.skipped) == (2, 6)

    later = now + timedelta(hours=3)  # the clock jumps 3 h with no tick in between
    report = tick(engine, cfg, later)
    assert states(session, at["+25h"], R24) == ["sent", "sent"]  # 22 h left
    assert states(session, at["+25h"], R15) == ["pending", "pending"]
    assert states(session, at["+3h"], R15) == ["skipped", "skipped"]  # starts right now
    assert states(session, at["+1h"], R15) == ["skipped", "skipped"]  # started 2 h ago
    assert (report.sent, report.skipped) == (2, 4)
    assert len(inbox(session, "Reminder")) == 4
    reasons = {r.last_error for v in at.values() for r in rows(session, v) if r.status == "skipped"}
    assert reasons == {"too late to be useful", "visit already started"}


def test_dst_a_09_00_visit_the_day_after_the_change_is_reminded_at_08_45(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    # Clocks in Toronto go forward on Sunday 8 March 2026; the visit is Monday 09:00 EDT.
    nine_local = datetime(2026, 3, 9, 9, 0, tzinfo=TORONTO)
    slot_id = open_at(session, doctor, nine_local.astimezone(UTC), now=now)
    view = booking.book_appointment(
        session, actor=patient, request=request(slot_id), settings=cfg, now=now
    )
    session.commit()
    [r15] = {r.due_at for r in rows(session, view.id) if r.kind == R15}
    local = r15.astimezone(TORONTO)
    assert (local.date(), local.time(), local.tzname()) == (date(2026, 3, 9), time(8, 45), "EDT")
    tick(engine, cfg, now)
    assert tick(engine, cfg, r15 - timedelta(seconds=1)).sent == 0
    assert tick(engine, cfg, r15).sent == 2
    reminded = inbox(session, "Reminder: visit in 15 minutes")
    assert len(reminded) == 2 and all("at 09:00 EDT" in m.body for m in reminded)


def test_range_cancel_tells_the_patient_and_withdraws_reminders(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    starts = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, starts, now=now)
    tick(engine, cfg, now)
    day = starts.astimezone(TORONTO).date()
    availability.cancel_range(
        session, actor=doctor, first=day, last=day, reason="Clinic closed", now=now, settings=cfg
    )
    session.commit()
    assert states(session, visit, R24) == ["cancelled", "cancelled"]
    tick(engine, cfg, now)
    [notice] = inbox(session, "Visit cancelled")
    assert notice.recipient == session.get(User, patient.user_id).email  # type: ignore[union-attr]
    assert "cancelled by your doctor" in notice.body and "Reason: Clinic closed" in notice.body


def test_visit_messages_are_shown_to_the_visits_doctor_only(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, other_doctor), (patient, *_) = people(session, cfg, now)
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
    tick(engine, cfg, now)
    shown = delivery_status.list_visit_messages(
        session, actor=doctor, appointment_id=visit, now=now
    )
    assert [(m.label, m.status) for m in shown if m.recipient_role == "patient"] == [
        ("Booking confirmation", "sent"),
        ("Reminder 24 hours before", "pending"),
        ("Reminder 15 minutes before", "pending"),
    ]
    assert all(m.current for m in shown)
    admin = actor_for(make_admin(session, now))
    for outsider in (patient, other_doctor, admin):
        with pytest.raises(NotFound):
            delivery_status.list_visit_messages(
                session, actor=outsider, appointment_id=visit, now=now
            )
    denied = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "visit.messages.read", AuditEvent.outcome == "denied"
        )
    ).all()
    assert len(denied) == 3
    read = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "visit.messages.read", AuditEvent.outcome == "success"
        )
    ).one()
    assert (read.actor_id, read.subject_id) == (doctor.user_id, patient.user_id)


def test_admins_see_failed_messages_and_retry_them(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
    failed_id = rows(session, visit)[0].id
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == failed_id)
        .values(status="failed", attempts=6, last_error="SMTP 550")
    )
    session.commit()
    admin = actor_for(make_admin(session, now))
    page = delivery_status.list_failed_messages(session, actor=admin, page=1, now=now)
    assert page.total == 1 and page.items[0].id == failed_id
    assert page.items[0].last_error == "SMTP 550" and page.items[0].attempts == 6
    for outsider in (patient, doctor):
        with pytest.raises(NotFound):
            delivery_status.list_failed_messages(session, actor=outsider, page=1, now=now)
        with pytest.raises(NotFound):
            delivery_status.retry_message(session, actor=outsider, message_id=failed_id, now=now)
    delivery_status.retry_message(session, actor=admin, message_id=failed_id, now=now)
    session.commit()
    with pytest.raises(DomainError):
        delivery_status.retry_message(session, actor=admin, message_id=failed_id, now=now)
    assert tick(engine, cfg, now).sent == 2
    assert delivery_status.list_failed_messages(session, actor=admin, page=1, now=now).total == 0
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.retry")).all()


def test_sent_bodies_keep_no_link_tokens_but_the_mailbox_does(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    form = patient_form()
    registration.register_patient(session, form=form, settings=cfg, now=now)
    session.commit()
    token = last_link(session, cfg, form.email, "/confirm?token=")
    assert tick(engine, cfg, now).sent == 1
    fresh(session)
    row = session.exec(select(OutboxMessage)).one()
    assert token not in row.body and "/confirm?token=[redacted]" in row.body
    [mail] = inbox(session)
    assert f"/confirm?token={token}" in mail.body
    # Rows sent before redaction existed are swept by the tick.
    session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id) == row.id).values(body=mail.body)
    )
    session.commit()
    report = run_tick(engine, cfg, now=now, senders=senders(engine, cfg), upkeep=False)
    assert report.bodies_redacted == 1


def test_the_tick_prunes_login_failures_older_than_an_hour(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    session.add(
        LoginFailure(account_key="a" * 64, client_key="c" * 64, at=now - timedelta(hours=2))
    )
    session.add(
        LoginFailure(account_key="a" * 64, client_key="c" * 64, at=now - timedelta(minutes=5))
    )
    session.commit()
    report = run_tick(engine, cfg, now=now, senders=senders(engine, cfg))
    assert report.leader and report.login_failures_pruned == 1
    assert report.upkeep is not None
    assert len(session.exec(select(LoginFailure)).all()) == 1
    assert any(line.startswith("messages sent: 0") for line in report.lines())


@pytest.mark.postgres
def test_only_one_process_is_the_scheduler_leader(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the leader lock is a PostgreSQL advisory lock; SQLite runs one process")
    from health_app.db import make_engine

    other_engine = make_engine(cfg.database_url)
    first, second = LeaderLock(engine), LeaderLock(other_engine)
    try:
        assert first.acquire() and first.acquire()  # held, and checked again
        assert not second.acquire()
        report = run_tick(other_engine, cfg, now=now, senders=senders(engine, cfg), leader=second)
        assert not report.leader
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()
        other_engine.dispose()


def test_reminder_offsets_come_from_settings(
    session: Session, cfg: Settings, now: datetime
) -> None:
    cfg = replace(cfg, reminder_offsets_minutes=(120,))
    (doctor, _), (patient, *_) = people(session, cfg, now)
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=1), now=now)
    kinds = {r.kind for r in rows(session, visit)}
    assert kinds == {outbox.BOOKED, outbox.reminder_kind(120)}


def test_the_operator_sees_what_waits_what_failed_and_the_last_tick(
    engine: Engine, session: Session, cfg: Settings, now: datetime
) -> None:
    (doctor, _), (patient, *_) = people(session, cfg, now)
    admin = actor_for(make_admin(session, now))
    before = operations.operations_figures(session, actor=admin, settings=cfg, now=now)
    assert before.leader == "" and before.last_tick_at is None and before.scheduler_late
    visit = book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
    waiting = operations.operations_figures(session, actor=admin, settings=cfg, now=now)
    assert waiting.waiting >= 2 and waiting.oldest_waiting_since == now  # the confirmations
    failed_id = rows(session, visit)[-1].id
    session.execute(
        update(OutboxMessage).where(col(OutboxMessage.id) == failed_id).values(status="failed")
    )
    session.commit()
    report = run_tick(engine, cfg, now=now, senders=senders(engine, cfg), upkeep=False)
    after = operations.operations_figures(
        session, actor=admin, settings=cfg, now=now + timedelta(minutes=1)
    )
    assert after.waiting == 0 and after.oldest_waiting_since is None and after.sending == 0
    assert after.failed_total == 1
    assert after.last_tick_at == now and after.last_sent == report.delivery.sent > 0
    assert "process" in after.leader and not after.scheduler_late
    late = operations.operations_figures(
        session, actor=admin, settings=cfg, now=now + timedelta(minutes=4)
    )
    assert late.scheduler_late
    for outsider in (patient, doctor):
        with pytest.raises(NotFound):
            operations.operations_figures(session, actor=outsider, settings=cfg, now=now)
