"""Upcoming visits on the dashboard, for patients and doctors, with cancel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services import booking
from health_app.services.booking import AppointmentView
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text
from health_app.state.timefmt import when

PAGE_SIZE = 10


@dataclass(frozen=True)
class VisitRow:
    id: int
    status: str
    doctor_id: int
    when: str
    with_whom: str
    format: str
    consultation_type: str
    reason: str
    join_url: str
    phone_note: str


def visit_row(v: AppointmentView, *, role: str) -> VisitRow:
    return VisitRow(
        id=v.id,
        status=v.status,
        doctor_id=v.doctor_id,
        when=when(v.starts_at, v.time_zone),
        with_whom=v.doctor_name if role == "patient" else v.patient_name,
        format="Video" if v.format == "video" else "Phone",
        consultation_type=v.consultation_type,
        reason=v.reason if role == "doctor" else "",
        join_url=v.join_url,
        phone_note=v.phone_note,
    )


class VisitsState(FormMixin, rx.State):
    rows: list[VisitRow] = []
    total: int = 0
    past_rows: list[VisitRow] = []
    cancelling_id: int = 0

    async def _refresh(self) -> bool:
        actor = await guard(self, "patient", "doctor")
        if actor is None:
            return False
        views, total = await runner.call(
            lambda s, cfg, now: booking.list_appointments(
                s, actor=actor, upcoming=True, now=now, limit=PAGE_SIZE
            )
        )
        self.rows = [visit_row(v, role=actor.role) for v in views]
        self.total = total
        past, _ = await runner.call(
            lambda s, cfg, now: booking.list_appointments(
                s, actor=actor, upcoming=False, now=now, limit=PAGE_SIZE
            )
        )
        self.past_rows = [visit_row(v, role=actor.role) for v in past]
        return True

    @rx.event
    async def load(self) -> None:
        self._reset_form()
        self.cancelling_id = 0
        await self._refresh()

    @rx.event
    def open_cancel(self, appointment_id: int) -> None:
        self._reset_form()
        self.cancelling_id = int(appointment_id)

    @rx.event
    def close_cancel(self) -> None:
        self.cancelling_id = 0

    @rx.event
    async def cancel(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        appointment_id, reason = self.cancelling_id, form_text(form, "reason")
        ok, _ = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: booking.cancel_appointment(
                    s, actor=actor, appointment_id=appointment_id, reason=reason, now=now
                )
            )
        )
        if ok:
            self.cancelling_id = 0
            await self._refresh()
            return rx.toast.success("The visit was cancelled; the other side has been told.")
