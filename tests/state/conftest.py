"""State classes under pytest, against a migrated SQLite file and real services."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_app import config, db


@pytest.fixture
def app_db(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "state.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1")
    monkeypatch.setenv("DEV_MODE", "true")
    config.get_settings.cache_clear()
    yield url
    db._engine_for.cache_clear()
    config.get_settings.cache_clear()
    os.environ.pop("DATABASE_URL", None)
