"""Connecting Microsoft 365 over plain HTTP: a form post that starts the sign-in and the
callback Microsoft sends the browser back to.

Both are ordinary HTTP routes so they work the same behind one port in production: the
browser leaves for Microsoft with a 303 and comes back with a top-level GET, which carries
our SameSite=Lax session cookie. The code and state in the callback's address are never
logged (`log_redaction.py`) and the answer sends the browser on at once, with nothing of
them in the next address.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from health_app import routes
from health_app.config import Settings
from health_app.db import session_scope
from health_app.http_auth import from_our_site, refused, return_to, session_token_from
from health_app.services.accounts import sessions
from health_app.services.errors import DomainError
from health_app.services.jobs import scheduler
from health_app.services.microsoft import connections
from health_app.services.microsoft.identity import CALLBACK_PATH
from health_app.services.views import Actor
from health_app.state.unit_of_work import utcnow

CONNECT_ROUTE = "/_auth/microsoft/connect"
_FORM_LIMIT = 2048


def _actor(request: Request, settings: Settings) -> Actor | None:
    token = session_token_from(request.headers.get("cookie", ""), settings)
    with session_scope() as session:
        return sessions.resolve_session(session, token=token, settings=settings, now=utcnow())


def _go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _to_profile(origin: str, outcome: str) -> RedirectResponse:
    return _go(f"{origin}{routes.PROFILE}?microsoft={outcome}#microsoft")


def _begin(actor: Actor, settings: Settings, redirect_uri: str, origin: str) -> str:
    with session_scope() as session:
        return connections.begin_connect(
            session,
            actor=actor,
            settings=settings,
            now=utcnow(),
            redirect_uri=redirect_uri,
            return_to=origin,
        )


def _finish(actor: Actor, settings: Settings, answer: dict[str, str]) -> str:
    """The outcome code for the profile page."""
    with session_scope() as session:
        try:
            connections.finish_connect(
                session, actor=actor, settings=settings, now=utcnow(), answer=answer
            )
        except connections.ConnectRefused as exc:
            return exc.code
    return "connected"


def _origin_of_flow(state: str) -> str:
    with session_scope() as session:
        return connections.sign_in_return_to(session, state=state)


def microsoft_routes(settings: Callable[[], Settings]) -> list[Route]:
    async def connect(request: Request) -> Response:
        cfg = settings()
        if not from_our_site(request, cfg):
            return refused()
        if int(request.headers.get("content-length") or 0) > _FORM_LIMIT:
            return refused()
        origin = return_to(str((await request.form()).get("site", "")), request, cfg)
        actor = await run_in_threadpool(_actor, request, cfg)
        if actor is None:
            return _go(f"{origin}{routes.LOGIN}?reason=expired")
        here = f"{request.url.scheme}://{request.url.netloc}"
        redirect_uri = cfg.microsoft_redirect_uri or f"{here}{CALLBACK_PATH}"
        try:
            auth_uri = await run_in_threadpool(_begin, actor, cfg, redirect_uri, origin)
        except connections.ConnectRefused as exc:
            return _to_profile(origin, exc.code)
        except DomainError:
            return _to_profile(origin, "refused")
        return _go(auth_uri)

    async def callback(request: Request) -> Response:
        cfg = settings()
        answer = {k: v[:4096] for k, v in request.query_params.items()}
        origin = await run_in_threadpool(_origin_of_flow, answer.get("state", ""))
        actor = await run_in_threadpool(_actor, request, cfg)
        if actor is None:
            return _go(f"{origin}{routes.LOGIN}?reason=expired")
        outcome = await run_in_threadpool(_finish, actor, cfg, answer)
        # Calendar work that waited for this connection goes now, not at the next tick.
        scheduler.kick()
        return _to_profile(origin, outcome)

    return [
        Route(CONNECT_ROUTE, connect, methods=["POST"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
