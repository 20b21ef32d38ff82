"""What the scheduler last did, for the operator's figures page (one row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class SchedulerStatus(SQLModel, table=True):
    __tablename__ = "scheduler_status"
    __table_args__ = (CheckConstraint("id = 1", name="ck_scheduler_status_one_row"),)

    id: int = Field(default=1, primary_key=True)
    # Host and process of the leader that wrote this row: which one is ticking.
    leader: str = Field(max_length=200)
    last_tick_at: datetime = utc_field()
    last_tick_ms: int = 0
    last_sent: int = 0
    last_failed: int = 0
