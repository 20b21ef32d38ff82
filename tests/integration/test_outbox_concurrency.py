"""Exactly once with real processes: four tickers over 5,000 due rows, and a crashed sender.

Real multiprocessing (spawn), a real SMTP sink (aiosmtpd), SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert
from sqlmodel import Session, func, select

from health_app.config import Settings
from health_app.models import OutboxLease, OutboxMessage
from health_app.services.messaging.mailer import SmtpMailer
from health_app.services.messaging.outbox import Senders, deliver_due
from health_app.services.messaging.sms import DevSms
from tests.integration.outbox_workers import claim_then_die, tick_process
from tests.integration.smtp_sink import smtp_sink

SPAWN = multiprocessing.get_context("spawn")


def _due_rows(engine: Engine, count: int, now: datetime) -> None:
    with Session(engine) as session:
        session.execute(
            insert(OutboxMessage),
            [
                {
                    "channel": "email",
                    "kind": "test.bulk",
                    "recipient": f"person{i}@example.com",
                    "subject": f"Message {i}",
                    "body": f"Hello {i}",
                    "attachment": "",
                    "status": "pending",
                    "due_at": now - timedelta(minutes=1),
                    "next_attempt_at": now - timedelta(minutes=1),
                    "attempts": 0,
                    "created_at": now,
                    "last_error": "",
                }
                for i in range(count)
            ],
        )
        session.commit()


def _by_status(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return dict(
            session.exec(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            ).all()
        )


def test_four_processes_ticking_at_once_send_each_of_5000_messages_once(
    engine: Engine, settings: Settings, now: datetime
) -> None:
    _due_rows(engine, 5000, now)
    with smtp_sink() as (sink, port):
        cfg = replace(settings, smtp_port=port, smtp_starttls=False, mail_backend="smtp")
        start, results = SPAWN.Event(), SPAWN.Queue()
        procs = [
            SPAWN.Process(target=tick_process, args=(cfg, now, start, results)) for _ in range(4)
        ]
        for p in procs:
            p.start()
        start.set()
        outcomes = [results.get(timeout=300) for _ in procs]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(ids) == 5000 and len(set(ids)) == 5000
    assert sum(sent for _, sent, _ in outcomes) == 5000
    assert all(problems == 0 for _, _, problems in outcomes)
    assert sum(1 for _, sent, _ in outcomes if sent) >= 2, outcomes  # they really raced
    assert _by_status(engine) == {"sent": 5000}


def test_a_sender_that_dies_after_claiming_is_taken_over_after_its_lease(
    engine: Engine, settings: Settings, now: datetime
) -> None:
    _due_rows(engine, 3, now)
    with smtp_sink() as (sink, port):
        cfg = replace(settings, smtp_port=port, smtp_starttls=False, mail_backend="smtp")
        dying = SPAWN.Process(target=claim_then_die, args=(cfg, now))
        dying.start()
        dying.join(timeout=60)
        assert dying.exitcode == 3  # it claimed, then died
        assert _by_status(engine) == {"pending": 3}  # the message rows are untouched
        with Session(engine) as session:
            leases = session.exec(select(OutboxLease)).all()
        assert [lease.attempts for lease in leases] == [1, 1, 1]

        def tick(at: datetime) -> int:
            senders = Senders(SmtpMailer(cfg), DevSms(engine), cfg)
            return deliver_due(engine, senders, now=at).sent

        lease = timedelta(seconds=cfg.outbox_lease_seconds)
        assert tick(now + timedelta(minutes=1)) == 0  # the lease still holds
        assert tick(now + lease - timedelta(seconds=1)) == 0
        assert tick(now + lease) == 3  # expired: reclaimed and sent
        assert tick(now + lease + timedelta(minutes=1)) == 0
    assert len(sink.messages) == 3
    assert len({m["Message-ID"] for m in sink.messages}) == 3
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 2)}  # the dead sender's counts
    with Session(engine) as session:
        assert session.exec(select(OutboxLease)).all() == []
