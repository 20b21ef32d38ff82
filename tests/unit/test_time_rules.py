from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from health_app.services.scheduling.time_rules import (
    Window,
    day_slots,
    local_to_utc,
    range_slots,
    template_slots,
    without_overlaps,
)

TORONTO = ZoneInfo("America/Toronto")
UTC_ = ZoneInfo("UTC")


def _local(slots: list[tuple[datetime, datetime]], zone: ZoneInfo = TORONTO) -> list[str]:
    return [s.astimezone(zone).strftime("%Y-%m-%d %H:%M") for s, _ in slots]


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        (date(2026, 3, 6), 14),
        (date(2026, 3, 9), 13),  # EST -> EDT on Sunday 8 March
        (date(2026, 10, 30), 13),
        (date(2026, 11, 2), 14),
    ],  # EDT -> EST on Sunday 1 November
)
def test_nine_oclock_stays_nine_oclock_across_dst(day: date, utc_hour: int) -> None:
    [(start, end)] = day_slots(day, time(9), time(9, 15), 15, TORONTO)
    assert start.hour == utc_hour and start.astimezone(TORONTO).hour == 9
    assert end - start == timedelta(minutes=15)


def test_weekly_template_across_both_dst_changes_keeps_local_times() -> None:
    windows = [Window(weekday=d, start=time(9), end=time(12), slot_minutes=30) for d in range(5)]
    for first, last in (
        (date(2026, 3, 2), date(2026, 3, 13)),
        (date(2026, 10, 26), date(2026, 11, 6)),
    ):
        slots = template_slots(windows, first, last, TORONTO)
        assert len(slots) == 10 * 6  # ten weekdays, six 30-minute slots each
        assert {s.astimezone(TORONTO).time() for s, _ in slots} == {
            time(9),
            time(9, 30),
            time(10),
            time(10, 30),
            time(11),
            time(11, 30),
        }
        assert all(e - s == timedelta(minutes=30) for s, e in slots)


def test_nonexistent_local_time_is_skipped_and_repeated_hour_is_not_doubled() -> None:
    assert local_to_utc(date(2026, 3, 8), time(2, 30), TORONTO) is None
    spring = day_slots(date(2026, 3, 8), time(1), time(4), 30, TORONTO)
    assert _local(spring) == ["2026-03-08 01:00", "2026-03-08 03:00", "2026-03-08 03:30"]
    fall = day_slots(date(2026, 11, 1), time(0), time(3), 60, TORONTO)
    assert len(fall) == 3 and len({s for s, _ in fall}) == 3


def test_a_doctor_in_another_zone_gets_their_own_wall_clock() -> None:
    vancouver = ZoneInfo("America/Vancouver")
    [(start, _)] = day_slots(date(2026, 6, 1), time(9), time(9, 15), 15, vancouver)
    assert start == datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
    assert start.astimezone(TORONTO).hour == 12  # what a Toronto patient sees


def test_range_of_thirty_days_twelve_hours_fifteen_minutes_is_1440_slots() -> None:
    slots = range_slots(date(2026, 4, 1), date(2026, 4, 30), time(8), time(20), 15, TORONTO)
    assert len(slots) == 30 * 48


def test_without_overlaps_skips_what_exists_and_partial_overlaps() -> None:
    t = datetime(2026, 4, 1, 13, tzinfo=UTC)
    m = timedelta(minutes=1)
    existing = [(t, t + 15 * m), (t + 40 * m, t + 70 * m)]
    candidates = [(t + k * 15 * m, t + (k + 1) * 15 * m) for k in range(6)]
    kept = without_overlaps(candidates, existing)
    assert kept == [(t + 15 * m, t + 30 * m), (t + 75 * m, t + 90 * m)]
    # back-to-back is not an overlap
    assert without_overlaps([(t + 15 * m, t + 30 * m)], existing) == [(t + 15 * m, t + 30 * m)]
    # candidates that overlap each other keep the earlier one
    assert without_overlaps([(t, t + 30 * m), (t + 15 * m, t + 45 * m)], []) == [(t, t + 30 * m)]
