"""Publishing many slots at once on PostgreSQL: one statement, whatever the batch's size.

Opening a month of 15-minute slots, saving a weekly template and the hourly horizon fill
all come here. The candidates travel as two timestamp arrays (`unnest`), so the statement
is the same for 1 or 5,000 slots (prepared once per connection), and the overlap check
against the doctor's slots and time off is done for the whole batch inside it. The caller
holds the doctor's lock and passes candidates that do not overlap one another.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, String, bindparam, exists, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from health_app.models import Slot, TimeOff

_S = Slot.__table__  # type: ignore[attr-defined]
_T = TimeOff.__table__  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _insert_free() -> Any:
    stamps = ARRAY(_S.c.starts_at.type)
    batch = select(
        func.unnest(bindparam("starts", type_=stamps)).label("s"),
        func.unnest(bindparam("ends", type_=stamps)).label("e"),
    ).subquery("batch")
    doctor = bindparam("doctor", type_=Integer)
    taken = exists().where(
        _S.c.doctor_id == doctor,
        _S.c.status != literal_column("'closed'"),
        _S.c.starts_at < batch.c.e,
        _S.c.ends_at > batch.c.s,
    )
    off = exists().where(
        _T.c.doctor_id == doctor, _T.c.starts_at < batch.c.e, _T.c.ends_at > batch.c.s
    )
    added = (
        insert(_S)
        .from_select(
            ["doctor_id", "starts_at", "ends_at", "status", "source"],
            select(
                doctor,
                batch.c.s,
                batch.c.e,
                literal_column("'open'"),
                bindparam("source", type_=String),
            ).where(~taken, ~off),
        )
        .returning(_S.c.id)
        .cte("added")
    )
    return select(func.count()).select_from(added)


def insert_free(
    session: Session, *, doctor_id: int, intervals: list[tuple[datetime, datetime]], source: str
) -> int:
    """Insert those of `intervals` that overlap no slot and no time off; returns how many."""
    return (
        session.connection()
        .execute(
            _insert_free(),
            {
                "doctor": doctor_id,
                "starts": [b for b, _ in intervals],
                "ends": [e for _, e in intervals],
                "source": source,
            },
        )
        .scalar_one()
    )
