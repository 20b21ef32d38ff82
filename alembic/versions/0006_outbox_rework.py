"""Outbox for notifications and reminders: visit, person, due time, lease, provider id.

Visit messages are unique per (visit, revision, person, channel, kind); appointment.revision
grows with each reschedule. The dev mailbox keeps SMS and .ics attachments too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_STATUS = "status in ('pending', 'sending', 'sent', 'failed', 'skipped', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('dev_mailbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attachment_name', sqlmodel.sql.sqltypes.AutoString(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attachment', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('appointment_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('visit_revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('recipient_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attachment', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('provider_message_id', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))

    # Existing rows: due when they were next to be tried; an old claim becomes a lease that
    # has already expired, so the first tick takes it over.
    op.execute("UPDATE outbox_message SET due_at = next_attempt_at")
    op.execute(
        "UPDATE outbox_message SET lease_until = next_attempt_at WHERE status = 'sending'"
    )

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.alter_column('due_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index(batch_op.f('ix_outbox_message_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_status'))
        batch_op.create_index('ix_outbox_due', ['next_attempt_at'], unique=False, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_outbox_failed', ['id'], unique=False, sqlite_where=sa.text("status = 'failed'"), postgresql_where=sa.text("status = 'failed'"))
        batch_op.create_index('ix_outbox_lease', ['lease_until'], unique=False, sqlite_where=sa.text("status = 'sending'"), postgresql_where=sa.text("status = 'sending'"))
        batch_op.create_index(batch_op.f('ix_outbox_message_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index('ux_outbox_visit_message', ['appointment_id', 'visit_revision', 'recipient_user_id', 'channel', 'kind'], unique=True, sqlite_where=sa.text('appointment_id IS NOT NULL'), postgresql_where=sa.text('appointment_id IS NOT NULL'))
        batch_op.create_foreign_key('fk_outbox_message_recipient_user_id_app_user', 'app_user', ['recipient_user_id'], ['id'])
        batch_op.create_foreign_key('fk_outbox_message_appointment_id_appointment', 'appointment', ['appointment_id'], ['id'])
        batch_op.create_check_constraint('ck_outbox_status', _STATUS)
        batch_op.create_check_constraint('ck_outbox_channel', "channel in ('email', 'sms')")


def downgrade() -> None:
    op.execute("UPDATE outbox_message SET status = 'failed' WHERE status IN ('skipped', 'cancelled')")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint('ck_outbox_channel', type_='check')
        batch_op.drop_constraint('ck_outbox_status', type_='check')
        batch_op.drop_constraint('fk_outbox_message_appointment_id_appointment', type_='foreignkey')
        batch_op.drop_constraint('fk_outbox_message_recipient_user_id_app_user', type_='foreignkey')
        batch_op.drop_index('ux_outbox_visit_message', sqlite_where=sa.text('appointment_id IS NOT NULL'), postgresql_where=sa.text('appointment_id IS NOT NULL'))
        batch_op.drop_index(batch_op.f('ix_outbox_message_appointment_id'))
        batch_op.drop_index('ix_outbox_lease', sqlite_where=sa.text("status = 'sending'"), postgresql_where=sa.text("status = 'sending'"))
        batch_op.drop_index('ix_outbox_failed', sqlite_where=sa.text("status = 'failed'"), postgresql_where=sa.text("status = 'failed'"))
        batch_op.drop_index('ix_outbox_due', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
        batch_op.create_index(batch_op.f('ix_outbox_message_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_message_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.drop_column('provider_message_id')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('due_at')
        batch_op.drop_column('attachment')
        batch_op.drop_column('recipient_user_id')
        batch_op.drop_column('visit_revision')
        batch_op.drop_column('appointment_id')

    with op.batch_alter_table('dev_mailbox_message', schema=None) as batch_op:
        batch_op.drop_column('attachment')
        batch_op.drop_column('attachment_name')
        batch_op.drop_column('outbox_id')

    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('revision')
