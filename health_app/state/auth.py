"""Who is signed in. Tiny on purpose: the token, the role for navigation, a display name.

The token names a server-side session; every privileged call resolves it again, so a
logout, deactivation or timeout takes effect on the next click.
"""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.services.accounts import sessions
from health_app.services.views import Actor
from health_app.state.unit_of_work import run_service

SESSION_COOKIE = "ha_session"


class AuthState(rx.State):
    session_token: str = rx.Cookie("", name=SESSION_COOKIE, same_site="strict", max_age=12 * 3600)
    display_name: str = ""
    role: str = ""
    _user_id: int | None = None

    async def _current_actor(self) -> Actor | None:
        """Resolve the session on the server; clears the local identity when it has ended."""
        actor = await run_service(sessions.resolve_session, token=self.session_token)
        if actor is None:
            self._forget()
        else:
            self._user_id, self.role, self.display_name = (
                actor.user_id,
                actor.role,
                actor.display_name,
            )
        return actor

    def _forget(self) -> None:
        self.session_token, self._user_id, self.role, self.display_name = "", None, "", ""

    def _sign_in(self, token: str, actor: Actor) -> None:
        """Called by LoginState after the service accepted the credentials."""
        self.session_token = token
        self._user_id, self.role, self.display_name = actor.user_id, actor.role, actor.display_name

    @rx.event
    async def check_session(self) -> None:
        """on_load of public pages: keeps the navigation honest without forcing a login."""
        if self.session_token:
            await self._current_actor()

    @rx.event
    async def logout(self) -> list[rx.event.EventSpec]:
        if self.session_token:
            await run_service(
                sessions.logout, token=self.session_token, client=self.router.session.client_ip
            )
        self._forget()
        return [rx.redirect(routes.HOME), rx.toast.success("You are logged out.")]
