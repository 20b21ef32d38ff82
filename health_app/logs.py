"""Log lines an operator can search, that never carry personal data.

Every process (app worker, scheduler, CLI) logs through the root logger: one JSON object
per line in production (LOG_FORMAT=json, the default when DEV_MODE=false), readable text
on a laptop. Each line names its worker and, when there is one, the HTTP request
(`request_id`, also sent back as the X-Request-ID header) or the Reflex event
(`event_id`, `event`) it belongs to, so one person's click can be followed across lines.

Messages are written by us and name records by id, never by a person's details. Still,
an exception's text can quote a value (a driver error, a library's message), so every
line is scrubbed on its way out: email addresses, health card and phone numbers and
secrets in addresses are replaced by what they are.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from health_app.log_redaction import redact

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
event_id: contextvars.ContextVar[str] = contextvars.ContextVar("event_id", default="")
event_name: contextvars.ContextVar[str] = contextvars.ContextVar("event_name", default="")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Ontario health cards (1234-567-890-AB, or the ten digits run together) and phone numbers.
_CARD = re.compile(r"\b\d{4}-?\d{3}-?\d{3}(?:-?[A-Za-z]{2})?\b")
_PHONE = re.compile(r"\+\d[\d -]{6,16}\d")
_BEARER = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*")


def scrub(text: str) -> str:
    text = redact(text)
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _JWT.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _CARD.sub("[card]", text)


def _context() -> dict[str, str]:
    found = {"request_id": request_id.get(), "event_id": event_id.get(), "event": event_name.get()}
    return {k: v for k, v in found.items() if v}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "worker": os.getpid(),
            **_context(),
        }
        if record.exc_info:
            line["error"] = record.exc_info[0].__name__ if record.exc_info[0] else "error"
            line["traceback"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={v}" for k, v in _context().items())
        return scrub(super().format(record) + (f" [{ids}]" if ids else ""))


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test runner swaps it), and marks the
    handler this module installed, so configuring twice changes nothing."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(*, json_lines: bool, level: str = "INFO") -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
    handler = _OurHandler()
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log each request or statement at INFO would drown the app's lines.
    for noisy in ("httpx", "httpcore", "urllib3", "azure", "msal", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_from_environment() -> None:
    """LOG_FORMAT (json | text; json when DEV_MODE=false) and LOG_LEVEL (INFO)."""
    production = os.environ.get("DEV_MODE", "true").strip().lower() in {"0", "false", "no", "off"}
    wanted = os.environ.get("LOG_FORMAT", "json" if production else "text").strip().lower()
    if wanted not in {"json", "text"}:
        raise ValueError(f"LOG_FORMAT must be 'json' or 'text', got {wanted!r}")
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    configure(json_lines=wanted == "json", level=level)
