"""Microsoft 365: connections, sign-ins in progress, calendar events, Outlook busy times;
the outbox gains the calendar channel.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('microsoft_connection',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('home_account_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('can_meet', sa.Boolean(), nullable=False),
    sa.Column('token_cache', sa.Text(), server_default='', nullable=False),
    sa.Column('connected_at', _TZ, nullable=False),
    sa.Column('updated_at', _TZ, nullable=False),
    sa.Column('disconnected_at', _TZ, nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('busy_checked_at', _TZ, nullable=True),
    sa.CheckConstraint("status in ('connected', 'needs_reconnect', 'disconnected')", name='ck_microsoft_connection_status'),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('microsoft_sign_in',
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('flow', sa.Text(), nullable=False),
    sa.Column('return_to', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', _TZ, nullable=False),
    sa.Column('expires_at', _TZ, nullable=False),
    sa.Column('used_at', _TZ, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('state')
    )
    with op.batch_alter_table('microsoft_sign_in', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_microsoft_sign_in_user_id'), ['user_id'], unique=False)
    op.create_table('calendar_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('graph_event_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('join_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('created_at', _TZ, nullable=False),
    sa.Column('updated_at', _TZ, nullable=False),
    sa.CheckConstraint("status in ('active', 'deleted', 'gone')", name='ck_calendar_event_status'),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('appointment_id', 'user_id', name='ux_calendar_event_visit_person')
    )
    with op.batch_alter_table('calendar_event', schema=None) as batch_op:
        batch_op.create_index('ix_calendar_event_user', ['user_id'], unique=False)
    op.create_table('outlook_busy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', _TZ, nullable=False),
    sa.Column('ends_at', _TZ, nullable=False),
    sa.Column('read_at', _TZ, nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name='ck_outlook_busy_order'),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor_profile.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outlook_busy', schema=None) as batch_op:
        batch_op.create_index('ix_outlook_busy_doctor_time', ['doctor_id', 'starts_at'], unique=False)
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint('ck_outbox_channel', type_='check')
        batch_op.create_check_constraint('ck_outbox_channel', "channel in ('email', 'sms', 'calendar')")


def downgrade() -> None:
    op.execute("DELETE FROM outbox_message WHERE channel = 'calendar'")
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint('ck_outbox_channel', type_='check')
        batch_op.create_check_constraint('ck_outbox_channel', "channel in ('email', 'sms')")
    op.drop_table('outlook_busy')
    op.drop_table('calendar_event')
    with op.batch_alter_table('microsoft_sign_in', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_microsoft_sign_in_user_id'))
    op.drop_table('microsoft_sign_in')
    op.drop_table('microsoft_connection')
