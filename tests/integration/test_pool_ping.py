"""Pooled PostgreSQL connections: pinged only after they sat idle, and a connection the
server closed is replaced, not handed to a unit of work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from health_app import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TEST_POSTGRES_URL (make test)")


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = db.make_engine(PG_URL, pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(pid: int) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()


def test_a_connection_closed_by_the_server_while_idle_is_replaced(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(engine)
    _kill(first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    second = _backend_pid(engine)  # the ping finds it dead: a fresh one, no error
    assert second != first


def test_a_connection_closed_while_recently_used_fails_once_then_the_pool_recovers(
    engine: Engine,
) -> None:
    """Not pinged (used a moment ago): the one unit of work that meets it fails, and
    the pool is renewed for the next."""
    from sqlalchemy.exc import DBAPIError

    first = _backend_pid(engine)
    _kill(first)
    with pytest.raises(DBAPIError) as failed:
        _backend_pid(engine)
    assert failed.value.connection_invalidated
    assert _backend_pid(engine) != first
