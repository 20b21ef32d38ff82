"""Reading submitted forms: every value arrives as the browser chose to send it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def form_text(form: dict[str, Any], key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else str(value)


def field_name(prefix: str, code: str) -> str:
    """A chip's field name: codes may hold hyphens ("sick-note"), which Reflex turns into
    underscores in the names it sends, so the field is named with underscores already."""
    return f"{prefix}{code.replace('-', '_')}"


def chosen(form: dict[str, Any], prefix: str, codes: Iterable[str]) -> list[str]:
    """The codes (out of `codes`) whose chip checkbox `field_name(prefix, code)` is ticked."""
    return [code for code in codes if form.get(field_name(prefix, code)) in (True, "on", "true")]
