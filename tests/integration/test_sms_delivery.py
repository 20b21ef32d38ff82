"""The real Twilio-compatible SMS client (httpx) against a local stand-in that records requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import OutboxMessage, User
from health_app.services.messaging import outbox
from health_app.services.messaging.mailer import DevMailboxMailer
from health_app.services.messaging.outbox import DeliveryReport, Senders, deliver_due
from health_app.services.messaging.sms import TwilioSms, retry_after_seconds
from tests.integration.sms_standin import Reply, sms_standin
from tests.services.scheduling_helpers import people
from tests.services.test_reminders import book_at, fresh

SID, TOKEN, FROM = "AC0123456789abcdef0123456789abcdef", "s3cret-token", "+16475550100"


def _sms_settings(settings: Settings, base_url: str) -> Settings:
    return replace(
        settings,
        sms_backend="twilio",
        sms_api_base_url=base_url,
        sms_account_sid=SID,
        sms_auth_token=TOKEN,
        sms_from_number=FROM,
        sms_timeout_seconds=5,
        booking_attempts_per_hour=1000,
    )


def _deliver(engine: Engine, cfg: Settings, now: datetime) -> DeliveryReport:
    return deliver_due(engine, Senders(DevMailboxMailer(engine), TwilioSms(cfg), cfg), now=now)


def _sms_rows(session: Session) -> list[OutboxMessage]:
    fresh(session)
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == "sms", OutboxMessage.kind == outbox.BOOKED)
            .order_by(col(OutboxMessage.id))
        )
    )


def _patient_wants_sms(session: Session, user_id: int) -> str:
    session.execute(update(User).where(col(User.id) == user_id).values(notify_sms=True))
    session.commit()
    user = session.get(User, user_id)
    assert user is not None
    return user.phone


def test_sms_429_with_retry_after_is_retried_then_sent(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    with sms_standin() as (standin, base_url):
        cfg = _sms_settings(settings, base_url)
        (doctor, _), (patient, *_) = people(session, cfg, now)
        phone = _patient_wants_sms(session, patient.user_id)
        book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
        standin.replies = [
            Reply(429, {"code": 20429, "message": "Too many"}, {"Retry-After": "300"})
        ]

        first = _deliver(engine, cfg, now)
        [row] = _sms_rows(session)
        assert (first.retried, row.status, row.attempts) == (1, "pending", 1)
        # Retry-After (5 min) outweighs the first backoff (about 1 min).
        assert row.next_attempt_at >= now + timedelta(seconds=300)
        assert "HTTP 429" in row.last_error
        assert _deliver(engine, cfg, now + timedelta(minutes=4)).sent == 0

        assert _deliver(engine, cfg, now + timedelta(minutes=6)).sent == 1
        [row] = _sms_rows(session)
        assert row.status == "sent" and row.attempts == 2
        assert row.provider_message_id.startswith("SM")

    sent = standin.requests[-1]
    assert len(standin.requests) == 2
    assert sent.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert sent.auth == (SID, TOKEN)
    assert sent.form["To"] == phone and sent.form["From"] == FROM
    assert sent.form["Body"].startswith("Health App: video visit with Dr. ")
    assert "Join: https://meet.jit.si/HealthApp-" in sent.form["Body"]


def test_sms_invalid_number_fails_at_once_and_5xx_is_retried(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    with sms_standin() as (standin, base_url):
        cfg = _sms_settings(settings, base_url)
        (doctor, _), (patient, other, *_) = people(session, cfg, now)
        _patient_wants_sms(session, patient.user_id)
        _patient_wants_sms(session, other.user_id)
        book_at(session, cfg, doctor, patient, now + timedelta(days=2), now=now)
        book_at(session, cfg, doctor, other, now + timedelta(days=3), now=now)
        standin.replies = [
            Reply(400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}),
            Reply(503, {"message": "unavailable"}),
        ]
        report = _deliver(engine, cfg, now)
        assert (report.failed, report.retried) == (1, 1)
        failed, retried = _sms_rows(session)
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert failed.last_error == "SMS API HTTP 400 (code 21211)"
        assert retried.status == "pending"
        assert now + timedelta(seconds=45) <= retried.next_attempt_at <= now + timedelta(seconds=75)
        assert _deliver(engine, cfg, now + timedelta(minutes=2)).sent == 1
        # The failed one stays failed: nothing retries it but an admin.
        assert _deliver(engine, cfg, now + timedelta(hours=1)).sent == 0
    assert len(standin.requests) == 3


def test_retry_after_reads_seconds_and_http_dates(now: datetime) -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("999999") == 3600
    assert retry_after_seconds("Mon, 02 Mar 2026 15:02:00 GMT", now=now) == 120
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
