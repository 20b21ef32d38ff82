"""Showing instants to people: always in a named zone, never bare UTC."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def when(instant: datetime, zone: str) -> str:
    """'Tue 3 Mar 2026, 09:00 EST' in the given IANA zone."""
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def clock(instant: datetime, zone: str) -> str:
    local = instant.astimezone(ZoneInfo(zone))
    return f"{local:%H:%M}"


def day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"
