"""The patient's pharmacy: typed in the profile now, picked on a map with the Maps feature.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_COLUMNS = (("pharmacy_name", 200), ("pharmacy_address", 300), ("pharmacy_phone", 20), ("pharmacy_place_id", 300))


def upgrade() -> None:
    with op.batch_alter_table('patient_profile') as batch:
        for name, length in _COLUMNS:
            batch.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), server_default='', nullable=False)
            )


def downgrade() -> None:
    with op.batch_alter_table('patient_profile') as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
