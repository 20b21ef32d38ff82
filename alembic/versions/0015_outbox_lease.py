"""Outbox claims lease narrow rows of their own (outbox_lease) instead of rewriting messages.

A message being sent is now a pending message with a lease row; the wide message row is
written once, with the result. Messages being sent when this runs keep their lease.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WITH_SENDING = "status in ('pending', 'sending', 'sent', 'failed', 'skipped', 'cancelled')"
_STATUS = "status in ('pending', 'sent', 'failed', 'skipped', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "outbox_lease",
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.execute(
        "INSERT INTO outbox_lease (message_id, lease_until, attempts) "
        "SELECT id, COALESCE(lease_until, next_attempt_at), attempts FROM outbox_message "
        "WHERE status = 'sending'"
    )
    # The message row counts finished attempts; the lease holds the one in flight.
    op.execute(
        "UPDATE outbox_message SET status = 'pending', "
        "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
        "WHERE status = 'sending'"
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_lease",
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
        batch_op.drop_constraint("ck_outbox_status", type_="check")
        batch_op.create_check_constraint("ck_outbox_status", _STATUS)
        batch_op.drop_column("lease_until")


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("ck_outbox_status", type_="check")
        batch_op.create_check_constraint("ck_outbox_status", _WITH_SENDING)
        batch_op.create_index(
            "ix_outbox_lease",
            ["lease_until"],
            unique=False,
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
    op.execute(
        "UPDATE outbox_message SET status = 'sending', "
        "lease_until = (SELECT l.lease_until FROM outbox_lease l WHERE l.message_id = outbox_message.id), "
        "attempts = (SELECT l.attempts FROM outbox_lease l WHERE l.message_id = outbox_message.id) "
        "WHERE status = 'pending' AND id IN (SELECT message_id FROM outbox_lease)"
    )
    op.drop_table("outbox_lease")
