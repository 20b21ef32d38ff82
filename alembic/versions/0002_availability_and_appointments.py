"""Availability (slots, weekly windows, time off) and appointments with overlap guards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 13:40:10.855193
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.CheckConstraint("status in ('open', 'booked', 'blocked', 'closed')", name='ck_slot_status'),
    sa.CheckConstraint('ends_at > starts_at', name='ck_slot_order'),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor_profile.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.create_index('ix_slot_open', ['doctor_id', 'starts_at'], unique=False, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.create_index('ux_slot_doctor_start', ['doctor_id', 'starts_at'], unique=True, sqlite_where=sa.text("status <> 'closed'"), postgresql_where=sa.text("status <> 'closed'"))

    op.create_table('time_off',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name='ck_time_off_order'),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor_profile.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_off_doctor_id'), ['doctor_id'], unique=False)

    op.create_table('weekly_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.CheckConstraint('end_time > start_time', name='ck_window_order'),
    sa.CheckConstraint('slot_minutes between 5 and 240', name='ck_window_slot_minutes'),
    sa.CheckConstraint('weekday between 0 and 6', name='ck_window_weekday'),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor_profile.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('weekly_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_weekly_window_doctor_id'), ['doctor_id'], unique=False)

    op.create_table('appointment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('doctor_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('consultation_type', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('join_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.CheckConstraint("format in ('phone', 'video')", name='ck_appointment_format'),
    sa.CheckConstraint("status in ('booked', 'cancelled', 'fulfilled', 'noshow')", name='ck_appointment_status'),
    sa.CheckConstraint('ends_at > starts_at', name='ck_appointment_order'),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['doctor_id'], ['doctor_profile.user_id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['slot_id'], ['slot.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index('ix_appointment_doctor_time', ['doctor_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_appointment_patient_time', ['patient_id', 'starts_at'], unique=False)
        batch_op.create_index('ux_appointment_doctor_start_booked', ['doctor_id', 'starts_at'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.create_index('ux_appointment_patient_start_booked', ['patient_id', 'starts_at'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.create_index('ux_appointment_slot_booked', ['slot_id'], unique=True, sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))

    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_notice_minutes', sa.Integer(), server_default='60', nullable=False))

    if op.get_bind().dialect.name == "postgresql":
        # The safety net under the booking guard: no two booked visits overlap for one
        # doctor or one patient, whatever code path writes them.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        for who in ("doctor", "patient"):
            op.execute(
                f"ALTER TABLE appointment ADD CONSTRAINT ex_appointment_{who}_overlap "
                f"EXCLUDE USING gist ({who}_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
                "WHERE (status = 'booked')"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for who in ("doctor", "patient"):
            op.execute(f"ALTER TABLE appointment DROP CONSTRAINT ex_appointment_{who}_overlap")
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.drop_column('min_notice_minutes')

    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('ux_appointment_slot_booked', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index('ux_appointment_patient_start_booked', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index('ux_appointment_doctor_start_booked', sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))
        batch_op.drop_index('ix_appointment_patient_time')
        batch_op.drop_index('ix_appointment_doctor_time')

    op.drop_table('appointment')
    with op.batch_alter_table('weekly_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_weekly_window_doctor_id'))

    op.drop_table('weekly_window')
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_off_doctor_id'))

    op.drop_table('time_off')
    with op.batch_alter_table('slot', schema=None) as batch_op:
        batch_op.drop_index('ux_slot_doctor_start', sqlite_where=sa.text("status <> 'closed'"), postgresql_where=sa.text("status <> 'closed'"))
        batch_op.drop_index('ix_slot_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.drop_table('slot')
