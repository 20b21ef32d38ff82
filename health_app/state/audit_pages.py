"""The admin audit log and the patient's "who looked at my record"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services import audit_log
from health_app.services.audit_log import AuditFilter
from health_app.services.errors import ValidationFailed
from health_app.services.validation import FieldError, parse_date
from health_app.state import runner
from health_app.state.admin import PagedListMixin
from health_app.state.auth import guard
from health_app.state.forms import form_text


@dataclass(frozen=True)
class EventRow:
    at: str
    actor: str
    action: str
    subject: str
    object: str
    outcome: str
    detail: str


def _rows(page: Any) -> list[EventRow]:
    return [
        EventRow(
            at=r.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            actor=r.actor,
            action=r.action,
            subject=r.subject,
            object=r.object,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in page.items
    ]


class AuditLogState(PagedListMixin, rx.State):
    rows: list[EventRow] = []
    _query: AuditFilter = AuditFilter()

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None:
            return False
        query, page = self._query, self.page
        result = await runner.call(
            lambda s, cfg, now: audit_log.list_events(
                s, actor=actor, query=query, page=page, now=now
            )
        )
        self.rows, self.total, self.pages = _rows(result), result.total, result.pages
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self.page, self.rows, self._query = 1, [], AuditFilter()
        return await self._reload("login")

    @rx.event
    async def search(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        try:
            first = parse_date(form_text(form, "first"), label="From")
            last = parse_date(form_text(form, "last"), label="To")
        except FieldError as exc:
            self.errors, self.form_error = {"first": str(exc)}, ValidationFailed({}).message
            return None
        self._query = AuditFilter(
            user=form_text(form, "user")[:100],
            patient=form_text(form, "patient")[:100],
            action=form_text(form, "action")[:64],
            first=first,
            last=last,
        )
        self.page = 1
        return await self._reload()


class RecordAccessState(PagedListMixin, rx.State):
    rows: list[EventRow] = []

    async def _refresh(self) -> bool:
        actor = await guard(self)
        if actor is None:
            return False
        page = self.page
        result = await runner.call(
            lambda s, cfg, now: audit_log.list_record_access(s, actor=actor, page=page, now=now)
        )
        self.rows, self.total, self.pages = _rows(result), result.total, result.pages
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self.page, self.rows = 1, []
        return await self._reload("login")
