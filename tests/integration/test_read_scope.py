"""A unit of work that only reads is held to it by the database itself, and the pooled
connection it used writes again afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from health_app import db
from health_app.db import _reader, planned_each_time, read_scope, session_scope


def test_a_read_cannot_write_and_leaves_its_connection_writable(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS scratch (n integer)"))
    with pytest.raises(DBAPIError) as refused, read_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
        session.execute(text("INSERT INTO scratch (n) VALUES (1)"))
    assert "read" in str(refused.value.orig).lower()  # "read-only transaction", "readonly"
    for _ in range(3):  # whichever pooled connection comes next
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO scratch (n) VALUES (1)"))
    with read_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 3
    with session_scope(engine) as session:
        session.execute(text("DROP TABLE scratch"))


def test_reads_keep_the_statements_the_driver_prepared(engine: Engine) -> None:
    """psycopg prepares a statement on its 5th run on a connection and forgets them all
    on a ROLLBACK: reads end with COMMIT, so their statements stay prepared."""
    if engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are psycopg's (PostgreSQL)")
    for _ in range(8):
        with read_scope(engine) as session:
            session.execute(text("SELECT count(*) FROM app_user WHERE id > :n"), {"n": 0}).all()
    with read_scope(engine) as session:
        prepared = session.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%app_user%'")
        ).scalar_one()
    assert prepared == 1


def test_long_statements_are_parsed_once(engine: Engine) -> None:
    """psycopg caches a statement's parsed placeholders only up to 4 KiB by default; the
    dashboard's visit lists are one longer statement, run on every load."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the placeholder cache is psycopg's (PostgreSQL)")
    import psycopg._queries

    from health_app.services.scheduling import visit_lists

    lists = tuple(visit_lists.own("doctor", w) for w in ("upcoming", "past", "cancelled"))
    dashboard = str(visit_lists.statement(lists).compile(dialect=engine.dialect))
    assert 4096 < len(dashboard.encode()) <= psycopg._queries.MAX_CACHED_STATEMENT_LENGTH
    long_read = text("SELECT count(*) FROM app_user WHERE id > :n /* " + "x" * 5000 + " */")
    with read_scope(engine) as session:
        session.execute(long_read, {"n": 0}).all()
    parsed = psycopg._queries._query2pg.cache_info()
    with read_scope(engine) as session:
        session.execute(long_read, {"n": 1}).all()
    assert psycopg._queries._query2pg.cache_info().hits == parsed.hits + 1


def _recording(execute: Callable[..., Any], sent: list[bytes]) -> Callable[..., Any]:
    """psycopg's command runner (BEGIN, COMMIT, ROLLBACK, SET), noting each command."""

    def recorded(self: Any, command: bytes, *args: Any, **kwargs: Any) -> Any:
        sent.append(bytes(command))
        return execute(self, command, *args, **kwargs)

    return recorded


def test_a_postgresql_read_sends_no_begin_or_commit(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement of a read is a transaction of its own: no BEGIN and COMMIT round
    trips around the statements, on a connection that stays read-only."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads are a deferred transaction")
    import psycopg

    with read_scope(engine) as session:  # the pool's first connection, made and settled
        session.execute(text("SELECT 1")).all()
    sent: list[bytes] = []
    monkeypatch.setattr(
        psycopg.Connection,
        "_exec_command",
        _recording(psycopg.Connection._exec_command, sent),
    )
    with read_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM app_user")).scalar_one() == 0
        assert session.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    assert not [c for c in sent if c.split()[:1] in ([b"BEGIN"], [b"COMMIT"], [b"ROLLBACK"])]
    with session_scope(engine) as session:  # a write still has its transaction
        assert session.execute(text("SHOW transaction_read_only")).scalar_one() == "off"
    assert any(c.startswith(b"BEGIN") for c in sent)


def test_a_read_that_plans_each_time_leaves_the_connection_as_it_was(engine: Engine) -> None:
    """A read has no transaction block for SET LOCAL: the setting is reset after it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    with read_scope(engine) as session:
        with planned_each_time(session):
            assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == (
                "force_custom_plan"
            )
        assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"
    with session_scope(engine) as session, planned_each_time(session):
        assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == ("force_custom_plan")
    with session_scope(engine) as session:  # SET LOCAL ended with its transaction
        assert session.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto"


def test_disposing_an_engine_closes_its_readers_connections(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL engines have a pool for reads")
    with read_scope(engine) as session:
        session.execute(text("SELECT 1")).all()
    reader = _reader(engine)
    assert reader is not engine and reader.pool.checkedin() == 1
    engine.dispose()
    assert reader.pool.checkedin() == 0


def test_a_read_that_runs_too_long_is_cut_short_and_writes_are_not(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quick reads run on a worker's event loop: PostgreSQL ends a read's statement after
    READ_TIMEOUT_MS rather than let it hold every tab of the worker; writes keep no limit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    assert db.READ_TIMEOUT_MS == 5_000
    monkeypatch.setattr(db, "READ_TIMEOUT_MS", 50)  # read as the reader's connections open
    with pytest.raises(DBAPIError) as cut, read_scope(engine) as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "50ms"
        session.execute(text("SELECT pg_sleep(1)"))
    assert "statement timeout" in str(cut.value.orig)
    with session_scope(engine) as session:
        assert session.execute(text("SHOW statement_timeout")).scalar_one() == "0"
        session.execute(text("SELECT pg_sleep(0.1)"))
