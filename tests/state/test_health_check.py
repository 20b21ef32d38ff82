"""`GET /_health` answers whether this worker can serve: database, Redis, file storage."""

from __future__ import annotations

import logging
import socket
import warnings
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from health_app import config, db
from health_app.http_health import health_routes

with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _client() -> Any:
    app = Starlette(routes=health_routes(config.get_settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORAGE_BACKEND", "local")
    monkeypatch.setenv("FILES_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("PUBLIC_FILES_DIR", str(tmp_path / "public"))
    config.get_settings.cache_clear()
    return tmp_path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_a_worker_with_its_database_and_files_is_ready(app_db: str, files: Path) -> None:
    answer = _client().get("/_health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "storage": "ok",
        "redis": "not used",
    }
    assert answer.headers["cache-control"] == "no-store"


def test_an_unreachable_database_makes_it_unavailable_and_says_which(
    app_db: str, files: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = _closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg2://app:s3cret@127.0.0.1:{port}/x")
    config.get_settings.cache_clear()
    db._engine_for.cache_clear()
    with caplog.at_level(logging.WARNING):
        answer = _client().get("/_health")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["database"] == "unavailable" and answer.json()["storage"] == "ok"
    assert "s3cret" not in answer.text and "s3cret" not in caplog.text
    assert "database unavailable" in caplog.text


def test_a_redis_that_does_not_answer_makes_it_unavailable(
    app_db: str, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    config.get_settings.cache_clear()
    answer = _client().get("/_health")
    assert answer.status_code == 503
    assert answer.json()["redis"] == "unavailable" and answer.json()["database"] == "ok"


def test_files_that_cannot_be_written_make_it_unavailable(
    app_db: str, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = files / "blocked"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv("FILES_DIR", str(blocked / "files"))
    config.get_settings.cache_clear()
    answer = _client().get("/_health")
    assert answer.status_code == 503
    assert answer.json()["storage"] == "unavailable" and answer.json()["database"] == "ok"
