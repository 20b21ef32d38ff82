"""What the scheduler last did (leader, last tick), for the operator's figures page.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduler_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('leader', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('last_tick_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_tick_ms', sa.Integer(), nullable=False),
    sa.Column('last_sent', sa.Integer(), nullable=False),
    sa.Column('last_failed', sa.Integer(), nullable=False),
    sa.CheckConstraint('id = 1', name='ck_scheduler_status_one_row'),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('scheduler_status')
