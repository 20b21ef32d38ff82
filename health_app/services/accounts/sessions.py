"""Login sessions: opaque tokens, idle and absolute expiry, throttled failures."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import keep_on_rollback, require_id
from health_app.models import (
    ApprovalStatus,
    DoctorProfile,
    LoginFailure,
    LoginSession,
    Outcome,
    Role,
    User,
)
from health_app.services import audit
from health_app.services.accounts.passwords import verify_password
from health_app.services.accounts.tokens import new_token, token_hash
from health_app.services.errors import DomainError, Throttled
from health_app.services.people import display_name
from health_app.services.views import Actor, LoginResult

WRONG_CREDENTIALS = "Email or password is incorrect."
# Writing last_seen on every event would turn every click into a write; a minute is enough.
_TOUCH_EVERY = timedelta(seconds=60)
_WINDOW = timedelta(hours=1)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def login_delay_seconds(failures: int, *, free: int, max_delay: int) -> int:
    """Growing delay after `free` failures: 1, 2, 4, ... seconds, capped."""
    if failures < free:
        return 0
    return min(max_delay, 2 ** (failures - free))


def _check_throttle(
    session: Session, *, account_key: str, client_key: str, settings: Settings, now: datetime
) -> None:
    since = now - _WINDOW
    count, last = session.exec(
        select(func.count(), func.max(LoginFailure.at)).where(
            LoginFailure.account_key == account_key, col(LoginFailure.at) > since
        )
    ).one()
    if count >= settings.login_max_failures_per_hour:
        oldest = session.exec(
            select(func.min(LoginFailure.at)).where(
                LoginFailure.account_key == account_key, col(LoginFailure.at) > since
            )
        ).one()
        raise Throttled(int((oldest + _WINDOW - now).total_seconds()) + 1)
    delay = login_delay_seconds(
        count, free=settings.login_free_failures, max_delay=settings.login_max_delay_seconds
    )
    if delay and last is not None:
        last_at = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
        wait = (last_at + timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            raise Throttled(int(wait) + 1)
    client_count = session.exec(
        select(func.count()).where(
            LoginFailure.client_key == client_key, col(LoginFailure.at) > since
        )
    ).one()
    if client_count >= settings.client_max_failures_per_hour:
        raise Throttled(int(_WINDOW.total_seconds()))


def _fail(
    session: Session,
    *,
    account_key: str,
    client_key: str,
    user: User | None,
    reason: str,
    now: datetime,
    client: str,
    message: str = WRONG_CREDENTIALS,
) -> DomainError:
    keep_on_rollback(session, LoginFailure(account_key=account_key, client_key=client_key, at=now))
    audit.record(
        session,
        action="auth.login",
        outcome=Outcome.FAILURE,
        now=now,
        actor_id=user.id if user else None,
        object_type="user",
        object_id=user.id if user else "",
        detail=reason,
        client=client,
        survives_rollback=True,
    )
    return DomainError(message)


def _actor(user: User, row: LoginSession) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id, role=user.role, display_name=display_name(user), session_id=row.id
    )


def login(
    session: Session, *, email: str, password: str, client: str, settings: Settings, now: datetime
) -> LoginResult:
    """Check credentials and open a session. Errors never say whether the email exists."""
    address = (email or "").strip().lower()
    account_key, client_key = _key("account", address), _key("client", client)
    _check_throttle(
        session, account_key=account_key, client_key=client_key, settings=settings, now=now
    )
    user = session.exec(select(User).where(User.email == address)).first() if address else None
    if not verify_password(password or "", user.password_hash if user else None) or user is None:
        raise _fail(
            session,
            account_key=account_key,
            client_key=client_key,
            user=user,
            reason="bad credentials",
            now=now,
            client=client,
        )
    # From here the caller proved the password, so saying why they cannot enter reveals nothing.
    if user.deactivated_at is not None:
        raise _fail(
            session,
            account_key=account_key,
            client_key=client_key,
            user=user,
            reason="deactivated",
            now=now,
            client=client,
            message="This account is deactivated. Please contact the clinic.",
        )
    if user.email_verified_at is None:
        raise _fail(
            session,
            account_key=account_key,
            client_key=client_key,
            user=user,
            reason="email not confirmed",
            now=now,
            client=client,
            message="Please confirm your email first: use the link we sent you.",
        )
    if user.role == Role.DOCTOR:
        profile = session.get(DoctorProfile, user.id)
        if profile is None or profile.approval_status != ApprovalStatus.APPROVED:
            status = profile.approval_status if profile else "missing"
            message = (
                "Your application was not approved. Check your email for details."
                if status == ApprovalStatus.REJECTED
                else "Your application is waiting for an administrator's approval."
            )
            raise _fail(
                session,
                account_key=account_key,
                client_key=client_key,
                user=user,
                reason=f"doctor {status}",
                now=now,
                client=client,
                message=message,
            )
    raw = new_token()
    row = LoginSession(
        token_hash=token_hash(raw),
        user_id=require_id(user.id),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
    )
    session.add(row)
    audit.record(
        session,
        action="auth.login",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        client=client,
    )
    session.flush()
    return LoginResult(
        token=raw,
        actor=_actor(user, row),
    )


def resolve_session(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> Actor | None:
    """The actor behind a token, or None if it is unknown, revoked, idle or too old."""
    if not token:
        return None
    found = session.exec(
        select(LoginSession, User)
        .join(User, col(User.id) == col(LoginSession.user_id))
        .where(LoginSession.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or user.deactivated_at is not None:
        return None
    idle = timedelta(minutes=settings.idle_minutes_for(user.role))
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        row.revoked_at, row.revoked_reason = now, "expired"
        session.add(row)
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    return _actor(user, row)


def logout(session: Session, *, token: str, now: datetime, client: str = "") -> None:
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == token_hash(token or ""))
    ).first()
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at, row.revoked_reason = now, "logout"
    session.add(row)
    audit.record(
        session,
        action="auth.logout",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=row.user_id,
        object_type="user",
        object_id=row.user_id,
        client=client,
    )


def revoke_user_sessions(
    session: Session,
    *,
    user_id: int,
    reason: str,
    now: datetime,
    keep_session_id: int | None = None,
) -> None:
    stmt = (
        update(LoginSession)
        .where(col(LoginSession.user_id) == user_id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if keep_session_id is not None:
        stmt = stmt.where(col(LoginSession.id) != keep_session_id)
    session.execute(stmt)
