"""Migration 0015 keeps messages that were being sent when it ran: their claim becomes a
lease row, and a downgrade puts it back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from alembic import command
from health_app.migrations import alembic_config, upgrade

_LEASE = "2026-03-02 15:05:00.000000"
_MESSAGE = (
    "INSERT INTO outbox_message (id, channel, kind, recipient, subject, body, attachment, "
    "status, due_at, next_attempt_at, attempts, lease_until, created_at, last_error) VALUES "
    "(:id, 'email', 'test', 'a@example.com', 's', 'b', '', :status, "
    "'2026-03-02 15:00:00.000000', '2026-03-02 15:00:00.000000', :attempts, :lease, "
    "'2026-03-02 15:00:00.000000', '')"
)


def test_messages_being_sent_keep_their_lease_through_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url, "0014")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(_MESSAGE),
            [
                {"id": 1, "status": "sending", "attempts": 2, "lease": _LEASE},
                {"id": 2, "status": "pending", "attempts": 0, "lease": None},
                {"id": 3, "status": "sent", "attempts": 1, "lease": None},
            ],
        )
    upgrade(url)
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT id, status, attempts FROM outbox_message")).all()
        leases = conn.execute(text("SELECT message_id, lease_until, attempts FROM outbox_lease"))
        assert sorted(messages) == [(1, "pending", 1), (2, "pending", 0), (3, "sent", 1)]
        assert list(leases) == [(1, _LEASE, 2)]
    command.downgrade(alembic_config(url), "0014")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT id, status, attempts, lease_until FROM outbox_message"))
        assert sorted(back) == [
            (1, "sending", 2, _LEASE),
            (2, "pending", 0, None),
            (3, "sent", 1, None),
        ]
    engine.dispose()
