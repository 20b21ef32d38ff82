"""The fixed lists the app ships: consultation types, languages, specialties, and the words
people see for internal codes."""

from __future__ import annotations

from functools import cache
from importlib import resources


def _data_lines(name: str) -> list[str]:
    text = resources.files("health_app.data").joinpath(name).read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _pairs(name: str) -> dict[str, str]:
    return dict(line.split("|", 1) for line in _data_lines(name))


@cache
def consultation_types() -> dict[str, str]:
    """code -> label, in display order."""
    return _pairs("consultation_types.txt")


@cache
def languages() -> dict[str, str]:
    return _pairs("languages.txt")


@cache
def specialties() -> tuple[str, ...]:
    return tuple(_data_lines("specialties.txt"))


@cache
def common_passwords() -> frozenset[str]:
    return frozenset(p.lower() for p in _data_lines("common_passwords.txt"))


# A visit's status as people read it (the codes are FHIR's appointment statuses).
VISIT_STATUS_WORDS = {
    "booked": "Booked",
    "fulfilled": "Completed",
    "noshow": "No-show",
    "cancelled": "Cancelled",
}


def visit_status_word(code: str) -> str:
    return VISIT_STATUS_WORDS.get(code, code.replace("_", " ").capitalize())
