"""A unit of work that only reads is held to it by the database itself, and the pooled
connection it used writes again afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from health_app.db import read_scope, session_scope


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
