"""Pure rules of notifications: when a late message is still worth sending, and text helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from health_app.config import load_settings
from health_app.services.messaging import outbox
from health_app.services.messaging.notifications import offset_label, when_long, when_short

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
R24, R15 = outbox.reminder_kind(1440), outbox.reminder_kind(15)


def _verdict(
    kind: str, starts_in: timedelta, *, status: str = "booked", moved: bool = False
) -> str:
    return outbox.verdict(
        kind=kind,
        visit_revision=0,
        appt_status=status,
        appt_revision=1 if moved else 0,
        starts_at=NOW + starts_in,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("kind", "starts_in", "expected"),
    [
        (R24, timedelta(hours=24), ""),
        (R24, timedelta(hours=2, seconds=1), ""),
        (R24, timedelta(hours=2), "too late to be useful"),
        (R24, timedelta(minutes=30), "too late to be useful"),
        (R24, timedelta(minutes=-5), "visit already started"),
        (R15, timedelta(minutes=15), ""),
        (R15, timedelta(seconds=1), ""),
        (R15, timedelta(0), "visit already started"),
        (outbox.BOOKED, timedelta(minutes=1), ""),
        (outbox.BOOKED, timedelta(minutes=-1), "visit already started"),
        (outbox.CANCELLED, timedelta(minutes=-60), ""),
    ],
)
def test_late_messages_go_only_while_useful(kind: str, starts_in: timedelta, expected: str) -> None:
    assert _verdict(kind, starts_in) == expected


def test_cancelled_or_moved_visits_get_no_reminder_but_a_cancellation_notice_goes() -> None:
    assert _verdict(R15, timedelta(hours=1), status="cancelled") == "visit no longer booked"
    assert _verdict(R15, timedelta(hours=1), moved=True) == "visit was moved"
    assert _verdict(outbox.CANCELLED, timedelta(hours=1), status="cancelled") == ""


def test_account_emails_always_go() -> None:
    assert (
        outbox.verdict(
            kind="account.confirm",
            visit_revision=0,
            appt_status=None,
            appt_revision=None,
            starts_at=None,
            now=NOW,
        )
        == ""
    )


def test_tokens_are_redacted_from_links_only() -> None:
    body = "Open http://x/confirm?token=abc-DEF_123 now; token= stays in prose.\nhttp://x/r?a=1&token=z9"
    assert outbox.redact_tokens(body) == (
        "Open http://x/confirm?token=[redacted] now; token= stays in prose.\n"
        "http://x/r?a=1&token=[redacted]"
    )


def test_labels_and_times_in_a_zone() -> None:
    assert [offset_label(m) for m in (1440, 2880, 60, 120, 15)] == [
        "24 hours",
        "2 days",
        "1 hour",
        "2 hours",
        "15 minutes",
    ]
    at = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert when_long(at, ZoneInfo("America/Toronto")) == "Monday 9 March 2026 at 09:00 EDT"
    assert when_short(at, ZoneInfo("America/Vancouver")) == "Mon 9 Mar 06:00 PDT"


def test_offsets_and_sms_backend_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMINDER_OFFSETS_MINUTES", "15, 1440,60")
    assert load_settings().reminder_offsets_minutes == (1440, 60, 15)
    monkeypatch.setenv("REMINDER_OFFSETS_MINUTES", "soon")
    with pytest.raises(ValueError, match="REMINDER_OFFSETS_MINUTES"):
        load_settings()
    monkeypatch.setenv("REMINDER_OFFSETS_MINUTES", "1440")
    monkeypatch.setenv("SMS_BACKEND", "pigeon")
    with pytest.raises(ValueError, match="SMS_BACKEND"):
        load_settings()
