"""Shared by the integration tests: a real Redis of their own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_app.dev.cluster import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run `make test` (it installs the Debian package).")
    with redis_server(tmp_path / "redis") as url:
        yield url
