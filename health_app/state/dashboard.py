"""The landing page after login. Booking and visits arrive with their own features."""

from __future__ import annotations

import reflex as rx

from health_app.services import admin
from health_app.state import runner
from health_app.state.auth import guard, login_redirect


class DashboardState(rx.State):
    pending_applications: int = 0

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect()
        if actor.is_admin:
            page = await runner.call(
                lambda s, cfg, now: admin.list_doctor_applications(
                    s, actor=actor, status="pending", page=1, now=now
                )
            )
            self.pending_applications = page.total
