"""The hottest reads answer the same on PostgreSQL's driver as through SQLAlchemy, and
anything that is not the same read goes through SQLAlchemy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, bindparam, create_engine, event, literal_column, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Session, col, select

from health_app import db, driver_reads
from health_app.config import Settings
from health_app.db import planned_each_time, read_scope
from health_app.dev.demo import DEMO_PASSWORD
from health_app.driver_reads import _compiled, read_first, read_rows
from health_app.models import Slot, User
from health_app.services.accounts import sessions
from health_app.services.records import dashboard
from health_app.services.records.dashboard_page import _PATIENT_FACTS, get_dashboard
from health_app.services.scheduling import search
from health_app.services.views import Actor
from tests.services.scheduling_helpers import clinic_with_visits, counted

Clinic = tuple[Actor, Actor, Actor, date, datetime]


@pytest.fixture
def clinic(session: Session, settings: Settings, now: datetime) -> Clinic:
    return clinic_with_visits(session, settings, now)


def _token(session: Session, settings: Settings, who: Actor, now: datetime) -> str:
    email = session.get_one(User, who.user_id).email
    result = sessions.login(
        session, email=email, password=DEMO_PASSWORD, client="test", settings=settings, now=now
    )
    session.commit()
    return result.token


def _answers(session: Session, settings: Settings, clinic: Clinic, token: str) -> list[Any]:
    doctor, ann, bob, first, later = clinic
    answers: list[Any] = [
        sessions.resolve_session(session, token=token, settings=settings, now=later),
        sessions.resolve_session(session, token="forged", settings=settings, now=later),
        get_dashboard(session, actor=ann, now=later),
        get_dashboard(session, actor=bob, now=later),
        get_dashboard(session, actor=doctor, now=later),
        dashboard.doctor_facts(session, actor=doctor, now=later),
        search.free_times(
            session, doctor_id=doctor.user_id, day=first + timedelta(days=1), now=later
        ),
        search.free_days(session, doctor_id=doctor.user_id, first=first, days=7, now=later),
    ]
    for query, page in (
        (search.DoctorQuery(), 1),
        (search.DoctorQuery(name="zzz-nobody"), 1),
        (search.DoctorQuery(), 9),  # past the last page: the count alone
        (search.DoctorQuery(on=first + timedelta(days=2)), 1),
    ):
        answers.append(
            search.search_doctors(session, query=query, page=page, now=later, settings=settings)
        )
    return answers


def test_the_hottest_reads_answer_on_the_driver_as_through_sqlalchemy(
    engine: Engine, session: Session, settings: Settings, clinic: Clinic
) -> None:
    token = _token(session, settings, clinic[1], clinic[4] - timedelta(seconds=30))
    # A unit of work that writes always goes through SQLAlchemy (it may have to flush).
    through_sqlalchemy = _answers(session, settings, clinic, token)
    session.rollback()
    with read_scope(engine) as reading:
        on_the_driver = _answers(reading, settings, clinic, token)
    assert on_the_driver == through_sqlalchemy
    assert through_sqlalchemy[0] is not None and through_sqlalchemy[0].user_id == clinic[1].user_id
    assert through_sqlalchemy[2].upcoming_total == 15 and through_sqlalchemy[8]  # not all empty


def test_rows_read_on_the_driver_read_as_sqlalchemys_do(engine: Engine, clinic: Clinic) -> None:
    ann = clinic[1]
    with read_scope(engine) as reading:
        direct = read_rows(reading, _PATIENT_FACTS, {"me": ann.user_id})
        through = reading.execute(_PATIENT_FACTS, {"me": ann.user_id}).all()
        statement = select(col(Slot.id), col(Slot.starts_at).label("at")).order_by(col(Slot.id))
        slots = read_rows(reading, statement.limit(3))
        assert read_first(reading, _PATIENT_FACTS, {"me": -1}) is None
    on_driver = engine.dialect.name == "postgresql"
    if on_driver:  # the very text SQLAlchemy sends: psycopg prepares it once for both
        sent: list[str] = []
        with read_scope(engine) as reading:
            conn = reading.connection()
            event.listen(conn, "before_cursor_execute", lambda *a: sent.append(a[2]))
            reading.execute(_PATIENT_FACTS, {"me": ann.user_id}).all()
            assert sent == [_compiled(_PATIENT_FACTS, conn.dialect).sql]  # type: ignore[union-attr]
    assert all(isinstance(r, Row) != on_driver for r in [*direct, *slots])
    assert [tuple(r) for r in direct] == [tuple(r) for r in through]
    assert direct[0]._fields == through[0]._fields
    pharmacy, _microsoft = direct[0]  # unpacks, and reads by name and index
    assert direct[0].pharmacy_name == pharmacy == direct[0][0]
    assert [r.at.tzinfo is not None for r in slots] == [True] * 3  # UTC in, aware out


def test_what_is_not_the_same_read_goes_through_sqlalchemy(engine: Engine, clinic: Clinic) -> None:
    ann = clinic[1]
    listed = select(col(User.id)).where(col(User.id).in_(bindparam("ids", expanding=True)))
    with read_scope(engine) as reading:
        # An IN list SQLAlchemy expands at execution.
        rows = read_rows(reading, listed, {"ids": [ann.user_id, -1]})
        assert [tuple(r) for r in rows] == [(ann.user_id,)]
        assert isinstance(rows[0], Row)
        # A parameter left out: SQLAlchemy's error names it, no NULL is sent in its place.
        with pytest.raises(StatementError, match="me"):
            read_rows(reading, _PATIENT_FACTS, {})
        # Someone listening to the statements sees them all.
        with counted(reading) as seen:
            assert isinstance(read_rows(reading, _PATIENT_FACTS, {"me": ann.user_id})[0], Row)
        assert len(seen) == 1


def _postgres_with_a_pool_of(size: int) -> Iterator[Engine]:
    from tests.conftest import PG_URL

    if not PG_URL:
        pytest.skip("needs TEST_POSTGRES_URL (make test)")
    eng = db.make_engine(PG_URL, pool_size=size, max_overflow=0)
    yield eng
    driver_reads._let_go_of_kept()  # a connection kept by this thread's reads on a loop
    eng.dispose()


@pytest.fixture
def one_connection() -> Iterator[Engine]:
    yield from _postgres_with_a_pool_of(1)


def _kill(engine: Engine, pid: int) -> None:
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


@pytest.mark.parametrize("holding", [False, True], ids=["own connection", "the read's"])
def test_a_driver_error_is_sqlalchemys_and_a_lost_connection_is_replaced(
    one_connection: Engine, monkeypatch: pytest.MonkeyPatch, holding: bool
) -> None:
    """Whether the statement took a connection of its own or ran on the one its read
    holds (a read that began its Session), errors come out as SQLAlchemy's."""
    engine = one_connection
    backend = select(literal_column("pg_backend_pid()").label("pid"))
    sleep = select(literal_column("pg_sleep(1)").label("slept"))

    def read(statement: Any) -> Sequence[Any]:
        with read_scope(engine) as reading:
            if holding:
                reading.connection()
            return read_rows(reading, statement)

    pid = read(backend)[0].pid
    _kill(engine, pid)
    with pytest.raises(DBAPIError) as lost:
        read(backend)
    assert lost.value.connection_invalidated
    assert read(backend)[0].pid != pid
    engine.dispose()
    monkeypatch.setattr(db, "READ_TIMEOUT_MS", 50)  # read as the reader's connections open
    with pytest.raises(DBAPIError) as cut:
        read(sleep)
    assert "statement timeout" in str(cut.value.orig) and not cut.value.connection_invalidated
    assert read(backend)[0].pid  # the same connection serves the next read


def test_a_read_holding_a_connection_runs_its_statements_there(one_connection: Engine) -> None:
    """A read takes a connection per statement until its unit of work holds one (here, a
    setting made on it): then its statements see that setting."""
    mode = select(literal_column("current_setting('plan_cache_mode')").label("mode"))
    with read_scope(one_connection) as reading:
        assert read_rows(reading, mode)[0].mode == "auto"
        assert not reading.in_transaction()  # the Session itself never began
        with planned_each_time(reading):
            assert read_rows(reading, mode)[0].mode == "force_custom_plan"
        assert read_rows(reading, mode)[0].mode == "auto"


@pytest.fixture
def two_connections() -> Iterator[Engine]:
    yield from _postgres_with_a_pool_of(2)


_BACKEND = select(literal_column("pg_backend_pid()").label("pid"))


def _pids_and_checkouts(engine: Engine, reads: int, *, on_loop: bool) -> tuple[set[int], int]:
    """The backends `reads` reads ran on, and how many times the reader's pool handed out
    a connection, the reads made on an event loop or not."""
    checkouts = 0

    def counted(*_args: object) -> None:
        nonlocal checkouts
        checkouts += 1

    reader = db._reader(engine)
    event.listen(reader, "checkout", counted)

    def read_all() -> set[int]:
        pids = set()
        for _ in range(reads):
            with read_scope(engine) as reading:
                pids.add(read_rows(reading, _BACKEND)[0].pid)
        return pids

    async def on_a_loop() -> set[int]:
        return read_all()

    try:
        pids = asyncio.run(on_a_loop()) if on_loop else read_all()
    finally:
        event.remove(reader, "checkout", counted)
    return pids, checkouts


def test_reads_on_an_event_loop_keep_one_connection(two_connections: Engine) -> None:
    pids, checkouts = _pids_and_checkouts(two_connections, 5, on_loop=True)
    assert (len(pids), checkouts) == (1, 1)
    # Off the loop (service threads) each statement takes one from the pool and gives it back.
    assert _pids_and_checkouts(two_connections, 3, on_loop=False)[1] == 3


def test_a_pool_of_one_is_never_kept_from_other_units_of_work(one_connection: Engine) -> None:
    _pids_and_checkouts(one_connection, 2, on_loop=True)
    assert db._reader(one_connection).pool.checkedout() == 0


def test_a_kept_connection_idle_for_long_is_pinged_and_replaced_when_dead(
    two_connections: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the pool pings a connection idle for long (db.py), without failing the read."""
    (pid,), _ = _pids_and_checkouts(two_connections, 1, on_loop=True)
    _kill(two_connections, pid)
    monkeypatch.setattr(driver_reads, "PING_AFTER_IDLE_SECONDS", 0.0)
    (new_pid,), checkouts = _pids_and_checkouts(two_connections, 1, on_loop=True)
    assert new_pid != pid and checkouts == 1


def test_a_kept_connection_that_failed_is_let_go(two_connections: Engine) -> None:
    """Killed while in use (no idle time to ping it): that read fails as SQLAlchemy's does,
    the next one runs on a new connection; after a dispose, on one of the new pool."""
    (pid,), _ = _pids_and_checkouts(two_connections, 1, on_loop=True)
    _kill(two_connections, pid)
    with pytest.raises(DBAPIError) as lost:
        _pids_and_checkouts(two_connections, 1, on_loop=True)
    assert lost.value.connection_invalidated
    (second,), _ = _pids_and_checkouts(two_connections, 1, on_loop=True)
    assert second != pid
    db._reader(two_connections).dispose()
    (third,), checkouts = _pids_and_checkouts(two_connections, 1, on_loop=True)
    assert third != second and checkouts == 1
