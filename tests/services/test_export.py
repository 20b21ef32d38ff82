"""History export: the files open with the right rows and columns, and nothing in them runs."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, User
from health_app.services.errors import NotFound, ValidationFailed
from health_app.services.records import export, visit_record
from health_app.services.records.export import ExportRequest, safe_cell
from health_app.services.scheduling import booking, search
from tests.services.scheduling_helpers import open_day, people, request

TOMORROW = date(2026, 3, 3)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell("Plain text") == "Plain text" and safe_cell(None) == ""


@pytest.fixture
def booked(session: Session, settings: Settings, now: datetime):  # type: ignore[no-untyped-def]
    cfg = replace(settings, booking_attempts_per_hour=1000, max_future_appointments=100)
    (doctor, other_doctor), (p1, p2, *_) = people(session, cfg, now)
    open_day(session, doctor, now, TOMORROW, end=time(13))
    slots = search.free_times(session, doctor_id=doctor.user_id, day=TOMORROW, now=now)
    first = booking.book_appointment(
        session, actor=p1, request=request(slots[0].slot_id), settings=cfg, now=now
    )
    booking.book_appointment(
        session, actor=p2, request=request(slots[8].slot_id), settings=cfg, now=now
    )  # 11:00
    visit_record.save_notes(
        session,
        actor=doctor,
        appointment_id=first.id,
        body='=HYPERLINK("http://evil")',
        based_on_version=0,
        now=now,
    )
    user = session.get(User, p1.user_id)
    user.first_name = "@Mallory"
    session.add(user)
    session.commit()
    return doctor, other_doctor, p1, p2


def test_xlsx_opens_with_the_chosen_columns_and_safe_cells(
    session: Session, booked, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    doctor, *_ = booked
    file = export.export_history(
        session,
        actor=doctor,
        now=now,
        request=ExportRequest(
            columns=["date", "time", "patient_name", "health_card", "notes"], file_format="xlsx"
        ),
    )
    sheet = load_workbook(io.BytesIO(file.data)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0] == ["Date", "Time", "Patient name", "Health card", "Notes"]
    assert len(rows) == 3 and file.rows == 2 and file.filename.endswith(".xlsx")
    # Named by the doctor's clock (Toronto), not UTC.
    local = now.astimezone(ZoneInfo("America/Toronto")).strftime("%Y%m%d-%H%M")
    assert now.utcoffset() is not None and file.filename == f"visits-{local}.xlsx"
    assert rows[1][0] == "2026-03-03" and rows[1][1].startswith("09:00")
    assert rows[1][2].startswith("'@Mallory") and rows[1][4] == '\'=HYPERLINK("http://evil")'
    assert (
        session.exec(select(AuditEvent).where(AuditEvent.action == "export.history")).one().actor_id
        == doctor.user_id
    )


def test_csv_with_date_time_and_name_filters(session: Session, booked, now: datetime) -> None:  # type: ignore[no-untyped-def]
    doctor, _, _, p2 = booked

    def run(**over: object) -> list[list[str]]:
        file = export.export_history(
            session,
            actor=doctor,
            now=now,
            request=ExportRequest(columns=["time", "patient_name"], file_format="csv", **over),
        )  # type: ignore[arg-type]
        return list(csv.reader(io.StringIO(file.data.decode("utf-8-sig"))))[1:]

    assert len(run()) == 2
    assert [r[0][:5] for r in run(from_time=time(10), until_time=time(12))] == ["11:00"]
    assert run(first=date(2026, 3, 4)) == []
    assert run(first=TOMORROW, last=TOMORROW) and len(run(first=TOMORROW, last=TOMORROW)) == 2
    assert [r[1] for r in run(patient_name=p2.display_name.split()[-1].upper())] == [
        p2.display_name
    ]


def test_bad_requests_and_other_people_are_refused(session: Session, booked, now: datetime) -> None:  # type: ignore[no-untyped-def]
    doctor, other_doctor, p1, _ = booked
    with pytest.raises(ValidationFailed) as err:
        export.export_history(
            session,
            actor=doctor,
            now=now,
            request=ExportRequest(
                columns=["date", "password_hash"],
                first=date(2026, 3, 5),
                last=date(2026, 3, 1),
                from_time=time(12),
                until_time=time(9),
                file_format="pdf",
            ),
        )
    assert set(err.value.field_errors) == {"columns", "last", "until_time", "file_format"}
    with pytest.raises(NotFound):
        export.export_history(session, actor=p1, now=now, request=ExportRequest(columns=["date"]))
    other = export.export_history(
        session,
        actor=other_doctor,
        now=now,
        request=ExportRequest(columns=["patient_name"], file_format="csv"),
    )
    assert other.rows == 0  # another doctor's export never contains these patients


def test_notes_are_read_in_pieces_and_none_is_lost(
    session: Session, booked, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A long export reads notes and prescriptions for its visits a piece at a time (a
    statement's parameters are bounded): one visit per piece gives the same file."""
    doctor, *_ = booked
    request = ExportRequest(columns=["time", "patient_name", "notes"], file_format="csv")
    whole = export.export_history(session, actor=doctor, now=now, request=request).data
    monkeypatch.setattr(export, "IDS_PER_QUERY", 1)
    pieces = export.export_history(session, actor=doctor, now=now, request=request).data
    assert pieces == whole and b"HYPERLINK" in whole
