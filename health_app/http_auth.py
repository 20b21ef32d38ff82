"""Logging in and out over plain HTTP, so the session cookie is the server's alone.

The session token is set by these routes as an HttpOnly cookie (`__Host-` and Secure over
https, SameSite=Lax) and is never part of the page state: event handlers read it from the
Cookie header of the event socket's handshake (`state/auth.py`). The login page is a plain
form posting here; after the answer the browser loads the next page, so the socket
reconnects with the new cookie, or without it after a logout.

Both routes refuse a request from another origin (login CSRF, forced logout).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from health_app import routes
from health_app.config import Settings
from health_app.db import get_engine, session_scope
from health_app.services.accounts import sessions
from health_app.services.errors import LoginRefused, Throttled
from health_app.services.views import LoginResult
from health_app.state.unit_of_work import utcnow

LOGIN_ROUTE = "/_auth/login"
LOGOUT_ROUTE = "/_auth/logout"
_FORM_LIMIT = 4096  # an email and a password; anything larger is not a login


def session_token_from(cookie_header: str, settings: Settings) -> str:
    """The session token in a Cookie header ("" when there is none)."""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == settings.session_cookie:
            return value.strip()
    return ""


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _site(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower()


def from_our_site(request: Request, settings: Settings) -> bool:
    """The form was posted by a page of ours (CSRF): same scheme and host as this server or
    PUBLIC_BASE_URL, whatever the port (a separate frontend server on another port of the
    host is still our site; no other site can serve pages from our host).

    Browsers say where a request comes from in Sec-Fetch-Site; the Origin header (or the
    Referer) is checked too, and a request with neither is refused.
    """
    own = {_site(str(request.url)), _site(settings.public_base_url)}
    fetch_site = request.headers.get("sec-fetch-site", "")
    if fetch_site in ("cross-site", "none"):
        return False
    sent = request.headers.get("origin") or request.headers.get("referer", "")
    if sent and sent != "null":
        return _site(sent) in own
    # Origin "null": a page whose referrer policy hides its origin from another port.
    return fetch_site in ("same-origin", "same-site")


def return_to(form_site: str, request: Request, settings: Settings) -> str:
    """Where to send the browser after the answer: the site of the page that posted (sent
    in the form, as the page knows it) when it is ours, else this server."""
    own = {_site(str(request.url)), _site(settings.public_base_url)}
    site = _origin(form_site)
    return site if site and _site(site) in own else ""


def refused() -> Response:
    return PlainTextResponse(
        "This form must be sent from the Health App's own page.", status_code=403
    )


def _go(origin: str, path: str) -> RedirectResponse:
    """Back to a page of the site that posted (which may be another port than ours)."""
    return RedirectResponse(
        f"{origin}{path}", status_code=303, headers={"Cache-Control": "no-store"}
    )


def _back_to_login(origin: str, **query: str | int) -> Response:
    return _go(origin, f"{routes.LOGIN}?{urlencode(query)}")


def _log_in(email: str, password: str, client: str, settings: Settings) -> LoginResult:
    # argon2 takes ~100 ms: it runs between two transactions, never inside one, so on
    # SQLite no write lock (and on PostgreSQL no connection) is held while it hashes.
    with Session(get_engine()) as session:
        stored = sessions.password_to_check(
            session, email=email, client=client, settings=settings, now=utcnow()
        )
    checked = sessions.check_password(email, password, stored)
    with session_scope() as session:
        return sessions.login(
            session, email=email, checked=checked, client=client, settings=settings, now=utcnow()
        )


def _log_out(token: str, client: str) -> None:
    with session_scope() as session:
        sessions.logout(session, token=token, client=client, now=utcnow())


def auth_routes(settings: Callable[[], Settings]) -> list[Route]:
    async def login(request: Request) -> Response:
        cfg = settings()
        if not from_our_site(request, cfg):
            return refused()
        if int(request.headers.get("content-length") or 0) > _FORM_LIMIT:
            return _back_to_login("", failed="credentials")
        form = await request.form()
        origin = return_to(str(form.get("site", "")), request, cfg)
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        try:
            result = await run_in_threadpool(_log_in, email, password, client_of(request), cfg)
        except Throttled as exc:
            return _back_to_login(origin, failed="throttled", wait=exc.retry_after_seconds)
        except LoginRefused as exc:
            return _back_to_login(origin, failed=exc.reason)
        response = _go(origin, routes.DASHBOARD)
        response.set_cookie(
            cfg.session_cookie,
            result.token,
            max_age=cfg.session_absolute_hours * 3600,
            path="/",
            secure=cfg.https,
            httponly=True,
            samesite="lax",
        )
        return response

    async def logout(request: Request) -> Response:
        cfg = settings()
        if not from_our_site(request, cfg):
            return refused()
        origin = return_to(str((await request.form()).get("site", "")), request, cfg)
        token = session_token_from(request.headers.get("cookie", ""), cfg)
        if token:
            await run_in_threadpool(_log_out, token, client_of(request))
        response = _back_to_login(origin, reason="logged_out")
        response.delete_cookie(
            cfg.session_cookie, path="/", secure=cfg.https, httponly=True, samesite="lax"
        )
        return response

    return [
        Route(LOGIN_ROUTE, login, methods=["POST"]),
        Route(LOGOUT_ROUTE, logout, methods=["POST"]),
    ]
