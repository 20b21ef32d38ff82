"""The login form."""

from __future__ import annotations

from typing import Any

import reflex as rx

from health_app import routes
from health_app.services import sessions
from health_app.state import runner
from health_app.state.auth import AuthState
from health_app.state.forms import FormMixin, form_text

_REASONS = {
    "expired": "Your session ended. Please log in again.",
    "login": "Please log in to continue.",
    "reset": "Your password was changed. Log in with the new one.",
}


class LoginState(FormMixin, rx.State):
    notice: str = ""

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self._reset_form()
        self.notice = _REASONS.get(self.router.url.query_parameters.get("reason", ""), "")
        auth = await self.get_state(AuthState)
        if auth.session_token and await auth._current_actor() is not None:
            return rx.redirect(routes.DASHBOARD)

    @rx.event
    async def submit(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        email, password = form_text(form, "email"), form_text(form, "password")
        client = self.router.session.client_ip or "unknown"
        self.busy = True
        yield
        ok, result = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: sessions.login(
                    s, email=email, password=password, client=client, settings=cfg, now=now
                )
            )
        )
        self.busy = False
        if ok and result is not None:
            auth = await self.get_state(AuthState)
            auth._sign_in(result.token, result.actor)
            yield rx.redirect(routes.DASHBOARD)
            yield rx.toast.success(f"Welcome, {result.actor.display_name}.")
