"""The admin audit log and the patient's "who looked at my record"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services.errors import ValidationFailed
from health_app.services.records import audit_history
from health_app.services.records.audit_history import AccessRow, AuditFilter, AuditRow
from health_app.services.validation import FieldError, parse_date
from health_app.state.forms import form_text
from health_app.state.handlers import signed_in
from health_app.state.paged import AdminListMixin, PagedListMixin
from health_app.state.timefmt import clinic_zone, when


@dataclass(frozen=True)
class EventRow:
    at: str
    actor: str
    action: str
    subject: str
    object: str
    outcome: str
    detail: str


def _row(r: AuditRow) -> EventRow:
    return EventRow(
        at=when(r.at, clinic_zone()),
        actor=r.actor,
        action=r.action,
        subject=r.subject,
        object=r.object,
        outcome=r.outcome,
        detail=r.detail,
    )


class AuditLogState(AdminListMixin, rx.State):
    rows: list[EventRow] = []
    _query: AuditFilter = AuditFilter()

    async def _refresh(self) -> None:
        result = await self._call(audit_history.list_events, query=self._query, page=self.page)
        self.rows = self._paged(result, _row)

    def _start(self) -> None:
        self.rows, self._query = [], AuditFilter()

    @rx.event
    @signed_in()
    async def search(self, form: dict[str, Any]) -> None:
        try:
            first = parse_date(form_text(form, "first"), label="From")
            last = parse_date(form_text(form, "last"), label="To")
        except FieldError as exc:
            raise ValidationFailed({"first": str(exc)}) from exc
        self._query = AuditFilter(
            user=form_text(form, "user")[:100],
            patient=form_text(form, "patient")[:100],
            action=form_text(form, "action")[:64],
            first=first,
            last=last,
        )
        self.page = 1
        await self._refresh()


@dataclass(frozen=True)
class AccessLine:
    who: str
    what: str  # "opened a visit record: visit 12"
    when: str  # "3 times, last Tue 3 Mar 2026, 10:02 EST"


def _access_line(r: AccessRow) -> AccessLine:
    zone = clinic_zone()
    last = when(r.last_at, zone)
    return AccessLine(
        who=r.actor,
        what=f"{r.action}: {r.object}" if r.object else r.action,
        when=last if r.times == 1 else f"{r.times} times, last {last}",
    )


class RecordAccessState(PagedListMixin, rx.State):
    rows: list[AccessLine] = []

    def _page_roles(self) -> tuple[str, ...]:
        return ("patient",)

    async def _refresh(self) -> None:
        result = await self._call(audit_history.list_record_access, page=self.page)
        self.rows = self._paged(result, _access_line)

    def _start(self) -> None:
        self.rows = []
