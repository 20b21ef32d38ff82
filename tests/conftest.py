"""Shared fixtures: settings, a frozen clock, and databases on SQLite and PostgreSQL.

Services tests run once per backend. PostgreSQL comes from TEST_POSTGRES_URL, which
`make test` sets after starting a private server; under CI a missing server is an error,
never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from health_app.config import Settings
from health_app.db import make_engine
from health_app.migrations import upgrade

FROZEN_NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in Toronto, a Monday
PG_URL = os.environ.get("TEST_POSTGRES_URL", "")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser stories last: the fast tiers report their failures first."""
    items.sort(key=lambda item: "tests/e2e/" in str(item.path))


@pytest.fixture
def now() -> datetime:
    return FROZEN_NOW


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set: run the tests through `make test`.")
        pytest.skip("no PostgreSQL (TEST_POSTGRES_URL unset); `make test` provides one")
    admin = make_engine(PG_URL)
    with admin.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.commit()
    admin.dispose()
    upgrade(PG_URL)
    return PG_URL


def _truncate_pg(engine: Engine) -> None:
    with engine.connect() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname='public' AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = make_engine(request.getfixturevalue("pg_migrated"))
        _truncate_pg(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return Settings(
        database_url=str(engine.url.render_as_string(hide_password=False)),
        public_base_url="http://127.0.0.1",
        dev_mode=True,
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
