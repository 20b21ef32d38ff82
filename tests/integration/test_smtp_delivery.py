"""The real SMTP mailer and the outbox against a real local SMTP server."""

from __future__ import annotations

import ssl
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import trustme
from sqlalchemy import Engine
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import OutboxMessage
from health_app.services.accounts import registration
from health_app.services.messaging.mailer import SmtpMailer
from health_app.services.messaging.outbox import MAX_ATTEMPTS, DeliveryReport, Senders, deliver_due
from health_app.services.messaging.sms import DevSms
from tests.factories import patient_form
from tests.integration.smtp_sink import smtp_sink


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


def _deliver(engine: Engine, cfg: Settings, mailer: SmtpMailer, now: datetime) -> DeliveryReport:
    return deliver_due(engine, Senders(mailer, DevSms(engine), cfg), now=now)


def _register(session: Session, settings: Settings, now: datetime, email: str) -> None:
    session.rollback()  # end the test's read snapshot before writing, as a real request would
    registration.register_patient(
        session, form=patient_form(email=email), settings=settings, now=now
    )
    session.commit()


def test_activation_email_arrives_over_starttls_with_login(
    engine: Engine,
    session: Session,
    settings: Settings,
    now: datetime,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    with smtp_sink(tls=server_ctx, credentials=("mailer", "s3cret-pass")) as (sink, port):
        cfg = replace(
            settings,
            mail_backend="smtp",
            smtp_port=port,
            smtp_starttls=True,
            smtp_username="mailer",
            smtp_password="s3cret-pass",
        )
        _register(session, settings, now, "tls@example.com")
        assert _deliver(engine, cfg, SmtpMailer(cfg, tls_context=client_ctx), now).sent == 1
    [msg] = sink.messages
    assert msg["To"] == "tls@example.com"
    assert msg["Subject"] == "Confirm your email for Health App"
    assert "/confirm?token=" in msg.get_payload()
    assert msg["Message-ID"].startswith("<outbox-")
    row = session.exec(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.status == "sent" and row.attempts == 1


def test_wrong_credentials_are_retried_not_lost(
    engine: Engine,
    session: Session,
    settings: Settings,
    now: datetime,
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = tls
    with smtp_sink(tls=server_ctx, credentials=("mailer", "right")) as (sink, port):
        cfg = replace(settings, smtp_port=port, smtp_username="mailer", smtp_password="wrong")
        _register(session, settings, now, "auth@example.com")
        assert _deliver(engine, cfg, SmtpMailer(cfg, tls_context=client_ctx), now).sent == 0
    assert sink.messages == []
    row = session.exec(select(OutboxMessage)).one()
    session.refresh(row)
    # A misconfigured login is an operator's mistake: keep the message and retry later.
    assert row.status == "pending" and row.attempts == 1 and row.last_error


def test_451_is_retried_with_backoff_and_550_fails_at_once(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    with smtp_sink() as (sink, port):
        cfg = replace(settings, smtp_port=port, smtp_starttls=False)
        mailer = SmtpMailer(cfg)
        sink.replies = ["451 Try again later"]
        _register(session, settings, now, "retry@example.com")
        assert _deliver(engine, cfg, mailer, now).sent == 0
        row = session.exec(select(OutboxMessage)).one()
        session.refresh(row)
        assert row.status == "pending" and row.attempts == 1
        assert row.next_attempt_at > now + timedelta(seconds=30)
        assert _deliver(engine, cfg, mailer, now).sent == 0  # not due yet
        assert _deliver(engine, cfg, mailer, now + timedelta(minutes=5)).sent == 1
        assert len(sink.messages) == 1

        sink.replies = ["550 No such user"]
        _register(session, settings, now, "bounce@example.com")
        _deliver(engine, cfg, mailer, now + timedelta(minutes=5))
        failed = session.exec(
            select(OutboxMessage).where(OutboxMessage.recipient == "bounce@example.com")
        ).one()
        session.refresh(failed)
        assert failed.status == "failed" and failed.attempts == 1


def test_unreachable_server_gives_up_after_max_attempts(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    from tests.integration.smtp_sink import free_port

    cfg = replace(settings, smtp_port=free_port(), smtp_starttls=False, smtp_timeout_seconds=2)
    _register(session, settings, now, "nobody-home@example.com")
    t = now
    for _ in range(MAX_ATTEMPTS):
        _deliver(engine, cfg, SmtpMailer(cfg), t)
        t += timedelta(hours=2)
    row = session.exec(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS


def test_booking_confirmation_carries_an_ics_and_a_message_id_per_row(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    from tests.services.scheduling_helpers import people
    from tests.services.test_reminders import book_at, fresh

    cfg = replace(settings, booking_attempts_per_hour=1000)
    (doctor, _), (patient, *_) = people(session, cfg, now)
    starts = now + timedelta(days=2)
    visit = book_at(session, cfg, doctor, patient, starts, now=now)
    with smtp_sink() as (sink, port):
        smtp_cfg = replace(cfg, smtp_port=port, smtp_starttls=False)
        assert _deliver(engine, smtp_cfg, SmtpMailer(smtp_cfg), now).sent == 2
    fresh(session)
    sent = {
        r.recipient: r
        for r in session.exec(
            select(OutboxMessage).where(
                OutboxMessage.appointment_id == visit, OutboxMessage.status == "sent"
            )
        )
    }
    assert len(sink.messages) == 2
    for msg in sink.messages:
        row = sent[msg["To"]]
        assert msg["Message-ID"] == f"<outbox-{row.id}@health-app.local>"
        assert row.provider_message_id == msg["Message-ID"]
        [ics] = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
        assert ics.get_filename() == "visit.ics" and ics.get_param("method") == "PUBLISH"
        assert f"DTSTART:{starts:%Y%m%dT%H%M%S}Z" in ics.get_payload(decode=True).decode()
