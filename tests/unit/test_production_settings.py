"""Production (DEV_MODE=false) refuses to start with development defaults, naming each."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from health_app.config import (
    Settings,
    load_settings,
    production_problems,
    refuse_unsafe_production,
    worker_problems,
)
from health_app.serve import serve_problems

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 44

READY = Settings(
    database_url="postgresql+psycopg2://app@db.internal/health_app",
    public_base_url="https://clinic.example",
    dev_mode=False,
    mail_backend="smtp",
    cors_allowed_origins=("https://clinic.example",),
    file_link_secret=KEY,
)


def _with(**changes: Any) -> Settings:
    return replace(READY, **changes)


def test_a_production_ready_configuration_starts() -> None:
    assert production_problems(READY) == []
    refuse_unsafe_production(READY)  # no exit


def test_development_needs_none_of_it() -> None:
    assert production_problems(Settings()) == []  # the laptop defaults, DEV_MODE=true


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"mail_backend": "dev"}, "MAIL_BACKEND=dev"),
        ({"cors_allowed_origins": ("*",)}, "CORS_ALLOWED_ORIGINS=*"),
        ({"public_base_url": "http://clinic.example"}, "is not https"),
        ({"file_link_secret": ""}, "FILE_LINK_SECRET"),
        ({"file_link_secret": "short"}, "FILE_LINK_SECRET"),
        (
            {"database_url": "sqlite:///var/app.db", "reflex_redis_url": "redis://r:6379/0"},
            "SQLite serves one worker",
        ),
    ],
)
def test_each_development_default_is_named(changes: dict[str, Any], named: str) -> None:
    problems = production_problems(_with(**changes))
    assert len(problems) == 1 and named in problems[0]
    with pytest.raises(SystemExit) as stop:
        refuse_unsafe_production(_with(**changes))
    assert named in str(stop.value)


def test_sqlite_with_several_workers_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite = _with(database_url="sqlite:///var/app.db")
    assert production_problems(sqlite) == []  # one worker: SQLite is fine
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert "SQLite serves one worker" in production_problems(sqlite)[0]


def test_a_local_trial_of_production_on_loopback_may_use_http() -> None:
    assert production_problems(_with(public_base_url="http://127.0.0.1:3000")) == []


def test_azure_files_need_no_link_secret() -> None:
    assert production_problems(_with(storage_backend="azure", file_link_secret="")) == []


def _cli(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "health_app.cli", *args],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/app.db", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_refuses_demo_data_and_a_scheduler_in_unsafe_production(tmp_path: Path) -> None:
    production = {"DEV_MODE": "false", "PUBLIC_BASE_URL": "https://clinic.example"}
    assert _cli(["db", "upgrade"], production, tmp_path).returncode == 0
    seed = _cli(["seed-demo"], production, tmp_path)
    assert seed.returncode == 1 and "development only" in seed.stderr
    scheduler = _cli(["scheduler"], production, tmp_path)
    assert scheduler.returncode != 0
    assert "MAIL_BACKEND=dev" in scheduler.stderr and "FILE_LINK_SECRET" in scheduler.stderr
    assert "Traceback" not in scheduler.stderr


def test_several_workers_without_redis_are_refused_even_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    assert "REFLEX_REDIS_URL" in production_problems(_with())[0]
    assert "REFLEX_REDIS_URL" in worker_problems(Settings())[0]
    assert worker_problems(Settings(reflex_redis_url="redis://127.0.0.1:6379/0")) == []


def test_serve_needs_the_pages_built_first(tmp_path: Path) -> None:
    assert "health-app build-frontend" in serve_problems(Settings(), tmp_path)[0]
    pages = tmp_path / "build" / "client"
    pages.mkdir(parents=True)
    (pages / "index.html").write_text("<!doctype html>")
    assert serve_problems(Settings(), tmp_path) == []


def test_the_cli_serve_says_what_is_missing_and_starts_nothing(tmp_path: Path) -> None:
    web = {"REFLEX_WEB_WORKDIR": str(tmp_path / "web")}
    served = _cli(["serve", "--port", "1"], web, tmp_path)
    assert served.returncode == 1 and "health-app build-frontend" in served.stderr
    several = _cli(["serve", "--workers", "3"], web, tmp_path)
    assert several.returncode == 1 and "REFLEX_REDIS_URL is not set" in several.stderr
    assert _cli(["serve", "--workers", "0"], web, tmp_path).returncode == 2
    assert "Traceback" not in served.stderr + several.stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be between 1 and 500"),
        ("DB_MAX_OVERFLOW", "-1", "DB_MAX_OVERFLOW must be between 0 and 500"),
        ("SCHEDULER_TICK_SECONDS", "0", "SCHEDULER_TICK_SECONDS must be between 1 and 3600"),
        ("OUTBOX_LEASE_SECONDS", "5", "OUTBOX_LEASE_SECONDS must be between 10 and 3600"),
        ("DB_POOL_SIZE", "many", "DB_POOL_SIZE must be an integer"),
    ],
)
def test_worker_settings_out_of_range_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=said):
        load_settings()
