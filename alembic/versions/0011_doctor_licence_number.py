"""doctor_profile.licence_number: the registration number a doctor applies with.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'licence_number',
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default='',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.drop_column('licence_number')
