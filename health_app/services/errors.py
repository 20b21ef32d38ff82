"""Domain errors. Each carries a message that is safe to show to the person who caused it."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `message` is shown to the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The record does not exist, or the actor may not see it (we never say which)."""

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class ValidationFailed(DomainError):
    """Bad input: one message per field, shown next to that field."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        super().__init__("Please correct the highlighted fields.")
        self.field_errors = dict(field_errors)


class Throttled(DomainError):
    def __init__(self, retry_after_seconds: int) -> None:
        wait = max(1, retry_after_seconds)
        unit = "second" if wait == 1 else "seconds"
        if wait >= 120:
            wait, unit = (wait + 59) // 60, "minutes"
        super().__init__(f"Too many attempts. Please try again in {wait} {unit}.")
        self.retry_after_seconds = retry_after_seconds


class LoginRefused(DomainError):
    """A login was refused; `reason` names why in a word the login page turns back into
    this message (the refusal travels in a redirect, the wording stays here)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TokenInvalid(DomainError):
    """An email link that is unknown, used, or expired. `reason` picks the page's wording."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
