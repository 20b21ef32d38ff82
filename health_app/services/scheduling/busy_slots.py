"""Slots under a doctor's Outlook busy times (services/microsoft/busy_times.py reads them):
blocked while a busy time overlaps them, open again when it goes and no time off covers
them. Plain SQL on slots, so publishing slots can apply it too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, update
from sqlmodel import Session

from health_app.models import OutlookBusy, Slot, SlotStatus, TimeOff

_S = Slot.__table__  # type: ignore[attr-defined]
_B = OutlookBusy.__table__  # type: ignore[attr-defined]
_T = TimeOff.__table__  # type: ignore[attr-defined]


def _overlaps_busy() -> Any:
    return exists().where(
        _B.c.doctor_id == _S.c.doctor_id,
        _B.c.starts_at < _S.c.ends_at,
        _B.c.ends_at > _S.c.starts_at,
    )


def block_busy(session: Session, *, doctor_id: int, lo: datetime, hi: datetime) -> int:
    """Open slots of the doctor between lo and hi that overlap a busy time become blocked."""
    result = session.execute(
        update(_S)
        .where(
            _S.c.doctor_id == doctor_id,
            _S.c.status == SlotStatus.OPEN,
            _S.c.starts_at < hi,
            _S.c.ends_at > lo,
            _overlaps_busy(),
        )
        .values(status=SlotStatus.BLOCKED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release_free(session: Session, *, doctor_id: int, now: datetime) -> int:
    """Blocked future slots that no busy time and no time off covers open again."""
    time_off = exists().where(
        _T.c.doctor_id == _S.c.doctor_id,
        _T.c.starts_at < _S.c.ends_at,
        _T.c.ends_at > _S.c.starts_at,
    )
    result = session.execute(
        update(_S)
        .where(
            _S.c.doctor_id == doctor_id,
            _S.c.status == SlotStatus.BLOCKED,
            _S.c.starts_at > now,
            ~_overlaps_busy(),
            ~time_off,
        )
        .values(status=SlotStatus.OPEN)
    )
    return int(getattr(result, "rowcount", 0) or 0)
