"""Per-key rate limits for requests that send email (password resets, activation links).

Each counted request is a `rate_event` row kept even when the request then fails, keyed
by a hash of what is limited, so the ledger names no address or client.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.db import keep_on_rollback
from health_app.models import RateEvent
from health_app.services.errors import Throttled

WINDOW = timedelta(hours=1)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def check(session: Session, *, kind: str, value: str, limit: int, now: datetime) -> None:
    """Raise Throttled when `value` already made `limit` requests of `kind` this hour."""
    key = _key(kind, value)
    count, oldest = session.exec(
        select(func.count(), func.min(RateEvent.at)).where(
            RateEvent.kind == kind, RateEvent.key == key, col(RateEvent.at) > now - WINDOW
        )
    ).one()
    if count >= limit and oldest is not None:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
        raise Throttled(int((oldest_at + WINDOW - now).total_seconds()) + 1)


def count(session: Session, *, kind: str, value: str, now: datetime) -> None:
    """Count one request of `kind` by `value` (kept even if the request then fails)."""
    keep_on_rollback(session, RateEvent(kind=kind, key=_key(kind, value), at=now))


def limit(
    session: Session, *, kind: str, limits: dict[str, tuple[str, int]], now: datetime
) -> None:
    """Check every limit first (`{"account": (address, 3), "client": (ip, 10)}`), then
    count the request against each: a refused request is not counted."""
    for scope, (value, most) in limits.items():
        check(session, kind=f"{kind}.{scope}", value=value, limit=most, now=now)
    for scope, (value, _) in limits.items():
        count(session, kind=f"{kind}.{scope}", value=value, now=now)


def prune(session: Session, *, now: datetime) -> int:
    """Drop what no limit looks at any more."""
    rows = session.exec(select(RateEvent).where(col(RateEvent.at) < now - WINDOW)).all()
    for row in rows:
        session.delete(row)
    return len(rows)
