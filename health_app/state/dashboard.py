"""The landing page after login: role-specific figures (visits come from VisitsState)."""

from __future__ import annotations

from datetime import date
from typing import Any

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.accounts import admin
from health_app.services.records import dashboard
from health_app.services.validation import FieldError, parse_date
from health_app.state.forms import form_text
from health_app.state.handlers import FormMixin, signed_in
from health_app.state.visits import VisitsState
from health_app.state_prefetch import fetched_with


@fetched_with(VisitsState)
class DashboardState(FormMixin, rx.State):
    pending_applications: int = 0
    range_label: str = ""
    count_all: int = 0
    count_open: int = 0
    count_booked: int = 0
    # Patients: true while no pharmacy is chosen, to show the banner.
    needs_pharmacy: bool = False
    pharmacy_name: str = ""
    # Doctors: the first steps, shown until all are done.
    show_checklist: bool = False
    step_hours: bool = False
    step_free_time: bool = False
    step_photo: bool = False
    # Patients and doctors whose Microsoft 365 refused a token refresh: ask to reconnect.
    microsoft_reconnect: bool = False

    @rx.event
    @ends_page_load
    @signed_in(reason="login")
    async def load(self) -> None:
        """The whole dashboard, the visit lists of `VisitsState` included, in one unit of
        work (admins: their own figures)."""
        actor = self._signed_in_actor()
        if actor.is_admin:
            page = await self._call(admin.list_doctor_applications, status="pending", page=1)
            self.pending_applications = page.total
            return
        visits = await self.get_state(VisitsState)
        shown = await visits._open()
        if shown is None:
            return
        self._set_changed(
            microsoft_reconnect=shown.microsoft_reconnect,
            needs_pharmacy=actor.role == "patient" and not shown.pharmacy_name,
            pharmacy_name=shown.pharmacy_name,
        )
        if shown.counters is not None:
            self._show_counts(shown.counters)
        steps = shown.checklist
        if steps is not None:
            self._set_changed(
                step_hours=steps.weekly_hours,
                step_free_time=steps.free_time,
                step_photo=steps.photo,
                show_checklist=not steps.done,
            )

    def _show_counts(self, c: dashboard.Counters) -> None:
        self._set_changed(
            count_all=c.all,
            count_open=c.open,
            count_booked=c.booked,
            range_label=f"{c.first:%a %d %b} – {c.last:%a %d %b %Y}",
        )

    async def _count(self, first: date | None, last: date | None) -> None:
        self._show_counts(await self._call(dashboard.slot_counters, first=first, last=last))

    @rx.event
    @signed_in("doctor")
    async def count_range(self, form: dict[str, Any]) -> None:
        try:
            first = parse_date(form_text(form, "count_first"), label="From")
            last = parse_date(form_text(form, "count_last"), label="To")
        except FieldError as exc:
            self.errors = {"count_first": str(exc)}
            return
        await self._count(first, last)
