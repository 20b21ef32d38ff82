"""iCalendar (RFC 5545) text for one visit event, written directly.

Every booking attaches two of these, on the booking's hot path: a general iCalendar
library spent half a booking's Python time building and folding them. A visit event is a
fixed set of properties, so it is written from a template here; the tests read it back
with that library.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

# One unit is an escape sequence or one character: a fold never splits an escape.
_UNITS = re.compile(r"\\.|.", re.DOTALL)
_LIMIT = 75  # octets per line, excluding the line break


def text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def utc_stamp(at: datetime) -> str:
    """A DATE-TIME in UTC form (20260303T090000Z)."""
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on lines starting with a space (RFC 5545 3.1)."""
    if line.isascii():
        return _fold_ascii(line)
    out: list[str] = []
    current: list[str] = []
    size = 0
    for unit in _UNITS.findall(line):
        octets = len(unit.encode())
        # A continuation line's leading space counts toward its 75.
        if current and size + octets > _LIMIT - (1 if out else 0):
            out.append("".join(current))
            current, size = [], 0
        current.append(unit)
        size += octets
    out.append("".join(current))
    return "\r\n ".join(out)


def _fold_ascii(line: str) -> str:
    """The common case, by slicing: one octet per character."""
    out: list[str] = []
    start, limit = 0, _LIMIT
    while len(line) - start > limit:
        end = start + limit
        backslashes = len(line[start:end]) - len(line[start:end].rstrip("\\"))
        if backslashes % 2:  # the cut would part an escape from its character
            end -= 1
        out.append(line[start:end])
        start, limit = end, _LIMIT - 1
    out.append(line[start:])
    return "\r\n ".join(out)


def calendar(properties: Sequence[tuple[str, str]], event: Sequence[tuple[str, str]]) -> str:
    """A VCALENDAR with one VEVENT; values are given already in their iCalendar form."""
    lines = ["BEGIN:VCALENDAR", *(f"{k}:{v}" for k, v in properties), "BEGIN:VEVENT"]
    lines += [f"{k}:{v}" for k, v in event]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(
        (line if len(line) <= _LIMIT and line.isascii() else fold(line)) + "\r\n" for line in lines
    )
