"""Connecting and disconnecting a Microsoft 365 account (patients and doctors).

`begin_connect` keeps the flow (state, nonce, PKCE verifier) on the server and returns the
address to send the browser to; `finish_connect` takes Microsoft's answer at our callback,
checks it belongs to a flow this person started in the last few minutes, redeems the code,
validates the ID token and stores the tokens sealed. Refusals say little to the person
and the reason goes to the audit log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import reads_only
from health_app.models import (
    ConnectionStatus,
    MicrosoftConnection,
    MicrosoftSignIn,
    Outcome,
    Role,
)
from health_app.services import audit
from health_app.services.errors import DomainError
from health_app.services.microsoft import calendar_sync, identity
from health_app.services.microsoft.busy_times import release_all
from health_app.services.microsoft.id_token import (
    IdTokenRefused,
    expected_nonce,
    validate_id_token,
)
from health_app.services.microsoft.token_keys import TokenKeyError, seal, unseal
from health_app.services.views import Actor

log = logging.getLogger(__name__)

FLOW_LIFETIME = timedelta(minutes=10)
FLOWS_PER_HOUR = 10
# What the profile page says after a connect attempt, by the code our callback passes on
# (the address carries a code, never text of its own).
OUTCOMES = {
    "connected": "Microsoft 365 is connected.",
    "not_set_up": "Microsoft 365 is not set up on this server.",
    "throttled": "Too many attempts to connect Microsoft 365. Try again in an hour.",
    "refused": "Microsoft 365 could not be connected. Please try again.",
    "expired": "That sign-in with Microsoft took too long. Please try again.",
    "declined": "Microsoft 365 was not connected: the permissions were not granted.",
    "unavailable": "Microsoft 365 cannot be reached right now. Please try again in a few minutes.",
}


class ConnectRefused(DomainError):
    def __init__(self, code: str) -> None:
        super().__init__(OUTCOMES[code])
        self.code = code


@dataclass(frozen=True)
class MicrosoftView:
    available: bool  # the server has an app registration: show the connect button
    status: str  # "none", "connected", "needs_reconnect" or "disconnected"
    display_name: str
    email: str
    connected_at: datetime | None
    teams: bool  # video visits get Teams meetings

    @property
    def connected(self) -> bool:
        return self.status == ConnectionStatus.CONNECTED


def _require_person(session: Session, actor: Actor, *, action: str, now: datetime) -> None:
    if actor.role not in (Role.PATIENT, Role.DOCTOR):
        raise audit.deny(
            session,
            actor=actor,
            action=action,
            now=now,
            object_type="microsoft_connection",
            message="Microsoft 365 is for patients and doctors.",
        )


@reads_only
def get_connection(session: Session, *, actor: Actor, settings: Settings) -> MicrosoftView:
    """The signed-in person's own connection, as the profile and dashboard show it."""
    row = session.get(MicrosoftConnection, actor.user_id)
    available = settings.microsoft_enabled and actor.role in (Role.PATIENT, Role.DOCTOR)
    if row is None:
        return MicrosoftView(available, "none", "", "", None, False)
    shown = row.status != ConnectionStatus.DISCONNECTED
    return MicrosoftView(
        available=available,
        status=row.status,
        display_name=row.display_name if shown else "",
        email=row.email if shown else "",
        connected_at=row.connected_at if shown else None,
        teams=row.can_meet and shown,
    )


def begin_connect(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    redirect_uri: str,
    return_to: str = "",
) -> str:
    """Start an authorization-code flow with PKCE; returns Microsoft's sign-in address."""
    if not settings.microsoft_enabled:
        raise ConnectRefused("not_set_up")
    _require_person(session, actor, action="microsoft.connect", now=now)
    recent = session.exec(
        select(func.count())
        .select_from(MicrosoftSignIn)
        .where(
            MicrosoftSignIn.user_id == actor.user_id,
            col(MicrosoftSignIn.created_at) > now - timedelta(hours=1),
        )
    ).one()
    if recent >= FLOWS_PER_HOUR:
        raise ConnectRefused("throttled")
    session.execute(
        delete(MicrosoftSignIn).where(col(MicrosoftSignIn.expires_at) < now - timedelta(days=1))
    )
    try:
        flow = identity.start_flow(settings, role=actor.role, redirect_uri=redirect_uri)
    except identity.Unreachable as exc:
        log.warning("Microsoft sign-in unreachable: %s", exc)
        raise ConnectRefused("unavailable") from exc
    session.add(
        MicrosoftSignIn(
            state=flow["state"],
            user_id=actor.user_id,
            flow=seal(json.dumps(flow), settings),
            return_to=return_to[:300],
            created_at=now,
            expires_at=now + FLOW_LIFETIME,
        )
    )
    return str(flow["auth_uri"])


def _refuse(session: Session, actor: Actor, now: datetime, reason: str, code: str) -> DomainError:
    audit.record(
        session,
        action="microsoft.connect",
        outcome=Outcome.DENIED,
        now=now,
        actor_id=actor.user_id,
        object_type="microsoft_connection",
        object_id=actor.user_id,
        detail=reason[:200],
        survives_rollback=True,
    )
    log.warning("Microsoft 365 connect refused for user %s: %s", actor.user_id, reason)
    return ConnectRefused(code)


def sign_in_return_to(session: Session, *, state: str) -> str:
    """Where the browser goes after the callback (the page's origin kept with the flow)."""
    row = session.get(MicrosoftSignIn, state[:64]) if state else None
    return row.return_to if row is not None else ""


def finish_connect(
    session: Session, *, actor: Actor, settings: Settings, now: datetime, answer: dict[str, str]
) -> MicrosoftView:
    """Complete the flow `answer["state"]` names, for the person who started it."""
    if not settings.microsoft_enabled:
        raise ConnectRefused("not_set_up")
    _require_person(session, actor, action="microsoft.connect", now=now)
    state = answer.get("state", "")[:64]
    row = session.get(MicrosoftSignIn, state) if state else None
    if row is None or row.user_id != actor.user_id or row.used_at is not None:
        raise _refuse(session, actor, now, "unknown, used or someone else's state", "refused")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
    if expires < now:
        raise _refuse(session, actor, now, "flow expired", "expired")
    row.used_at = now
    session.add(row)
    try:
        flow = json.loads(unseal(row.flow, settings))
        redeemed = identity.redeem(settings, flow=flow, answer=answer, role=actor.role)
        claims = validate_id_token(
            redeemed.id_token,
            settings=settings,
            nonce=expected_nonce(str(flow.get("nonce", ""))),
            now=now,
        )
    except identity.FlowRefused as exc:
        code = "declined" if exc.declined else "refused"
        raise _refuse(session, actor, now, str(exc), code) from exc
    except (IdTokenRefused, TokenKeyError) as exc:
        raise _refuse(session, actor, now, f"id token: {exc}", "refused") from exc
    conn = session.get(MicrosoftConnection, actor.user_id) or MicrosoftConnection(
        user_id=actor.user_id, connected_at=now, updated_at=now
    )
    conn.status = ConnectionStatus.CONNECTED
    conn.display_name, conn.email = claims.name, claims.email
    conn.tenant_id, conn.object_id = claims.tenant_id, claims.object_id
    conn.home_account_id = redeemed.home_account_id
    conn.can_meet = actor.role == Role.DOCTOR and "onlinemeetings.readwrite" in {
        s.lower().rsplit("/", 1)[-1] for s in redeemed.scopes
    }
    conn.token_cache = seal(redeemed.cache, settings)
    conn.connected_at, conn.updated_at, conn.disconnected_at = now, now, None
    conn.last_error, conn.busy_checked_at = "", None
    session.add(conn)
    session.flush()
    queued = calendar_sync.catch_up(session, user_id=actor.user_id, now=now)
    audit.record(
        session,
        action="microsoft.connect",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="microsoft_connection",
        object_id=actor.user_id,
        detail=f"tenant {claims.tenant_id}; {queued} upcoming visits queued for Outlook",
    )
    return get_connection(session, actor=actor, settings=settings)


def disconnect(session: Session, *, actor: Actor, settings: Settings, now: datetime) -> None:
    """Forget the tokens (the record of the connection stays). Events already in Outlook
    stay there; calendar work not yet sent is withdrawn; Outlook busy times stop blocking."""
    _require_person(session, actor, action="microsoft.disconnect", now=now)
    conn = session.get(MicrosoftConnection, actor.user_id)
    if conn is None or conn.status == ConnectionStatus.DISCONNECTED:
        raise DomainError("No Microsoft 365 account is connected.")
    conn.status, conn.token_cache = ConnectionStatus.DISCONNECTED, ""
    conn.disconnected_at, conn.updated_at = now, now
    session.add(conn)
    calendar_sync.withdraw_for(session, user_id=actor.user_id, reason="Microsoft 365 disconnected")
    if actor.role == Role.DOCTOR:
        release_all(session, doctor_id=actor.user_id, now=now)
    audit.record(
        session,
        action="microsoft.disconnect",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="microsoft_connection",
        object_id=actor.user_id,
    )
