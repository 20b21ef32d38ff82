"""All appointments, past included, for patients and doctors."""

from __future__ import annotations

from datetime import date
from typing import Any

import reflex as rx

from health_app.services.scheduling import booking
from health_app.services.validation import FieldError, parse_date
from health_app.state.forms import form_text
from health_app.state.handlers import signed_in
from health_app.state.paged import PagedListMixin
from health_app.state.visits import VisitRow, visit_row


class HistoryState(PagedListMixin, rx.State):
    rows: list[VisitRow] = []
    _status: str = ""
    _first: date | None = None
    _last: date | None = None

    def _page_roles(self) -> tuple[str, ...]:
        return ("patient", "doctor")

    async def _refresh(self) -> None:
        role = self._signed_in_actor().role
        result = await self._call(
            booking.list_history,
            status=self._status,
            first=self._first,
            last=self._last,
            page=self.page,
        )
        self.rows = self._paged(result, lambda v: visit_row(v, role=role))

    def _start(self) -> None:
        self.rows, self._status, self._first, self._last = [], "", None, None

    @rx.event
    @signed_in()
    async def filter(self, form: dict[str, Any]) -> None:
        try:
            first = parse_date(form_text(form, "first"), label="From")
            last = parse_date(form_text(form, "last"), label="To")
        except FieldError as exc:
            self.errors = {"first": str(exc)}
            return
        self._status, self._first, self._last = form_text(form, "status")[:12], first, last
        self.page = 1
        await self._refresh()
