"""Reading submitted forms: every value arrives as the browser chose to send it."""

from __future__ import annotations

from typing import Any


def form_text(form: dict[str, Any], key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else str(value)


def chosen(form: dict[str, Any], prefix: str) -> list[str]:
    """Codes of the ticked chip checkboxes named `prefix + code`."""
    return [
        k[len(prefix) :]
        for k, v in form.items()
        if k.startswith(prefix) and v in (True, "on", "true")
    ]
