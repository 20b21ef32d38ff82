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
