"""The doctor's history export: filters and columns in, a file download out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time
from typing import Any

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.errors import ValidationFailed
from health_app.services.records import export
from health_app.services.records.export import COLUMNS, ExportRequest
from health_app.services.validation import FieldError, parse_date
from health_app.state.client import toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, signed_in


def _time(form: dict[str, Any], key: str) -> time | None:
    raw = form_text(form, key)
    if not raw:
        return None
    try:
        return time.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed({key: "Enter a time like 09:00."}) from exc


class ExportState(FormMixin, rx.State):
    @rx.event
    @ends_page_load
    @signed_in("doctor", reason="login")
    async def load(self) -> None:
        """Only sends others to the login page: the form itself needs nothing loaded."""

    @rx.event
    @signed_in("doctor")
    async def download(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        try:
            first = parse_date(form_text(form, "first"), label="From")
            last = parse_date(form_text(form, "last"), label="To")
        except FieldError as exc:
            raise ValidationFailed({"first": str(exc)}) from exc
        request = ExportRequest(
            columns=[c for c in COLUMNS if form.get(f"col_{c}")],
            first=first,
            last=last,
            from_time=_time(form, "from_time"),
            until_time=_time(form, "until_time"),
            patient_name=form_text(form, "patient_name"),
            file_format=form_text(form, "file_format"),
        )
        file = await self._call(export.export_history, request=request)
        self.busy = False
        yield rx.download(data=file.data, filename=file.filename, mime_type=file.content_type)
        yield toast_success(f"Exported {file.rows} visits.")
