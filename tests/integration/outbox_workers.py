"""Process entry points for the outbox concurrency tests (spawned, so importable by path)."""

from __future__ import annotations

import os
from datetime import datetime
from multiprocessing.synchronize import Event
from queue import Queue

from health_app.config import Settings
from health_app.db import make_engine
from health_app.services.messaging.mailer import SmtpMailer
from health_app.services.messaging.outbox import Senders, claim_batch, deliver_due
from health_app.services.messaging.sms import DevSms


def tick_process(cfg: Settings, now: datetime, start: Event, results: Queue) -> None:  # type: ignore[type-arg]
    """One app process ticking: waits for the others, then delivers everything it can claim."""
    engine = make_engine(cfg.database_url)
    start.wait(timeout=60)
    report = deliver_due(engine, Senders(SmtpMailer(cfg), DevSms(engine), cfg), now=now)
    results.put((os.getpid(), report.sent, report.retried + report.failed))
    engine.dispose()


def claim_then_die(cfg: Settings, now: datetime) -> None:
    """A sender that crashes after claiming: its leases stay behind, nothing is sent."""
    engine = make_engine(cfg.database_url)
    claimed, _ = claim_batch(engine, now=now, limit=100)
    os._exit(3 if claimed else 4)
