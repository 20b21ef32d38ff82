"""Drop ix_outbox_message_appointment_id: ux_outbox_visit_message leads with the same column,
and every claim updates each index of the outbox.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 15:50:00
"""

from __future__ import annotations

from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_appointment_id'))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_appointment_id'), ['appointment_id'], unique=False)
