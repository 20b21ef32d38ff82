"""All appointments, past included, for patients and doctors."""

from __future__ import annotations

from datetime import date
from typing import Any

import reflex as rx

from health_app.services import booking
from health_app.services.validation import FieldError, parse_date
from health_app.state import runner
from health_app.state.admin import PagedListMixin
from health_app.state.auth import guard
from health_app.state.forms import form_text
from health_app.state.visits import VisitRow, visit_row


class HistoryState(PagedListMixin, rx.State):
    rows: list[VisitRow] = []
    _status: str = ""
    _first: date | None = None
    _last: date | None = None

    async def _refresh(self) -> bool:
        actor = await guard(self, "patient", "doctor")
        if actor is None:
            return False
        status, first, last, page = self._status, self._first, self._last, self.page
        result = await runner.call(
            lambda s, cfg, now: booking.list_history(
                s,
                actor=actor,
                status=status,
                first=first,
                last=last,
                page=page,
                settings=cfg,
                now=now,
            )
        )
        self.rows = [visit_row(v, role=actor.role) for v in result.items]
        self.total, self.pages = result.total, result.pages
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self.page, self.rows, self._status, self._first, self._last = 1, [], "", None, None
        return await self._reload("login")

    @rx.event
    async def filter(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        self._reset_form()
        try:
            first = parse_date(form_text(form, "first"), label="From")
            last = parse_date(form_text(form, "last"), label="To")
        except FieldError as exc:
            self.errors = {"first": str(exc)}
            return None
        self._status, self._first, self._last, self.page = (
            form_text(form, "status")[:12],
            first,
            last,
            1,
        )
        return await self._reload()
