"""Pure rules about wall-clock time: turning local schedules into UTC intervals.

Rules are written in the doctor's zone, so a 09:00 window stays at 09:00 local across
DST changes; times that do not exist locally (the spring-forward gap) are skipped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 240
MAX_HORIZON_DAYS = 366

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Window:
    """A daily window of bookable time, in local wall-clock time."""

    weekday: int  # Monday = 0
    start: time
    end: time
    slot_minutes: int


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock time, or None if it does not exist that day."""
    local = datetime.combine(day, at, tzinfo=zone)
    utc = local.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None  # inside the spring-forward gap
    return utc


def day_slots(day: date, start: time, end: time, minutes: int, zone: ZoneInfo) -> list[Interval]:
    """Back-to-back slots of `minutes` from start to end local time on one day (end > start)."""
    out: list[Interval] = []
    step = timedelta(minutes=minutes)
    cursor, last = datetime.combine(day, start), datetime.combine(day, end)
    while cursor + step <= last:
        begin = local_to_utc(day, cursor.time(), zone)
        finish = local_to_utc(day, (cursor + step).time(), zone)
        if begin is not None and finish is not None and finish > begin:
            out.append((begin, finish))
        cursor += step
    return out


def dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def range_slots(
    first: date, last: date, start: time, end: time, minutes: int, zone: ZoneInfo
) -> list[Interval]:
    return [s for day in dates(first, last) for s in day_slots(day, start, end, minutes, zone)]


def template_slots(
    windows: Iterable[Window], first: date, last: date, zone: ZoneInfo
) -> list[Interval]:
    by_day: dict[int, list[Window]] = {}
    for w in windows:
        by_day.setdefault(w.weekday, []).append(w)
    out: list[Interval] = []
    for day in dates(first, last):
        for w in by_day.get(day.weekday(), []):
            out.extend(day_slots(day, w.start, w.end, w.slot_minutes, zone))
    return out


def without_overlaps(candidates: list[Interval], taken: list[Interval]) -> list[Interval]:
    """Candidates that overlap nothing in `taken` nor an earlier kept candidate.

    `taken` must not overlap itself (a doctor's slots never do), so sorted by start its
    ends are sorted too and one bisect per candidate finds the only neighbour to check.
    """
    busy = sorted(taken)
    starts = [b for b, _ in busy]
    kept: list[Interval] = []
    for begin, finish in sorted(candidates):
        i = bisect_left(starts, finish)  # busy[i:] start at or after our end
        if i > 0 and busy[i - 1][1] > begin:
            continue
        if kept and kept[-1][1] > begin:
            continue
        kept.append((begin, finish))
    return kept


def overlaps(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]
