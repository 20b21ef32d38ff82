"""Pure input rules. Each `clean_*` returns the normalised value or raises FieldError."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

from health_app.services.errors import ValidationFailed


class FieldError(ValueError):
    """One field's problem; the message is shown next to the field."""


NAME_MAX = 100
_HEALTH_CARD = re.compile(r"^(\d{4})[\s-]?(\d{3})[\s-]?(\d{3})(?:[\s-]?([A-Za-z]{1,2}))?$")
_CA_POSTAL = re.compile(r"^([ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z])\s?(\d[ABCEGHJ-NPRSTV-Z]\d)$")
PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")


def _has_control_chars(value: str) -> bool:
    return any(unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\n\t" for ch in value)


def clean_text(value: str | None, *, label: str, max_len: int, required: bool = True) -> str:
    """Trimmed single-line text. Markup is kept as typed: it is shown as text, never rendered."""
    text = (value or "").strip()
    if not text:
        if required:
            raise FieldError(f"{label} is required.")
        return ""
    if "\n" in text or _has_control_chars(text):
        raise FieldError(f"{label} cannot contain line breaks or control characters.")
    if len(text) > max_len:
        raise FieldError(f"{label} must be at most {max_len} characters.")
    return text


def clean_long_text(value: str | None, *, label: str, max_len: int, required: bool = True) -> str:
    text = (value or "").strip()
    if not text and required:
        raise FieldError(f"{label} is required.")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in text):
        raise FieldError(f"{label} cannot contain control characters.")
    if len(text) > max_len:
        raise FieldError(f"{label} must be at most {max_len} characters.")
    return text


def clean_name(value: str | None, *, label: str, required: bool = True) -> str:
    return clean_text(value, label=label, max_len=NAME_MAX, required=required)


def clean_email(value: str | None) -> str:
    raw = (value or "").strip()
    if not raw:
        raise FieldError("Email is required.")
    if len(raw) > 254:
        raise FieldError("Email must be at most 254 characters.")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldError("Enter a valid email address, like name@example.com.") from exc
    return result.normalized.lower()


def clean_email_pair(email: str | None, confirm: str | None) -> str:
    cleaned = clean_email(email)
    if (confirm or "").strip().lower() != (email or "").strip().lower():
        raise FieldError("The two email addresses do not match.")
    return cleaned


def clean_phone(value: str | None, *, required: bool = False) -> str:
    """E.164. Ten digits are read as a North American number."""
    raw = (value or "").strip()
    if not raw:
        if required:
            raise FieldError("Phone number is required.")
        return ""
    if not re.fullmatch(r"[+\d\s().-]{7,25}", raw):
        raise FieldError("Enter a phone number with digits only, like 416-555-0123.")
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        if not 8 <= len(digits) <= 15:
            raise FieldError("Enter a phone number in international form, like +14165550123.")
        if digits.startswith("1"):
            _check_nanp(digits[1:])
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise FieldError("Enter a 10-digit phone number, like 416-555-0123.")
    _check_nanp(digits)
    return "+1" + digits


def _check_nanp(digits: str) -> None:
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        raise FieldError("This is not a valid North American phone number.")


def _luhn_sum(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total


def _luhn_ok(digits: str) -> bool:
    return _luhn_sum(digits) % 10 == 0


def health_card_from_digits(nine_digits: str, version: str = "") -> str:
    """A valid card number in display form: the nine digits plus their check digit.

    For demo data and tests; real cards are checked with `clean_health_card`.
    """
    check = (10 - _luhn_sum(nine_digits + "0") % 10) % 10
    digits = f"{nine_digits}{check}"
    number = f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"
    return f"{number}-{version}" if version else number


def clean_health_card(value: str | None) -> str:
    """Ontario health card: 10 digits (Luhn check digit) and an optional version code."""
    raw = (value or "").strip()
    if not raw:
        raise FieldError("Health card number is required.")
    match = _HEALTH_CARD.match(raw)
    if not match:
        raise FieldError("Enter the health card number as on the card, like 1234-567-890-AB.")
    digits = "".join(match.group(i) for i in (1, 2, 3))
    if not _luhn_ok(digits):
        raise FieldError("This health card number is not valid: please check the digits.")
    version = (match.group(4) or "").upper()
    number = f"{match.group(1)}-{match.group(2)}-{match.group(3)}"
    return f"{number}-{version}" if version else number


def clean_health_card_expiry(value: date | None, *, today: date) -> date:
    if value is None:
        raise FieldError("Health card expiry date is required.")
    if value < today:
        raise FieldError("This health card has expired. Please renew it before registering.")
    if value.year > today.year + 15:
        raise FieldError("Check the expiry date: it is too far in the future.")
    return value


def clean_date_of_birth(value: date | None, *, today: date) -> date:
    if value is None:
        raise FieldError("Date of birth is required.")
    if value > today:
        raise FieldError("Date of birth cannot be in the future.")
    if value.year < today.year - 130:
        raise FieldError("Check the date of birth: it is more than 130 years ago.")
    return value


def parse_date(value: str | None, *, label: str) -> date | None:
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise FieldError(f"{label}: enter a date as YYYY-MM-DD.") from exc


def clean_licence_number(raw: str) -> str:
    """A regulator's registration number (CPSO in Ontario): 4 to 7 digits, spaces allowed."""
    digits = (raw or "").replace(" ", "").strip()
    if not digits:
        raise FieldError("Enter your licence (CPSO) number.")
    if not digits.isdigit() or not 4 <= len(digits) <= 7:
        raise FieldError("A licence (CPSO) number is 4 to 7 digits, like 123456.")
    return digits


def clean_postal_code(value: str | None, *, region: str) -> str:
    raw = (value or "").strip().upper()
    if not raw:
        raise FieldError("Postal code is required.")
    if region.startswith("CA"):
        match = _CA_POSTAL.match(raw)
        if not match:
            raise FieldError("Enter a Canadian postal code, like M5V 2T6.")
        return f"{match.group(1)} {match.group(2)}"
    return clean_text(raw, label="Postal code", max_len=10)


def clean_province(value: str | None, *, region: str) -> str:
    raw = (value or "").strip().upper()
    if region.startswith("CA"):
        if raw not in PROVINCES:
            raise FieldError("Choose a province or territory.")
        return raw
    return clean_text(raw, label="Province or state", max_len=50)


def clean_choices(values: list[str], *, allowed: dict[str, str], label: str) -> list[str]:
    """Chips: de-duplicated, each from the shipped list, at least one."""
    chosen: list[str] = []
    for v in values:
        if v not in allowed:
            raise FieldError(f"Unknown {label.lower()}: choose from the list.")
        if v not in chosen:
            chosen.append(v)
    if not chosen:
        raise FieldError(f"Choose at least one {label.lower()}.")
    return chosen


class Collector:
    """Gathers every field's error so one submission reports all problems at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def check(self, field: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one `clean_*`; on FieldError remember it and return None."""
        try:
            return fn(*args, **kwargs)
        except FieldError as exc:
            self.errors.setdefault(field, str(exc))
            return None

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
