"""Who is signed in. Tiny on purpose: the role for navigation and a display name.

The session token lives only in an HttpOnly cookie set by `http_auth.py`; it is read here
from the Cookie header of the event socket's handshake (server-side only in Reflex) and
never becomes state the browser receives. Every privileged call resolves it again, so a
logout, deactivation or timeout takes effect on the next click.
"""

from __future__ import annotations

import reflex as rx

from health_app.config import get_settings
from health_app.http_auth import session_token_from
from health_app.page_loads import ends_page_load
from health_app.services.accounts import sessions
from health_app.services.views import Actor
from health_app.state.unit_of_work import run_service


class AuthState(rx.State):
    display_name: str = ""
    role: str = ""
    _user_id: int | None = None

    def _token(self) -> str:
        return session_token_from(self.router.headers.cookie or "", get_settings())

    async def _current_actor(self) -> Actor | None:
        """Resolve the session on the server; clears the local identity when it has ended."""
        token = self._token()
        actor = await run_service(sessions.resolve_session, token=token) if token else None
        if actor is None:
            self._forget()
            return None
        known = (actor.user_id, actor.role, actor.display_name)
        # Unchanged (every event but the first): left alone, so not sent or written again.
        if (self._user_id, self.role, self.display_name) != known:
            self._user_id, self.role, self.display_name = known
        return actor

    def _forget(self) -> None:
        self._user_id, self.role, self.display_name = None, "", ""

    @rx.event
    @ends_page_load
    async def check_session(self) -> None:
        """on_load of public pages: keeps the navigation honest without forcing a login."""
        await self._current_actor()
