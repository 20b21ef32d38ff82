"""How states run services: only work that made messages due wakes the sender."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from health_app import db
from health_app.dev import demo
from health_app.models import AuditEvent, Slot, SlotStatus, User
from health_app.services import audit
from health_app.services.accounts import profiles
from health_app.services.errors import NotFound
from health_app.services.jobs import scheduler
from health_app.services.scheduling import booking, search
from health_app.services.scheduling.booking import BookingRequest
from health_app.services.views import Actor
from health_app.state import unit_of_work
from tests.services.scheduling_helpers import actor_for


@dataclass(frozen=True)
class Seeded:
    now: datetime
    patient: Actor
    slot_id: int
    doctor_id: int


def _seeded() -> Seeded:
    """The demo doctor with a week of hours, the demo patient, and a free slot tomorrow on."""
    now = datetime.now(UTC)
    with db.session_scope() as session:
        demo.seed_demo(
            session,
            settings=db.get_settings(),
            now=now,
            doctors=1,
            patients=1,
            availability_days=7,
        )
    with Session(db.get_engine()) as session:
        patient = actor_for(session.exec(select(User).where(User.email == demo.DEMO_PATIENT)).one())
        slot = session.exec(
            select(Slot).where(
                Slot.status == SlotStatus.OPEN, Slot.starts_at > now + timedelta(days=1)
            )
        ).first()
        assert slot is not None and slot.id is not None
        return Seeded(now, patient, slot.id, slot.doctor_id)


def test_reads_do_not_wake_the_sender_and_a_booking_does(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kicks: list[int] = []
    monkeypatch.setattr(scheduler, "kick", lambda: kicks.append(1))
    w = _seeded()
    patient, slot_id = w.patient, w.slot_id

    async def run() -> None:
        await unit_of_work.run_service(profiles.get_profile, actor=patient)  # audited read
        await unit_of_work.run_service(search.get_doctor, doctor_id=w.doctor_id)
        assert kicks == []
        await unit_of_work.run_service(
            booking.book_appointment,
            actor=patient,
            request=BookingRequest(slot_id, "phone", "general", "a cough"),
        )
        assert kicks == [1]

    asyncio.run(run())


def test_a_login_hashes_its_password_outside_any_transaction(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one login is inside argon2, other work (an audited read, a booking) commits:
    the hashing holds no lock. Were it inside a write transaction, the other work would wait
    for it and this test would time out instead."""
    from health_app import http_auth
    from health_app.services.accounts import sessions

    w = _seeded()
    now, patient, slot_id = w.now, w.patient, w.slot_id
    hashing, others_done = threading.Event(), threading.Event()
    real_check = sessions.check_password

    def slow_check(email: str, password: str, stored: str | None) -> sessions.PasswordCheck:
        hashing.set()
        assert others_done.wait(timeout=20), "other work waited for the login's hashing"
        return real_check(email, password, stored)

    monkeypatch.setattr(sessions, "check_password", slow_check)
    result: list[object] = []
    login = threading.Thread(
        target=lambda: result.append(
            http_auth._log_in(demo.DEMO_PATIENT, demo.DEMO_PASSWORD, "127.0.0.1", db.get_settings())
        )
    )
    login.start()
    assert hashing.wait(timeout=10)
    with db.session_scope() as session:  # a write transaction: BEGIN IMMEDIATE on SQLite
        profiles.get_profile(session, actor=patient, now=now)
        booking.book_appointment(
            session,
            actor=patient,
            request=BookingRequest(slot_id, "phone", "general", "a cough"),
            settings=db.get_settings(),
            now=now,
        )
    others_done.set()
    login.join(timeout=20)
    assert len(result) == 1 and getattr(result[0], "token", "")


def test_a_read_completes_while_a_booking_holds_its_write_transaction(
    app_db: str,
) -> None:
    """Reads run in a plain transaction (SQLite takes no write lock for them), so a page
    load never queues behind a booking; their audit rows are written after them."""
    w = _seeded()
    now, patient, slot_id, doctor_id = w.now, w.patient, w.slot_id, w.doctor_id
    booked, read_done = threading.Event(), threading.Event()
    waited: list[bool] = []

    def book() -> None:
        with db.session_scope() as session:  # BEGIN IMMEDIATE: holds the write lock
            booking.book_appointment(
                session,
                actor=patient,
                request=BookingRequest(slot_id, "phone", "general", "a cough"),
                settings=db.get_settings(),
                now=now,
            )
            session.flush()
            booked.set()
            waited.append(not read_done.wait(timeout=20))

    writer_thread = threading.Thread(target=book)
    writer_thread.start()
    assert booked.wait(timeout=10)
    with db.read_scope() as session:  # while the booking holds the write lock
        assert search.get_doctor(session, doctor_id=doctor_id).doctor_id == doctor_id
        page = profiles.get_profile_page(
            session, actor=patient, settings=db.get_settings(), now=now
        )
        read_done.set()  # before the audit row, which is written after the read
    writer_thread.join(timeout=30)
    assert waited == [False], "the read waited for the booking's transaction"
    assert page.profile.email == demo.DEMO_PATIENT
    with Session(db.get_engine()) as session:
        audits = session.exec(select(AuditEvent).where(AuditEvent.action == "profile.read")).all()
        assert len(audits) == 1  # the read's audit, written once the booking had committed


def _thread_name(_session: Session) -> str:
    return threading.current_thread().name


@db.waits_beyond_database()
def _hashes_a_password(_session: Session) -> str:
    return threading.current_thread().name


def _stores_a_file(_session: Session, *, storage: object) -> str:
    return threading.current_thread().name


def test_quick_database_work_runs_on_the_few_service_threads(app_db: str) -> None:
    async def names() -> tuple[str, str, str]:
        return (
            await unit_of_work.run_service(_thread_name),
            await unit_of_work.run_service(_hashes_a_password),
            await unit_of_work.run_service(_stores_a_file),
        )

    quick, hashing, storing = asyncio.run(names())
    assert quick.startswith("services")
    assert not hashing.startswith("services") and not storing.startswith("services")
    assert unit_of_work._quick_threads()._max_workers == db.get_settings().service_threads
    # A service thread gets the interpreter lock back from the event loop within 1 ms.
    assert sys.getswitchinterval() == unit_of_work.SWITCH_INTERVAL_SECONDS


@db.reads_only
def _reads_on(_session: Session) -> str:
    return threading.current_thread().name


@db.reads_only
def _refuses_after_reading(session: Session, *, now: datetime) -> None:
    raise audit.deny(session, actor=None, action="test.read", now=now, object_id="x")


def test_a_quick_read_runs_on_the_event_loop_and_its_rows_are_written_on_a_thread(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read is not handed to a thread and back (that cost more than the read); its audit
    row is written after it, on a service thread, so no commit ever holds the loop."""
    w = _seeded()
    writers: list[str] = []
    write = unit_of_work.write_rows_after_read

    def recorded(rows: list[db.RowAfterRead]) -> None:
        writers.append(threading.current_thread().name)
        write(rows)

    monkeypatch.setattr(unit_of_work, "write_rows_after_read", recorded)
    monkeypatch.setattr(unit_of_work, "reads_on_event_loop", lambda: True)

    async def run() -> tuple[str, str]:
        loop_thread = threading.current_thread().name
        reader = await unit_of_work.run_service(_reads_on)
        await unit_of_work.run_service(profiles.get_profile_page, actor=w.patient)
        with pytest.raises(NotFound):
            await unit_of_work.run_service(_refuses_after_reading)
        return loop_thread, reader

    loop_thread, reader = asyncio.run(run())
    assert reader == loop_thread
    assert len(writers) == 2 and all(name.startswith("services") for name in writers)
    with Session(db.get_engine()) as session:
        actions = session.exec(select(AuditEvent.action, AuditEvent.outcome)).all()
    assert ("profile.read", "success") in actions  # the read's audit
    assert ("test.read", "denied") in actions  # a refusal's audit, though the read failed


def test_reads_wait_on_the_event_loop_only_when_every_core_has_a_worker(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker with a core to spare overlaps its reads' waits on its threads instead."""
    cores = unit_of_work._cores
    monkeypatch.setattr(unit_of_work, "_cores", lambda: 4)
    found: dict[int, tuple[bool, bool]] = {}
    for workers in (1, 3, 4, 8):
        monkeypatch.setenv("WEB_CONCURRENCY", str(workers))
        unit_of_work.reads_on_event_loop.cache_clear()

        async def where() -> bool:
            return await unit_of_work.run_service(_reads_on) == threading.current_thread().name

        found[workers] = (unit_of_work.reads_on_event_loop(), asyncio.run(where()))
    unit_of_work.reads_on_event_loop.cache_clear()
    assert found == {1: (False, False), 3: (False, False), 4: (True, True), 8: (True, True)}
    assert cores() == len(os.sched_getaffinity(0))  # the cores this process may run on


@pytest.mark.parametrize(
    ("limit", "at_most"),
    [("max 100000\n", 64), ("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000", 1)],
)
def test_a_containers_cpu_limit_counts_as_its_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, at_most: int
) -> None:
    pinned = len(os.sched_getaffinity(0))
    limit_file = tmp_path / "cpu.max"
    limit_file.write_text(limit)
    monkeypatch.setattr(unit_of_work, "CPU_LIMIT_FILE", limit_file)
    assert unit_of_work._cores() == min(pinned, at_most)
    monkeypatch.setattr(unit_of_work, "CPU_LIMIT_FILE", tmp_path / "absent")
    assert unit_of_work._cores() == pinned


def test_a_search_near_a_typed_place_waits_beyond_the_database() -> None:
    from health_app.services.files import upload
    from health_app.services.maps import near

    assert not db.waits_on_more(near.find_doctors, {"place": ""})
    assert not db.waits_on_more(near.find_doctors, {"place": near.HOME})
    assert db.waits_on_more(near.find_doctors, {"place": "M5V 2T6"})  # Google's geocoder
    assert db.waits_on_more(profiles.change_password, {})  # password hashing
    assert db.waits_on_more(upload.finish_upload, {})  # commits blocks in storage


def test_a_service_sees_the_callers_context(app_db: str) -> None:
    """As with asyncio.to_thread: a log line in a service carries the event's ids."""
    import contextvars

    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")

    def read(_session: Session) -> str:
        return seen.get()

    async def call() -> str:
        seen.set("event-7")
        return await unit_of_work.run_service(read)

    assert asyncio.run(call()) == "event-7"
