"""A local Microsoft identity platform and Graph, over HTTPS on 127.0.0.1.

Enough of both for the real MSAL and httpx clients: the OpenID configuration, an
authorize page with a consent button, a token endpoint (authorization code with PKCE,
refresh tokens), and Graph's /me, /me/events and /me/calendarView. Tests steer it: which
account signs in, a broken ID token, refused refreshes, expired access tokens, and
failures queued for the next Graph calls (401, 429 with Retry-After, 503).

Certificates come from trustme; clients trust its CA file (`ca_path`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.integration.served import Served, free_port

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "stand-in-client-secret"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@dataclass
class Account:
    oid: str
    name: str
    email: str
    tid: str = TENANT_ID


@dataclass
class Event:
    id: str
    owner: str  # oid
    body: dict[str, Any]
    join_url: str = ""
    transaction_id: str = ""


@dataclass
class StandIn:
    base: str
    ca_path: Path
    accounts: dict[str, Account] = field(default_factory=dict)
    # Who signs in on the consent page next (an email in `accounts`).
    next_login: str = ""
    # "", "wrong_audience", "wrong_issuer", "expired", "wrong_nonce", "wrong_tenant"
    id_token_flaw: str = ""
    refresh_refused: bool = False
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> oid
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    # Queued answers for the next Graph calls: (status, retry_after or None).
    failures: deque[tuple[int, str | None]] = field(default_factory=deque)
    # Every call: (method, path, status); and the grant types the token endpoint saw.
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    # Every code, access and refresh token handed out: tests look for them in logs.
    issued: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    page_size: int = 200
    # Lose the answer to the next create after storing it (a timeout on our side).
    drop_next_create_answer: bool = False

    def add_account(self, email: str, name: str) -> Account:
        oid = str(
            hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()  # a stable id
        )
        oid = f"{oid[:8]}-{oid[8:12]}-{oid[12:16]}-{oid[16:20]}-{oid[20:32]}"
        account = Account(oid=oid, name=name, email=email)
        self.accounts[email] = account
        self.next_login = self.next_login or email
        return account

    def reset(self) -> None:
        with self.lock:
            self.events.clear()
            self.failures.clear()
            self.calls.clear()
            self.grants.clear()
            self.id_token_flaw = ""
            self.refresh_refused = False
            self.drop_next_create_answer = False
            self.page_size = 200

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            for _ in range(times):
                self.failures.append((status, retry_after))

    def events_of(self, email: str) -> list[Event]:
        oid = self.accounts[email].oid
        with self.lock:
            return [e for e in self.events.values() if e.owner == oid]

    def add_outlook_event(
        self, email: str, start: datetime, end: datetime, *, subject: str = "Meeting"
    ) -> Event:
        event = Event(
            id=f"AAMk-{secrets.token_urlsafe(24)}",
            owner=self.accounts[email].oid,
            body={
                "subject": subject,
                "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                "showAs": "busy",
            },
        )
        with self.lock:
            self.events[event.id] = event
        return event

    def graph_calls(self, method: str = "") -> list[tuple[str, str, int]]:
        return [
            c for c in self.calls if c[1].startswith("/v1.0") and (not method or c[0] == method)
        ]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _utc(value: dict[str, Any]) -> datetime:
    """A Graph dateTimeTimeZone as UTC (the zones our app sends are IANA names)."""
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(value["dateTime"].split(".")[0])
    zone = value.get("timeZone", "UTC")
    return local.replace(tzinfo=ZoneInfo("UTC" if zone == "UTC" else zone)).astimezone(UTC)


def _app(s: StandIn) -> Starlette:
    def openid(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        issuer_tenant = "{tenantid}" if tenant in ("common", "organizations") else tenant
        return JSONResponse(
            {
                "authorization_endpoint": f"{s.base}/{tenant}/oauth2/v2.0/authorize",
                "token_endpoint": f"{s.base}/{tenant}/oauth2/v2.0/token",
                "issuer": f"{s.base}/{issuer_tenant}/v2.0",
                "jwks_uri": f"{s.base}/{tenant}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return HTMLResponse("unknown client", status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return HTMLResponse("PKCE required", status_code=400)
        tenant = request.path_params["tenant"]
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in q.items()
        )
        scopes = html.escape(q.get("scope", ""))
        return HTMLResponse(
            f"""<!doctype html><html lang="en"><head><title>Sign in - Microsoft stand-in</title>
            </head><body><main><h1>Permissions requested</h1>
            <p>Health App would like to: <span id="scopes">{scopes}</span></p>
            <p>Signing in as <strong id="account">{html.escape(s.next_login)}</strong></p>
            <form method="post" action="/{tenant}/oauth2/v2.0/consent">{fields}
            <button name="decision" value="accept" id="accept">Accept</button>
            <button name="decision" value="cancel" id="cancel">Cancel</button>
            </form></main></body></html>"""
        )

    async def consent(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        redirect = form["redirect_uri"]
        if form.get("decision") != "accept":
            answer = {
                "error": "access_denied",
                "error_description": "declined",
                "state": form["state"],
            }
            return RedirectResponse(f"{redirect}?{urlencode(answer)}", status_code=302)
        code = secrets.token_urlsafe(32)
        s.issued.append(code)
        with s.lock:
            s.codes[code] = {
                "redirect_uri": redirect,
                "challenge": form["code_challenge"],
                "nonce": form.get("nonce", ""),
                "scope": form.get("scope", ""),
                "account": s.accounts[s.next_login],
                "tenant": request.path_params["tenant"],
            }
        answer = {"code": code, "state": form["state"], "session_state": secrets.token_hex(8)}
        return RedirectResponse(f"{redirect}?{urlencode(answer)}", status_code=302)

    def _id_token(account: Account, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"{s.base}/{account.tid}/v2.0",
            "aud": CLIENT_ID,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "nonce": nonce,
            "tid": account.tid,
            "oid": account.oid,
            "sub": _b64url(account.oid.encode()),
            "name": account.name,
            "preferred_username": account.email,
            "ver": "2.0",
        }
        flaw = s.id_token_flaw
        if flaw == "wrong_audience":
            claims["aud"] = "someone-else"
        elif flaw == "wrong_issuer":
            claims["iss"] = "https://evil.example/v2.0"
        elif flaw == "expired":
            claims["exp"] = now - 3600
        elif flaw == "wrong_nonce":
            claims["nonce"] = "x" * 64
        elif flaw == "wrong_tenant":
            claims["tid"] = "00000000-0000-0000-0000-000000000000"
            claims["iss"] = f"{s.base}/{claims['tid']}/v2.0"
        return jwt.encode(claims, "stand-in-signing-key-not-checked-by-anyone", algorithm="HS256")

    def _tokens(account: Account, scope: str, nonce: str | None) -> dict[str, Any]:
        access = f"at-{secrets.token_urlsafe(24)}"
        refresh = f"rt-{secrets.token_urlsafe(24)}"
        s.issued.extend((access, refresh))
        with s.lock:
            s.access_tokens[access] = (account.oid, time.time() + 3600)
            s.refresh_tokens[refresh] = account.email
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(x for x in scope.split() if x not in ("openid", "profile")),
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": access,
            "refresh_token": refresh,
            "client_info": _b64url(json.dumps({"uid": account.oid, "utid": account.tid}).encode()),
        }
        if nonce is not None:
            body["id_token"] = _id_token(account, nonce)
        return body

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        s.grants.append(form.get("grant_type", ""))
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            with s.lock:
                grant = s.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            verifier = form.get("code_verifier", "")
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "PKCE"}, status_code=400
                )
            return JSONResponse(_tokens(grant["account"], grant["scope"], grant["nonce"]))
        if form.get("grant_type") == "refresh_token":
            with s.lock:
                email = s.refresh_tokens.get(form.get("refresh_token", ""))
            if email is None or s.refresh_refused:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "AADSTS50173"}, status_code=400
                )
            return JSONResponse(_tokens(s.accounts[email], form.get("scope", ""), None))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _owner(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        with s.lock:
            found = s.access_tokens.get(auth.removeprefix("Bearer "))
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def _graph_error(status: int, code: str, retry_after: str | None = None) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return JSONResponse(
            {"error": {"code": code, "message": code}}, status_code=status, headers=headers
        )

    async def graph(request: Request) -> Response:
        path = request.url.path
        status, response = await _graph(request)
        s.calls.append((request.method, path, status))
        return response

    async def _graph(request: Request) -> tuple[int, Response]:
        owner = _owner(request)
        if owner is None:
            return 401, _graph_error(401, "InvalidAuthenticationToken")
        with s.lock:
            failure = s.failures.popleft() if s.failures else None
        if failure is not None:
            code = {429: "TooManyRequests", 503: "ServiceNotAvailable"}.get(failure[0], "Error")
            return failure[0], _graph_error(failure[0], code, failure[1])
        rest = request.path_params["rest"]
        account = next(a for a in s.accounts.values() if a.oid == owner)
        if rest == "me" and request.method == "GET":
            return 200, JSONResponse(
                {"id": account.oid, "displayName": account.name, "mail": account.email}
            )
        if rest == "me/events" and request.method == "POST":
            body = await request.json()
            txn = body.get("transactionId", "")
            with s.lock:
                same = [e for e in s.events.values() if txn and e.transaction_id == txn]
            if same:
                return 201, JSONResponse(_event_json(same[0]), status_code=201)
            event = Event(
                id=f"AAMk-{secrets.token_urlsafe(24)}", owner=owner, body=body, transaction_id=txn
            )
            if body.get("isOnlineMeeting"):
                event.join_url = (
                    f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{secrets.token_hex(8)}"
                )
            with s.lock:
                s.events[event.id] = event
                lose = s.drop_next_create_answer
                s.drop_next_create_answer = False
            if lose:
                time.sleep(3)  # longer than the client waits: the answer is lost
            return 201, JSONResponse(_event_json(event), status_code=201)
        if rest.startswith("me/events/"):
            event_id = rest.removeprefix("me/events/")
            with s.lock:
                event = s.events.get(event_id)
            if event is None or event.owner != owner:
                return 404, _graph_error(404, "ErrorItemNotFound")
            if request.method == "PATCH":
                event.body = {**event.body, **(await request.json())}
                return 200, JSONResponse(_event_json(event))
            if request.method == "DELETE":
                with s.lock:
                    del s.events[event_id]
                return 204, Response(status_code=204)
        if rest == "me/calendarView" and request.method == "GET":
            start = datetime.fromisoformat(request.query_params["startDateTime"].rstrip("Z"))
            end = datetime.fromisoformat(request.query_params["endDateTime"].rstrip("Z"))
            start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
            skip = int(request.query_params.get("$skip", "0"))
            with s.lock:
                mine = sorted(
                    (e for e in s.events.values() if e.owner == owner),
                    key=lambda e: _utc(e.body["start"]),
                )
            inside = [
                e for e in mine if _utc(e.body["start"]) < end and _utc(e.body["end"]) > start
            ]
            page = inside[skip : skip + s.page_size]
            data: dict[str, Any] = {"value": [_view_json(e) for e in page]}
            if skip + s.page_size < len(inside):
                query = dict(request.query_params)
                query["$skip"] = str(skip + s.page_size)
                data["@odata.nextLink"] = f"{s.base}/v1.0/me/calendarView?{urlencode(query)}"
            return 200, JSONResponse(data)
        return 400, _graph_error(400, "BadRequest")

    return Starlette(
        routes=[
            Route("/{tenant}/v2.0/.well-known/openid-configuration", openid),
            Route("/{tenant}/oauth2/v2.0/authorize", authorize),
            Route("/{tenant}/oauth2/v2.0/consent", consent, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/v1.0/{rest:path}", graph, methods=["GET", "POST", "PATCH", "DELETE"]),
        ]
    )


def _event_json(event: Event) -> dict[str, Any]:
    data = {"id": event.id, **{k: v for k, v in event.body.items() if k != "transactionId"}}
    data["transactionId"] = event.transaction_id or None
    data["onlineMeeting"] = {"joinUrl": event.join_url} if event.join_url else None
    return data


def _view_json(event: Event) -> dict[str, Any]:
    """As calendarView answers with Prefer: outlook.timezone="UTC"."""
    return {
        "id": event.id,
        "iCalUId": f"uid-{event.id[-12:]}",
        "start": {
            "dateTime": _utc(event.body["start"]).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        },
        "end": {
            "dateTime": _utc(event.body["end"]).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        },
        "showAs": event.body.get("showAs", "busy"),
        "isCancelled": False,
    }


class RunningStandIn:
    """The stand-in on its own thread; `stop()` ends it."""

    def __init__(self, workdir: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        workdir.mkdir(parents=True, exist_ok=True)
        ca_path = workdir / "microsoft-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        key_path = workdir / "microsoft-standin.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(key_path))
        port = free_port()
        self.state = StandIn(base=f"https://127.0.0.1:{port}", ca_path=ca_path)
        self._served = Served(_app(self.state), port, tls_pem=str(key_path))

    def stop(self) -> None:
        self._served.stop()


def settings_env(standin: StandIn) -> dict[str, str]:
    """The environment that points the app at the stand-in."""
    return {
        "MICROSOFT_CLIENT_ID": CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
        "MICROSOFT_TENANT": "organizations",
        "MICROSOFT_AUTHORITY_HOST": standin.base,
        "MICROSOFT_GRAPH_BASE_URL": f"{standin.base}/v1.0",
        "MICROSOFT_TOKEN_KEYS": "test-token-key-" + "k" * 32,
        "MICROSOFT_CA_BUNDLE": str(standin.ca_path),
        "MICROSOFT_TIMEOUT_SECONDS": "2",
    }
