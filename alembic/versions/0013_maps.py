"""Maps: where patients live and clinics are (source, status, time), a geocode cache, and
an index for "doctors near me".

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('geocode_cache',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('found', sa.Boolean(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('place_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    for table in ('patient_profile', 'doctor_profile'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('geo_source', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='', nullable=False))
            batch_op.add_column(sa.Column('geo_status', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='', nullable=False))
            batch_op.add_column(sa.Column('geo_at', sa.DateTime(timezone=True), nullable=True))
    # Addresses saved before this: geocoded by the scheduler once a server key is set.
    op.execute("UPDATE patient_profile SET geo_status = 'pending' WHERE latitude IS NULL")
    op.execute("UPDATE doctor_profile SET geo_status = 'pending' WHERE latitude IS NULL")
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.create_index('ix_doctor_profile_lat_lng', ['latitude', 'longitude'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # Great-circle distance in km (NULL for a missing point: STRICT); SQLite gets the same
        # function from Python (db.py).
        op.execute(GEO_KM)


GEO_KM = """
CREATE OR REPLACE FUNCTION geo_km(lat1 float8, lng1 float8, lat2 float8, lng2 float8)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
    power(sin(radians(lat2 - lat1) / 2), 2)
    + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2))))
$$
"""


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS geo_km(float8, float8, float8, float8)")
    with op.batch_alter_table('doctor_profile', schema=None) as batch_op:
        batch_op.drop_index('ix_doctor_profile_lat_lng')
    for table in ('patient_profile', 'doctor_profile'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('geo_at')
            batch_op.drop_column('geo_status')
            batch_op.drop_column('geo_source')
    op.drop_table('geocode_cache')
