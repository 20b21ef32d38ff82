"""The scheduler job, the one-off CLI tick and the demo's soon-due reminders, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from health_app import cli, config
from health_app.config import Settings
from health_app.models import DevMailboxMessage, OutboxMessage
from health_app.services.jobs.scheduler import (
    JOB_ID,
    Scheduler,
    make_senders,
)
from health_app.services.messaging import outbox


@pytest.fixture
def cli_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    config.get_settings.cache_clear()
    yield engine
    config.get_settings.cache_clear()


def test_the_tick_job_is_one_coalesced_instance_with_grace(
    engine: Engine, settings: Settings
) -> None:
    scheduler = Scheduler(engine, settings)
    job = scheduler._scheduler.get_job(JOB_ID)
    assert job is not None
    assert job.coalesce and job.max_instances == 1
    assert job.misfire_grace_time >= settings.scheduler_tick_seconds == 60
    assert job.trigger.interval == timedelta(seconds=settings.scheduler_tick_seconds)
    report = scheduler.tick()  # what the job runs: real clock, leader election, upkeep
    assert report is not None and report.leader and report.upkeep is not None
    second = scheduler.tick()
    assert second is not None and second.upkeep is None  # upkeep is hourly
    scheduler.shutdown()


def test_demo_visits_have_reminders_due_within_minutes_and_the_cli_tick_sends_them(
    cli_env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed-demo", "--doctors", "2", "--patients", "2", "--days", "0"]) == 0
    started = datetime.now(UTC)
    with Session(cli_env) as s:
        reminders = s.exec(
            select(OutboxMessage).where(col(OutboxMessage.kind).startswith(outbox.REMINDER_PREFIX))
        ).all()
    soon = [r for r in reminders if r.due_at <= started + timedelta(minutes=15)]
    assert {r.kind for r in soon} == {outbox.reminder_kind(15), outbox.reminder_kind(1440)}
    assert {r.channel for r in soon} == {"email", "sms"}

    capsys.readouterr()
    assert cli.main(["reminders", "tick"]) == 0
    out = capsys.readouterr().out
    assert "messages sent: 6," in out  # two visits: confirmations by email (x2) and SMS
    with Session(cli_env) as s:
        box = s.exec(select(DevMailboxMessage)).all()
    assert sorted(m.channel for m in box) == ["email"] * 4 + ["sms"] * 2
    assert sum(m.attachment_name == "visit.ics" for m in box) == 4
    # Later, when the reminders fall due, the same command sends them.
    settings = config.get_settings()
    report = outbox.deliver_due(
        cli_env, make_senders(settings, cli_env), now=started + timedelta(minutes=15)
    )
    assert report.sent == len(soon) and report.skipped == 0
