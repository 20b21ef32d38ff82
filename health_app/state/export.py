"""The doctor's history export: filters and columns in, a file download out."""

from __future__ import annotations

from datetime import time
from typing import Any

import reflex as rx

from health_app.services import export
from health_app.services.errors import ValidationFailed
from health_app.services.export import COLUMNS, ExportRequest
from health_app.services.validation import FieldError, parse_date
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text


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
    async def load(self):  # type: ignore[no-untyped-def]
        self._reset_form()
        if await guard(self, "doctor") is None:
            return login_redirect("login")
        return None

    @rx.event
    async def download(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self, "doctor")
        if actor is None:
            yield login_redirect("expired")
            return
        self.busy = True
        yield

        async def work() -> export.ExportFile:
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
            return await runner.call(
                lambda s, cfg, now: export.export_history(s, actor=actor, request=request, now=now)
            )

        ok, file = await self._attempt(work)
        self.busy = False
        if ok and file is not None:
            yield rx.download(data=file.data, filename=file.filename, mime_type=file.content_type)
            yield rx.toast.success(f"Exported {file.rows} visits.")
