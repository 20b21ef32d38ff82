"""Login sessions: opaque tokens, idle and absolute expiry, throttled failures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from health_app import routes
from health_app.config import Settings
from health_app.db import execute_after_read, keep_on_rollback, reads_only, require_id
from health_app.driver_reads import read_first
from health_app.models import (
    ApprovalStatus,
    AuditEvent,
    DoctorProfile,
    LoginFailure,
    LoginSession,
    Outcome,
    Role,
    User,
)
from health_app.services import audit
from health_app.services.accounts import emails
from health_app.services.accounts.passwords import verify_password
from health_app.services.accounts.tokens import new_token, token_hash
from health_app.services.errors import LoginRefused, Throttled
from health_app.services.messaging import outbox
from health_app.services.people import Named, display_name
from health_app.services.views import Actor, LoginResult

WRONG_CREDENTIALS = "Email or password is incorrect."
# Why a login was refused, in the words the login page shows; the keys travel in its URL.
REFUSALS = {
    "credentials": WRONG_CREDENTIALS,
    "deactivated": "This account is deactivated. Please contact the clinic.",
    "unconfirmed": "Please confirm your email first: use the link we sent you.",
    "rejected": "Your application was not approved. Check your email for details.",
    "pending": "Your application is waiting for an administrator's approval.",
}
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


def _failures(session: Session, since: datetime, *where: Any) -> tuple[int, datetime | None]:
    count, last = session.exec(
        select(func.count(), func.max(LoginFailure.at)).where(col(LoginFailure.at) > since, *where)
    ).one()
    return int(count), last


def _check_throttle(
    session: Session, *, account_key: str, client_key: str, settings: Settings, now: datetime
) -> None:
    """Slow down guessing without locking the owner out.

    The limits fall on the address that guesses: on one account a growing delay after a
    few failures, then a stop; across accounts, a stop. An account attacked from elsewhere
    still lets its owner in from an address that has not failed.
    """
    since = now - _WINDOW
    pair = (LoginFailure.account_key == account_key, LoginFailure.client_key == client_key)
    tries, last = _failures(session, since, *pair)
    if tries >= settings.login_max_failures_per_hour:
        oldest = session.exec(
            select(func.min(LoginFailure.at)).where(col(LoginFailure.at) > since, *pair)
        ).one()
        raise Throttled(int((_aware(oldest, now) + _WINDOW - now).total_seconds()) + 1)
    delay = login_delay_seconds(
        tries, free=settings.login_free_failures, max_delay=settings.login_max_delay_seconds
    )
    if delay and last is not None:
        wait = (_aware(last, now) + timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            raise Throttled(int(wait) + 1)
    from_client, _ = _failures(session, since, LoginFailure.client_key == client_key)
    if from_client >= settings.client_max_failures_per_hour:
        raise Throttled(int(_WINDOW.total_seconds()))


def _aware(at: datetime, now: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=now.tzinfo)


def _warn_owner(
    session: Session, *, user: User, account_key: str, settings: Settings, now: datetime
) -> None:
    """Tell the owner once an hour that someone keeps failing to log in as them."""
    failures, _ = _failures(session, now - _WINDOW, LoginFailure.account_key == account_key)
    if failures + 1 < settings.login_alert_failures:
        return
    warned = session.exec(
        select(func.count()).where(
            AuditEvent.action == "auth.failure_alert",
            AuditEvent.object_id == str(user.id),
            col(AuditEvent.at) > now - _WINDOW,
        )
    ).one()
    if warned:
        return
    text = emails.failed_logins(
        display_name(user), failures + 1, f"{settings.public_base_url}{routes.FORGOT_PASSWORD}"
    )
    outbox.enqueue_email(
        session,
        kind="account.failed_logins",
        to=user.email,
        text=text,
        now=now,
        user_id=user.id,
        survives_rollback=True,
    )
    audit.record(
        session,
        action="auth.failure_alert",
        outcome=Outcome.SUCCESS,
        now=now,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail=f"{failures + 1} failed logins in an hour",
        survives_rollback=True,
    )


def _fail(
    session: Session,
    *,
    account_key: str,
    client_key: str,
    user: User | None,
    reason: str,
    now: datetime,
    client: str,
    settings: Settings,
    refusal: str = "credentials",
) -> LoginRefused:
    if user is not None and refusal == "credentials":
        _warn_owner(session, user=user, account_key=account_key, settings=settings, now=now)
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
    return LoginRefused(refusal, REFUSALS[refusal])


def _actor(user: User, row: LoginSession) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id, role=user.role, display_name=display_name(user), session_id=row.id
    )


@dataclass(frozen=True)
class PasswordCheck:
    """A password verified (argon2, ~100 ms) outside any transaction, against `stored`."""

    address: str
    stored: str | None
    ok: bool


def password_to_check(
    session: Session, *, email: str, client: str, settings: Settings, now: datetime
) -> str | None:
    """A login's first step, in a read-only transaction: the throttle, then the stored hash
    (None for an unknown address). The caller verifies after the transaction has ended, so
    no write lock is held during the hashing (`check_password`), then calls `login`."""
    address = (email or "").strip().lower()
    _check_throttle(
        session,
        account_key=_key("account", address),
        client_key=_key("client", client),
        settings=settings,
        now=now,
    )
    user = session.exec(select(User).where(User.email == address)).first() if address else None
    return user.password_hash if user else None


def check_password(email: str, password: str, stored: str | None) -> PasswordCheck:
    """Constant work for unknown addresses too (a dummy hash is verified)."""
    address = (email or "").strip().lower()
    return PasswordCheck(address, stored, verify_password(password or "", stored))


def login(
    session: Session,
    *,
    email: str,
    client: str,
    settings: Settings,
    now: datetime,
    password: str = "",
    checked: PasswordCheck | None = None,
) -> LoginResult:
    """Check credentials and open a session. Errors never say whether the email exists.

    With `checked`, the password was verified before this transaction began; it counts
    only if the stored hash is still the one it was checked against.
    """
    address = (email or "").strip().lower()
    account_key, client_key = _key("account", address), _key("client", client)
    _check_throttle(
        session, account_key=account_key, client_key=client_key, settings=settings, now=now
    )
    user = session.exec(select(User).where(User.email == address)).first() if address else None
    if checked is not None:
        proved = (
            checked.ok
            and checked.address == address
            and user is not None
            and checked.stored == user.password_hash
        )
    else:
        proved = verify_password(password or "", user.password_hash if user else None)
    if not proved or user is None:
        raise _fail(
            session,
            account_key=account_key,
            client_key=client_key,
            user=user,
            reason="bad credentials",
            now=now,
            client=client,
            settings=settings,
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
            settings=settings,
            refusal="deactivated",
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
            settings=settings,
            refusal="unconfirmed",
        )
    if user.role == Role.DOCTOR:
        profile = session.get(DoctorProfile, user.id)
        if profile is None or profile.approval_status != ApprovalStatus.APPROVED:
            status = profile.approval_status if profile else "missing"
            raise _fail(
                session,
                account_key=account_key,
                client_key=client_key,
                user=user,
                reason=f"doctor {status}",
                now=now,
                client=client,
                settings=settings,
                refusal="rejected" if status == ApprovalStatus.REJECTED else "pending",
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


_RESOLVE = (
    sql_select(
        col(LoginSession.id),
        col(LoginSession.expires_at),
        col(LoginSession.last_seen_at),
        col(LoginSession.revoked_at),
        col(User.id).label("user_id"),
        col(User.role),
        col(User.first_name),
        col(User.preferred_name),
        col(User.last_name),
        col(User.deactivated_at),
    )
    .join(User, col(User.id) == col(LoginSession.user_id))
    .where(col(LoginSession.token_hash) == bindparam("token_hash"))
)


@reads_only
def resolve_session(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> Actor | None:
    """The actor behind a token, or None if it is unknown, revoked, idle or too old.

    Every event of a signed-in page runs this, so it reads only the columns it decides on
    (one statement built once), as a read (no transaction to begin and commit), and
    writes only when the session ends here or its last use is to be moved on (once a
    minute): after the read, or at once when called within a unit of work that writes."""
    if not token:
        return None
    found = read_first(session, _RESOLVE, {"token_hash": token_hash(token)})
    if found is None or found.revoked_at is not None or found.deactivated_at is not None:
        return None
    idle = timedelta(minutes=settings.idle_minutes_for(found.role))
    ended = now >= found.expires_at or now >= found.last_seen_at + idle
    if ended or now - found.last_seen_at >= _TOUCH_EVERY:
        change = (
            {"revoked_at": now, "revoked_reason": "expired"} if ended else {"last_seen_at": now}
        )
        # Only a session still open: a logout in between keeps its own reason.
        execute_after_read(
            session,
            update(LoginSession)
            .where(col(LoginSession.id) == found.id, col(LoginSession.revoked_at).is_(None))
            .values(**change),
        )
    if ended:
        return None
    return Actor(
        user_id=found.user_id,
        role=found.role,
        display_name=display_name(cast(Named, found)),
        session_id=found.id,
    )


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
