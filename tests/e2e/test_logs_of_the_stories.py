"""After every browser story: no log line the app wrote names a person or carries a secret.

Two sources: every line the in-process app wrote during the stories, taken before any
scrubbing (so the app's own lines are held to it, not only its output), and the log
files of the scale test's workers as they left the processes (JSON lines, scrubbed).
The stories registered, logged in, booked, wrote notes and prescriptions, uploaded
files, received emails and texts and connected Microsoft accounts, so the lines cover
all of that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Ours, not a person's: the sender address and message ids.
_NOT_PERSONAL = ("@health-app.local",)
_CARD = re.compile(r"\b\d{4}-\d{3}-\d{3}(?:-[A-Z]{2})?\b|\b7000000\d{3}\b")
_PHONE = re.compile(r"\+1\d{10}\b")
_SECRET = re.compile(
    r"(?:token|code|state|key|secret|password)=(?!\[redacted\])[^&\s\"',]{6,}"
    r"|\bBearer\s+(?!\[redacted\])\S+|\beyJ[\w-]{8,}\.[\w-]{8,}\.|\bha_session=[^;\s]+",
    re.IGNORECASE,
)


# The tests' own stand-ins log what they receive, as any mail server does: not the app.
_STAND_INS = ("mail.log",)


def _found(line: str) -> list[str]:
    hits = [m for m in _EMAIL.findall(line) if not m.endswith(_NOT_PERSONAL)]
    hits += _CARD.findall(line) + _PHONE.findall(line) + _SECRET.findall(line)
    return hits


def _worker_logs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return sorted(tmp_path_factory.getbasetemp().glob("scale*/server.log"))


def test_the_stories_logged_no_personal_data_or_secrets(
    raw_log_lines: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not raw_log_lines.exists():
        pytest.skip("no browser story ran the app in this session")
    lines = [json.loads(raw) for raw in raw_log_lines.read_text().splitlines()]
    assert len(lines) >= 5, "the stories' log lines were not captured"
    leaks = [
        (line["logger"], hit)
        for line in lines
        if not line["logger"].startswith(_STAND_INS)
        for hit in _found(line["line"])
    ]
    assert leaks == [], f"{len(leaks)} log lines name a person or carry a secret: {leaks[:10]}"


def test_the_workers_logs_of_the_scale_test_hold_no_personal_data(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    logs = _worker_logs(tmp_path_factory)
    if not logs:
        pytest.skip("the scale test did not run in this session")
    for log in logs:
        text = log.read_text(errors="replace")
        assert '"request_id"' in text or '"event_id"' in text  # JSON lines with ids
        leaks = [hit for line in text.splitlines() for hit in _found(line)]
        assert leaks == [], f"{log}: {leaks[:10]}"
