"""Files on a visit (visit_file) and the doctor's public photo (doctor_profile.photo_blob).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:27:30.672295
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('visit_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('uploader_id', sa.Integer(), nullable=False),
    sa.Column('blob_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('thumbnail_blob', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('original_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_changed_by_id', sa.Integer(), nullable=True),
    sa.Column('purge_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('active', 'hidden', 'deleted')", name='ck_visit_file_status'),
    sa.CheckConstraint('size_bytes > 0', name='ck_visit_file_size'),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['status_changed_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['uploader_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('blob_name')
    )
    with op.batch_alter_table('visit_file', schema=None) as batch_op:
        batch_op.create_index('ix_visit_file_appointment', ['appointment_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_file_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_visit_file_purge', ['purge_after'], unique=False, sqlite_where=sa.text("status = 'deleted' AND purged_at IS NULL"), postgresql_where=sa.text("status = 'deleted' AND purged_at IS NULL"))

    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('photo_blob', sqlmodel.sql.sqltypes.AutoString(length=100), server_default='', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.drop_column('photo_blob')

    with op.batch_alter_table('visit_file', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_file_purge', sqlite_where=sa.text("status = 'deleted' AND purged_at IS NULL"), postgresql_where=sa.text("status = 'deleted' AND purged_at IS NULL"))
        batch_op.drop_index(batch_op.f('ix_visit_file_patient_id'))
        batch_op.drop_index('ix_visit_file_appointment')

    op.drop_table('visit_file')
