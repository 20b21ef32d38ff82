"""The login form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from health_app import routes
from health_app.services.accounts import sessions
from health_app.state.auth import AuthState
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, public

_REASONS = {
    "expired": "Your session ended. Please log in again.",
    "login": "Please log in to continue.",
    "reset": "Your password was changed. Log in with the new one.",
}


class LoginState(FormMixin, rx.State):
    notice: str = ""

    @rx.event
    @public
    async def load(self) -> Events:
        self.notice = _REASONS.get(self.router.url.query_parameters.get("reason", ""), "")
        auth = await self.get_state(AuthState)
        if auth.session_token and await auth._current_actor() is not None:
            return rx.redirect(routes.DASHBOARD)
        return None

    @rx.event
    @public
    async def submit(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        result = await self._call(
            sessions.login,
            email=form_text(form, "email"),
            password=form_text(form, "password"),
            client=self.router.session.client_ip or "unknown",
        )
        self.busy = False
        auth = await self.get_state(AuthState)
        auth._sign_in(result.token, result.actor)
        yield rx.redirect(routes.DASHBOARD)
        yield rx.toast.success(f"Welcome, {result.actor.display_name}.")
