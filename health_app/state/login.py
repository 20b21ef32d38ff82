"""The login page. The form posts to `/_auth/login` (http_auth.py), which sets the session
cookie; a refusal comes back here as `?failed=<why>`, shown in the service's words."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.page_loads import ends_page_load
from health_app.services.accounts.sessions import REFUSALS
from health_app.services.errors import Throttled
from health_app.state.auth import AuthState
from health_app.state.handlers import Events, FormMixin, public

_REASONS = {
    "expired": "Your session ended. Please log in again.",
    "login": "Please log in to continue.",
    "reset": "Your password was changed. Log in with the new one.",
    "logged_out": "You are logged out.",
}


def _refusal(failed: str, wait: str) -> str:
    if failed == "throttled":
        return Throttled(int(wait) if wait.isdigit() and len(wait) < 7 else 60).message
    return REFUSALS.get(failed, "")


class LoginState(FormMixin, rx.State):
    notice: str = ""

    @rx.event
    @ends_page_load
    @public
    async def load(self) -> Events:
        query = self.router.url.query_parameters
        self.notice = _REASONS.get(query.get("reason", ""), "")
        self.form_error = _refusal(query.get("failed", ""), query.get("wait", ""))
        auth = await self.get_state(AuthState)
        if await auth._current_actor() is not None:
            return rx.redirect(routes.DASHBOARD)
        return None
