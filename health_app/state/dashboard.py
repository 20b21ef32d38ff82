"""The landing page after login: role-specific figures (visits come from VisitsState)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import reflex as rx

from health_app.services import admin, dashboard, profiles
from health_app.services.validation import FieldError, parse_date
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text

COUNTER_DAYS = 7


class DashboardState(FormMixin, rx.State):
    pending_applications: int = 0
    range_label: str = ""
    count_all: int = 0
    count_open: int = 0
    count_booked: int = 0
    # Patients: true while no pharmacy is chosen, to show the banner.
    needs_pharmacy: bool = False

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect()
        self._reset_form()
        if actor.is_admin:
            page = await runner.call(
                lambda s, cfg, now: admin.list_doctor_applications(
                    s, actor=actor, status="pending", page=1, now=now
                )
            )
            self.pending_applications = page.total
        elif actor.role == "doctor":
            await self._count(None, None)
        else:
            chosen = await runner.call(lambda s, cfg, now: profiles.get_pharmacy(s, actor=actor))
            self.needs_pharmacy = chosen is None
        return None

    async def _count(self, first: date | None, last: date | None) -> None:
        actor = await guard(self, "doctor")
        if actor is None:
            return

        def work(s, cfg, now):  # type: ignore[no-untyped-def]
            today = now.astimezone(cfg.clinic_zone).date()
            start = first or today
            return dashboard.slot_counters(
                s,
                actor=actor,
                first=start,
                last=last or start + timedelta(days=COUNTER_DAYS - 1),
                now=now,
            )

        ok, c = await self._attempt(lambda: runner.call(work))
        if ok and c is not None:
            self.count_all, self.count_open, self.count_booked = c.all, c.open, c.booked
            self.range_label = f"{c.first:%a %d %b} – {c.last:%a %d %b %Y}"

    @rx.event
    async def count_range(self, form: dict[str, Any]) -> None:
        try:
            first = parse_date(form_text(form, "count_first"), label="From")
            last = parse_date(form_text(form, "count_last"), label="To")
        except FieldError as exc:
            self.errors = {"count_first": str(exc)}
            return
        await self._count(first, last)
