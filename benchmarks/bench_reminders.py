"""Reminder delivery at scale (issue 6 goals), on SQLite and PostgreSQL.

Data: APPOINTMENTS booked visits (default 1,000,000: 1,000 doctors x 63 days x 16 slots,
all booked, by demo.seed_schedule), each with a 24 h and a 15 min reminder for its patient
in the outbox (2 M rows), bulk-loaded (COPY on PostgreSQL). Figures:
- claim of a batch of 500 due reminders (pick the due ones nobody holds, re-check the
  visit and the person, write their leases, commit), p95 over SAMPLES claims draining a
  backlog, goal <= 5 ms: by one sender, and by one of four (three other batches being
  sent at each claim); batches of 100 (the default), for comparison;
- one tick sending 5,000 due emails to a local aiosmtpd sink, goal <= 30 s, duplicates 0;
- four processes ticking at once over another 5,000 due emails: duplicates 0.

Usage: python -m benchmarks.bench_reminders [--postgres URL] [--doctors N] [--days N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path
from queue import Queue
from typing import Any

from sqlalchemy import Engine, delete, func, text, update
from sqlmodel import Session, col, select

from benchmarks.common import p95, record, row
from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.dev.demo import _bulk
from health_app.migrations import upgrade
from health_app.models import Appointment, OutboxLease, OutboxMessage
from health_app.services.messaging import outbox
from health_app.services.messaging.mailer import SmtpMailer
from health_app.services.messaging.outbox import Senders, claim_batch, deliver_due
from health_app.services.messaging.sms import DevSms
from tests.integration.smtp_sink import smtp_sink

SAMPLES = 200
BATCH = 500
TICK_EMAILS = 5000
R24, R15 = outbox.reminder_kind(1440), outbox.reminder_kind(15)


def prepare(url: str, db: str, doctors: int, days: int, now: datetime) -> Engine:
    engine = make_engine(url)
    if db == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
    upgrade(url)
    t0 = time.perf_counter()
    with Session(engine) as s:
        demo.seed_demo(
            s, settings=Settings(database_url=url), now=now, doctors=doctors, patients=2000
        )
        s.commit()
        _, visits = demo.seed_schedule(s, now=now, days=days, booked_fraction=1.0)
        s.commit()
    with Session(engine) as s:
        emails = dict(
            s.exec(  # type: ignore[call-overload]
                text(
                    "SELECT u.id, u.email FROM app_user u "
                    "JOIN patient_profile p ON p.user_id = u.id"
                )
            ).all()
        )
        appts = s.exec(
            select(Appointment.id, Appointment.patient_id, Appointment.starts_at).order_by(
                col(Appointment.id)
            )
        ).all()
        rows: list[tuple[object, ...]] = []
        for appt_id, patient_id, starts_at in appts:
            for kind, before in ((R24, timedelta(hours=24)), (R15, timedelta(minutes=15))):
                due = starts_at - before
                rows.append(
                    (
                        appt_id,
                        0,
                        patient_id,
                        "email",
                        kind,
                        emails[patient_id],
                        "Reminder: your visit",
                        "Hello,\n\nA reminder: your video visit starts soon.\n\n- Health App\n",
                        "",
                        "pending",
                        due,
                        due,
                        0,
                        "",
                        now,
                        "",
                    )
                )
        _bulk(
            s,
            "outbox_message",
            (
                "appointment_id",
                "visit_revision",
                "recipient_user_id",
                "channel",
                "kind",
                "recipient",
                "subject",
                "body",
                "attachment",
                "status",
                "due_at",
                "next_attempt_at",
                "attempts",
                "provider_message_id",
                "created_at",
                "last_error",
            ),
            rows,
        )
        s.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    print(
        f"[{db}] seeded {visits:,} visits and {len(rows):,} reminders "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return engine


def make_due(engine: Engine, count: int) -> tuple[datetime, int]:
    """A backlog: the `count` earliest pending 24 h reminders fall due at one clock, a minute
    before anything else is due, so exactly they are due and every one is worth sending."""
    with Session(engine) as s:
        clock = s.exec(
            select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
        ).one() - timedelta(minutes=1)
        picked = s.exec(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.kind == R24)
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(count)
        ).all()
        for start in range(0, len(picked), 10_000):  # a statement takes <= 65,535 parameters
            s.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(picked[start : start + 10_000]))
                .values(next_attempt_at=clock)
            )
        s.commit()
    if engine.dialect.name == "postgresql":
        # Real reminders fall due by the clock, not by an UPDATE: vacuum away the dead row
        # versions this rewrite left, as autovacuum would have long before.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) outbox_message")
    return clock, len(picked)


def _as_sent(engine: Engine, ids: list[int]) -> None:
    """What a sender's write-backs do to a batch: the message rows sent, the leases gone."""
    with Session(engine) as s:
        s.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(status="sent"))
        s.execute(delete(OutboxLease).where(col(OutboxLease.message_id).in_(ids)))
        s.commit()


def bench_claim(engine: Engine, batch: int, others: int) -> list[float]:
    """Drain a backlog of SAMPLES x batch due reminders, one claim at a time, each timed.

    One sender sends a batch before claiming the next (others=0). With four senders,
    three other batches are leased and not yet sent at every claim (others=3), and the
    claim passes over them; a batch counts as sent `others` claims later.
    """
    clock, due = make_due(engine, SAMPLES * batch + others * batch)
    assert due == SAMPLES * batch + others * batch
    in_flight: list[list[int]] = []
    for _ in range(others):
        claimed, _ = claim_batch(engine, now=clock, limit=batch)
        in_flight.append([c.id for c in claimed])
    samples = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        claimed, skipped = claim_batch(engine, now=clock, limit=batch)
        samples.append((time.perf_counter() - t0) * 1000)
        assert len(claimed) == batch and skipped == 0
        in_flight.append([c.id for c in claimed])
        _as_sent(engine, in_flight.pop(0))
    for ids in in_flight:
        _as_sent(engine, ids)
    return samples


def tick_process(cfg: Settings, now: datetime, start: Event, results: Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(cfg.database_url)
    start.wait(timeout=120)
    report = deliver_due(engine, Senders(SmtpMailer(cfg), DevSms(engine), cfg), now=now)
    results.put(report.sent)
    engine.dispose()


def run(url: str, db: str, doctors: int, days: int, reuse: bool) -> list[dict[str, Any]]:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    engine = make_engine(url) if reuse else prepare(url, db, doctors, days, now)
    rows: list[dict[str, Any]] = []

    for batch, in_flight, goal in ((BATCH, 0, 5.0), (BATCH, 3, 5.0), (100, 3, 5.0)):
        claims = bench_claim(engine, batch, in_flight)
        name = f"reminder claim, batch of {batch}, {in_flight} other batches in flight, p95"
        rows.append(row(name, db, p95(claims), "ms", goal))
        p50 = sorted(claims)[len(claims) // 2]
        print(f"[{db}] claim of {batch}, {in_flight} in flight: p50 {p50:.2f} ms")

    with smtp_sink() as (sink, port):
        cfg = replace(
            Settings(database_url=url), mail_backend="smtp", smtp_port=port, smtp_starttls=False
        )
        clock, due = make_due(engine, TICK_EMAILS)
        t0 = time.perf_counter()
        report = deliver_due(engine, Senders(SmtpMailer(cfg), DevSms(engine), cfg), now=clock)
        elapsed = time.perf_counter() - t0
        ids = [m["Message-ID"] for m in sink.messages]
        assert report.sent == due == len(ids), (report, due, len(ids))
        print(f"[{db}] one tick: {due:,} due emails sent in {elapsed:.1f} s")
        rows.append(row("tick sending 5,000 emails to the sink", db, elapsed, "s", 30))
        rows.append(row("... duplicates", db, len(ids) - len(set(ids)), "messages", 0))

        sink.messages.clear()
        clock, due = make_due(engine, TICK_EMAILS)  # the next 5,000
        spawn = multiprocessing.get_context("spawn")
        start, results = spawn.Event(), spawn.Queue()
        procs = [
            spawn.Process(target=tick_process, args=(cfg, clock, start, results)) for _ in range(4)
        ]
        for p in procs:
            p.start()
        t0 = time.perf_counter()
        start.set()
        sent = [results.get(timeout=600) for _ in procs]
        elapsed = time.perf_counter() - t0
        for p in procs:
            p.join(timeout=60)
        ids = [m["Message-ID"] for m in sink.messages]
        assert sum(sent) == due == len(ids), (sent, due, len(ids))
        print(f"[{db}] 4 processes: {sent} sent in {elapsed:.1f} s")
        rows.append(
            row("4 processes x 5,000 due: duplicates", db, len(ids) - len(set(ids)), "messages", 0)
        )
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", ""))
    parser.add_argument("--doctors", type=int, default=1000)
    parser.add_argument("--days", type=int, default=63)  # 1,000 x 63 x 16 = 1,008,000 visits
    parser.add_argument("--sqlite", default="", help="database file to use instead of a temp one")
    parser.add_argument(
        "--reuse", action="store_true", help="the databases were seeded by an earlier run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.sqlite or str(Path(tmp) / "bench.db")
        rows = run(f"sqlite:///{path}", "sqlite", args.doctors, args.days, args.reuse)
    if args.postgres:
        rows += run(args.postgres, "postgresql", args.doctors, args.days, args.reuse)
    record(rows)


if __name__ == "__main__":
    main()
