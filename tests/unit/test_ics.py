"""The visit's iCalendar text, read back by the icalendar library as a calendar app would."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from health_app.config import Settings
from health_app.services.messaging import ics
from health_app.services.messaging.notifications import Person, Visit, visit_ics

STARTS = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
ENDS = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 8, 0, 5, tzinfo=UTC)


def _visit(doctor: str, *, video: bool = True) -> Visit:
    return Visit(
        id=4242,
        revision=3,
        starts_at=STARTS,
        ends_at=ENDS,
        format="video" if video else "phone",
        join_url="https://meet.jit.si/HealthApp-" + "x" * 60 if video else "",
        doctor_name=f"Dr. {doctor}",
        doctor_last=doctor.split()[-1],
        patient_name="Zoë Ångström-Łukasiewicz",
        patient_phone="+14165550100",
    )


def _person(role: str) -> Person:
    return Person(
        user_id=7,
        role=role,
        name="Zoë",
        email="zoe@example.org",
        phone="",
        notify_email=True,
        notify_sms=False,
        zone=ZoneInfo("America/Toronto"),
    )


@pytest.mark.parametrize("doctor", ["Amir Khan", "Jean-Luc O'Brien, Jr.; MD", "Łucja Żółć 東京"])
@pytest.mark.parametrize("role", ["patient", "doctor"])
@pytest.mark.parametrize("cancelled", [False, True])
def test_the_event_reads_back_as_written(doctor: str, role: str, cancelled: bool) -> None:
    visit = _visit(doctor)
    text = visit_ics(visit, _person(role), Settings(), now=NOW, cancelled=cancelled)
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75, line
    assert text.endswith("END:VCALENDAR\r\n")
    cal = icalendar.Calendar.from_ical(text)
    assert str(cal["METHOD"]) == ("CANCEL" if cancelled else "PUBLISH")
    [event] = cal.walk("VEVENT")
    assert event.decoded("DTSTART") == STARTS and event.decoded("DTEND") == ENDS
    assert event.decoded("DTSTAMP") == NOW
    assert str(event["UID"]) == "appointment-4242@health-app.local"
    assert int(event["SEQUENCE"]) == 3 + (1 if cancelled else 0)
    other = f"Dr. {doctor}" if role == "patient" else visit.patient_name
    assert str(event["SUMMARY"]) == f"Video visit with {other}"
    assert str(event["LOCATION"]) == visit.join_url
    assert str(event["DESCRIPTION"]).split("\n") == [
        f"Join: {visit.join_url}",
        "Details: http://localhost:3000/visit?id=4242",
    ]
    assert str(event["STATUS"]) == ("CANCELLED" if cancelled else "CONFIRMED")


def test_a_phone_visit_is_a_phone_call() -> None:
    text = visit_ics(_visit("Amir Khan", video=False), _person("patient"), Settings(), now=NOW)
    [event] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["LOCATION"]) == "Phone call"
    assert "will call you at +14165550100" in str(event["DESCRIPTION"])


@pytest.mark.parametrize("tail", ["é" * 50, "plain ascii " * 9])
@pytest.mark.parametrize("lead", ["", "x", "xy"])
def test_folding_never_splits_an_escape_or_a_character(lead: str, tail: str) -> None:
    line = "SUMMARY:" + lead + ics.text("a,b;c\\d\n" * 20 + tail)
    folded = ics.fold(line)
    parts = folded.split("\r\n ")
    assert all(len(p.encode()) <= 75 - (1 if i else 0) for i, p in enumerate(parts))
    assert all((len(p) - len(p.rstrip("\\"))) % 2 == 0 for p in parts[:-1])
    assert "".join(parts) == line
