"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which drops the zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        zone = value.tzinfo
        if zone is UTC:  # PostgreSQL sessions run in UTC (db.py): the common case, as is
            return value
        if zone is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_field(*, nullable: bool = False, index: bool = False) -> Any:
    """A SQLModel field stored as UTCDateTime."""
    return Field(
        default=None,
        sa_type=UTCDateTime(),  # type: ignore[arg-type]
        nullable=nullable,
        index=index,
    )
