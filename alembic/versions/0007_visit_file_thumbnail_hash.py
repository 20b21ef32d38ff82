"""SHA-256 of a visit file's thumbnail, so previews are integrity-checked like the files.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visit_file', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('thumbnail_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), server_default='', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('visit_file', schema=None) as batch_op:
        batch_op.drop_column('thumbnail_sha256')
