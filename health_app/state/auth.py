"""Who is signed in. Tiny on purpose: the token, the role for navigation, a display name.

The token names a server-side session; every privileged call resolves it again, so a
logout, deactivation or timeout takes effect on the next click.
"""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.services import audit, sessions
from health_app.services.errors import NotAuthenticated
from health_app.services.views import Actor
from health_app.state import runner

SESSION_COOKIE = "ha_session"


class AuthState(rx.State):
    session_token: str = rx.Cookie("", name=SESSION_COOKIE, same_site="strict", max_age=12 * 3600)
    display_name: str = ""
    role: str = ""
    _user_id: int | None = None

    async def _current_actor(self) -> Actor | None:
        """Resolve the session on the server; clears the local identity when it has ended."""
        token = self.session_token
        actor = await runner.call(
            lambda s, cfg, now: sessions.resolve_session(s, token=token, settings=cfg, now=now)
        )
        if actor is None:
            self._forget()
        else:
            self._user_id, self.role, self.display_name = (
                actor.user_id,
                actor.role,
                actor.display_name,
            )
        return actor

    async def _require_actor(self) -> Actor:
        actor = await self._current_actor()
        if actor is None:
            raise NotAuthenticated()
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
    async def logout(self):  # type: ignore[no-untyped-def]
        token = self.session_token
        client = self.router.session.client_ip
        if token:
            await runner.call(
                lambda s, cfg, now: sessions.logout(s, token=token, now=now, client=client)
            )
        self._forget()
        return [rx.redirect(routes.HOME), rx.toast.success("You are logged out.")]


def login_redirect(reason: str = "login") -> rx.event.EventSpec:
    return rx.redirect(f"{routes.LOGIN}?reason={reason}")


async def guard(state: rx.State, *roles: str) -> Actor | None:
    """For on_load and handlers: the actor if signed in with one of `roles`, else None.

    Callers redirect on None; the services still check the actor on every call.
    """
    auth = await state.get_state(AuthState)
    actor = await auth._current_actor() if auth.session_token else None
    if actor is None:
        return None
    if roles and actor.role not in roles:
        # Signed in, but this page or action is not for this role: an authorization failure.
        refused = actor
        where = type(state).__name__
        await runner.call(
            lambda s, cfg, now: audit.deny(
                s, actor=refused, action="page.role", now=now, object_type="state", object_id=where
            )
        )
        return None
    return actor
