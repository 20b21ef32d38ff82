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
