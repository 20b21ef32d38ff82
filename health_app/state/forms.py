"""The shared shape of a form state: field errors, a banner message and a busy flag."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import reflex as rx

from health_app.services.errors import DomainError, NotAuthenticated, ValidationFailed

T = TypeVar("T")
log = logging.getLogger(__name__)
_GENERIC_FAILURE = "Something went wrong on our side. Please try again in a moment."


class FormMixin(rx.State, mixin=True):
    errors: dict[str, str] = {}
    form_error: str = ""
    busy: bool = False

    def _reset_form(self) -> None:
        self.errors, self.form_error = {}, ""

    async def _attempt(self, action: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """Run a service call; map domain errors onto the form; no trace reaches the user."""
        self._reset_form()
        try:
            return True, await action()
        except ValidationFailed as exc:
            self.errors, self.form_error = exc.field_errors, exc.message
        except DomainError as exc:
            self.form_error = exc.message
            if isinstance(exc, NotAuthenticated):
                raise
        except Exception:
            log.exception("unexpected error in %s", type(self).__name__)
            self.form_error = _GENERIC_FAILURE
        return False, None


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
