"""The container's own files, without a container engine: the compose file's settings
pass the production checks, and the start script's commands do what they say. (The
scale test serves three workers through the same start script.)"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from health_app import config
from health_app.config import load_settings, production_problems

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "scripts" / "container-start.sh"


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _app_env() -> dict[str, str]:
    env = _compose()["services"]["app"]["environment"]
    # Compose fills ${NAME:-default} from the shell; its default is what a plain `up` uses.
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


def test_every_compose_setting_is_documented() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))
    assert set(_app_env()) - documented == set()


def test_the_compose_app_passes_the_production_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in {"DATABASE_URL", "MAIL_BACKEND", "STORAGE_BACKEND", "DEV_MODE"}:
            monkeypatch.delenv(name)
    for name, value in _app_env().items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    settings = load_settings()
    assert not settings.dev_mode and settings.storage_backend == "azure"
    assert production_problems(settings) == []
    config.get_settings.cache_clear()


def test_every_service_of_the_app_image_runs_a_start_command() -> None:
    services = _compose()["services"]
    commands = {name: s["command"][0] for name, s in services.items() if s.get("build")}
    assert commands == {"migrate": "migrate", "app": "serve", "scheduler": "scheduler"}
    for port in services["app"]["ports"] + services["azurite"]["ports"]:
        assert str(port).startswith("127.0.0.1:")  # nothing published beyond this machine


def _start(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(START), *args],
        env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_start_script_migrates_then_exits(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    done = _start(["migrate"], {"DATABASE_URL": f"sqlite:///{db}"})
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "app_user", "appointment", "outbox_message"} <= tables


def test_the_start_script_refuses_to_serve_without_built_pages(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/app.db", "REFLEX_WEB_WORKDIR": str(tmp_path)}
    served = _start(["serve"], {**env, "WEB_CONCURRENCY": "1"})
    assert served.returncode == 1 and "health-app build-frontend" in served.stderr
    assert "Traceback" not in served.stderr


def test_the_start_script_refuses_unsafe_production(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/app.db", "DEV_MODE": "false"}
    for command in ("serve", "scheduler"):
        refused = _start([command], {**env, "PUBLIC_BASE_URL": "https://clinic.example"})
        assert refused.returncode != 0 and "MAIL_BACKEND=dev" in refused.stderr, command


def test_any_other_command_runs_as_given() -> None:
    assert _start(["python", "-c", "print('as given')"], {}).stdout == "as given\n"
