from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.db import read_scope, session_scope
from health_app.models import AuditEvent, LoginSession, OutboxMessage, User
from health_app.services.accounts import admin, profiles, sessions
from health_app.services.accounts.passwords import hash_password
from health_app.services.errors import DomainError, Throttled
from health_app.services.views import Actor
from tests.factories import PASSWORD, approved_doctor, make_admin, register_confirmed_patient


def _signed_in_patient(session: Session, settings: Settings, now: datetime) -> tuple[User, str]:
    """A confirmed patient and the token of the session they logged in with (committed)."""
    user = register_confirmed_patient(session, settings, now)
    token = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    ).token
    session.commit()
    return user, token


def test_token_is_opaque_and_only_its_hash_is_stored(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    result = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    )
    session.commit()
    stored = session.exec(select(LoginSession)).one()
    assert result.token not in stored.token_hash and len(result.token) >= 22  # >= 128 bits
    assert (
        sessions.resolve_session(session, token=result.token, settings=settings, now=now).user_id
        == user.id
    )
    assert sessions.resolve_session(session, token="forged", settings=settings, now=now) is None


def test_wrong_password_and_unknown_email_get_the_same_message(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    messages = set()
    for email in (user.email, "nobody@example.com"):
        with pytest.raises(DomainError) as err:
            sessions.login(
                session,
                email=email,
                password="wrong password!!",
                client="c",
                settings=settings,
                now=now,
            )
        messages.add(err.value.message)
    assert messages == {sessions.WRONG_CREDENTIALS}
    failures = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.login")).all()
    assert [f.outcome for f in failures] == ["failure", "failure"]


def test_a_password_checked_before_the_transaction_counts_only_if_still_current(
    session: Session, settings: Settings, now: datetime
) -> None:
    """Logins verify argon2 between two transactions: a password changed in between wins."""
    user = register_confirmed_patient(session, settings, now)

    def checked(password: str) -> sessions.PasswordCheck:
        stored = sessions.password_to_check(
            session, email=user.email, client="c", settings=settings, now=now
        )
        return sessions.check_password(user.email, password, stored)

    good = checked(PASSWORD)
    assert good.ok and not checked("not the password!!").ok
    result = sessions.login(
        session, email=user.email.upper(), checked=good, client="c", settings=settings, now=now
    )
    assert result.token
    stale = checked(PASSWORD)
    user.password_hash = hash_password("a brand new password 2026")
    session.add(user)
    session.flush()
    with pytest.raises(DomainError) as err:
        sessions.login(
            session, email=user.email, checked=stale, client="c", settings=settings, now=now
        )
    assert err.value.message == sessions.WRONG_CREDENTIALS
    other = sessions.check_password("someone@example.com", PASSWORD, good.stored)
    with pytest.raises(DomainError):  # checked for another address
        sessions.login(
            session, email=user.email, checked=other, client="c", settings=settings, now=now
        )


@pytest.mark.parametrize(("role", "idle"), [("patient", 30), ("doctor", 15), ("admin", 15)])
def test_idle_timeout_depends_on_role(
    session: Session, settings: Settings, now: datetime, role: str, idle: int
) -> None:
    if role == "patient":
        user = register_confirmed_patient(session, settings, now)
    elif role == "doctor":
        user = approved_doctor(session, settings, now)
    else:
        user = make_admin(session, now)
    token = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    ).token
    session.commit()
    # Activity keeps the session alive past the idle limit...
    t = now
    for _ in range(3):
        t += timedelta(minutes=idle - 1)
        assert sessions.resolve_session(session, token=token, settings=settings, now=t) is not None
        session.commit()
    # ...and silence ends it, for good.
    assert (
        sessions.resolve_session(
            session, token=token, settings=settings, now=t + timedelta(minutes=idle)
        )
        is None
    )
    session.commit()
    row = session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).one()
    assert (row.revoked_at, row.revoked_reason) == (t + timedelta(minutes=idle), "expired")
    assert row.last_seen_at == t  # moved on by the activity above


def test_absolute_lifetime_ends_even_an_active_session(
    session: Session, settings: Settings, now: datetime
) -> None:
    _user, token = _signed_in_patient(session, settings, now)
    t = now
    while t < now + timedelta(hours=settings.session_absolute_hours) - timedelta(minutes=20):
        t += timedelta(minutes=20)
        assert sessions.resolve_session(session, token=token, settings=settings, now=t) is not None
        session.commit()
    assert (
        sessions.resolve_session(
            session, token=token, settings=settings, now=now + timedelta(hours=12)
        )
        is None
    )


def test_logout_revokes(session: Session, settings: Settings, now: datetime) -> None:
    user = register_confirmed_patient(session, settings, now)
    token = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    ).token
    sessions.logout(session, token=token, now=now)
    session.commit()
    assert sessions.resolve_session(session, token=token, settings=settings, now=now) is None


def test_password_change_revokes_other_sessions_but_keeps_this_one(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    here = sessions.login(
        session, email=user.email, password=PASSWORD, client="a", settings=settings, now=now
    )
    there = sessions.login(
        session, email=user.email, password=PASSWORD, client="b", settings=settings, now=now
    )
    session.commit()
    profiles.change_password(
        session,
        actor=here.actor,
        current=PASSWORD,
        new="a brand new passphrase",
        new_confirm="a brand new passphrase",
        now=now,
    )
    session.commit()
    assert (
        sessions.resolve_session(session, token=here.token, settings=settings, now=now) is not None
    )
    assert sessions.resolve_session(session, token=there.token, settings=settings, now=now) is None


def test_deactivation_ends_sessions_and_blocks_login(
    session: Session, settings: Settings, now: datetime
) -> None:
    boss = make_admin(session, now)
    boss_actor = sessions.login(
        session, email=boss.email, password=PASSWORD, client="x", settings=settings, now=now
    ).actor
    user, token = _signed_in_patient(session, settings, now)
    admin.set_user_active(session, actor=boss_actor, user_id=user.id, active=False, now=now)
    session.commit()
    assert sessions.resolve_session(session, token=token, settings=settings, now=now) is None
    with pytest.raises(DomainError, match="deactivated"):
        sessions.login(
            session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
        )
    admin.set_user_active(session, actor=boss_actor, user_id=user.id, active=True, now=now)
    session.commit()
    assert sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    )


def test_failures_grow_a_delay_and_cap_per_account(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    t = now
    for _ in range(settings.login_free_failures):
        with pytest.raises(DomainError, match="incorrect"):
            sessions.login(
                session,
                email=user.email,
                password="nope nope nope",
                client="c",
                settings=settings,
                now=t,
            )
    # Now even the right password must wait: the delay grows with each failure.
    with pytest.raises(Throttled):
        sessions.login(
            session, email=user.email, password=PASSWORD, client="c", settings=settings, now=t
        )
    t += timedelta(seconds=2)
    assert sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=t
    )


def test_unknown_emails_are_throttled_like_real_ones(
    session: Session, settings: Settings, now: datetime
) -> None:
    for _ in range(settings.login_free_failures):
        with pytest.raises(DomainError):
            sessions.login(
                session,
                email="ghost@example.com",
                password="x" * 12,
                client="c",
                settings=settings,
                now=now,
            )
    with pytest.raises(Throttled):
        sessions.login(
            session,
            email="ghost@example.com",
            password="x" * 12,
            client="c",
            settings=settings,
            now=now,
        )


def test_an_attack_from_elsewhere_never_locks_the_owner_out(
    session: Session, settings: Settings, now: datetime
) -> None:
    """Failures from many addresses slow those addresses down; the owner, from an address
    that has not failed, still gets in, and is told once by email."""
    s = Settings(**{**settings.__dict__, "login_max_delay_seconds": 1})
    user = register_confirmed_patient(session, settings, now)
    t = now
    for i in range(s.login_max_failures_per_hour):
        t += timedelta(seconds=2)
        with pytest.raises(DomainError, match="incorrect"):
            sessions.login(
                session,
                email=user.email,
                password="nope nope nope",
                client=f"attacker-{i % 7}",
                settings=s,
                now=t,
            )
    session.commit()
    assert sessions.login(
        session,
        email=user.email,
        password=PASSWORD,
        client="the owner's phone",
        settings=s,
        now=t + timedelta(seconds=1),
    )
    alerts = session.exec(
        select(OutboxMessage).where(OutboxMessage.kind == "account.failed_logins")
    ).all()
    assert [a.recipient for a in alerts] == [user.email]
    assert "/forgot-password" in alerts[0].body


def test_one_address_is_stopped_after_100_failures_on_an_account(
    session: Session, settings: Settings, now: datetime
) -> None:
    s = Settings(**{**settings.__dict__, "login_max_delay_seconds": 1})
    user = register_confirmed_patient(session, settings, now)
    t = now
    for _ in range(s.login_max_failures_per_hour):
        t += timedelta(seconds=2)
        with pytest.raises(DomainError, match="incorrect"):
            sessions.login(
                session,
                email=user.email,
                password="nope nope nope",
                client="guesser",
                settings=s,
                now=t,
            )
    with pytest.raises(Throttled):
        sessions.login(
            session,
            email=user.email,
            password=PASSWORD,
            client="guesser",
            settings=s,
            now=t + timedelta(seconds=5),
        )
    assert sessions.login(
        session,
        email=user.email,
        password=PASSWORD,
        client="guesser",
        settings=s,
        now=now + timedelta(hours=1, seconds=3),
    )


def test_per_client_limit_spans_accounts(
    session: Session, settings: Settings, now: datetime
) -> None:
    s = Settings(**{**settings.__dict__, "client_max_failures_per_hour": 10})
    for i in range(10):
        with pytest.raises(DomainError, match="incorrect"):
            sessions.login(
                session,
                email=f"u{i}@example.com",
                password="x" * 12,
                client="bot",
                settings=s,
                now=now,
            )
    with pytest.raises(Throttled):
        sessions.login(
            session, email="u99@example.com", password="x" * 12, client="bot", settings=s, now=now
        )


def test_resolving_in_a_read_moves_the_last_use_on_after_it(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    """Each event resolves the session as a read (no transaction to begin and end): the
    once-a-minute move of its last use, and its end when idle, are written after it."""
    user, token = _signed_in_patient(session, settings, now)

    def resolved(at: datetime) -> Actor | None:
        with read_scope(engine) as reading:
            return sessions.resolve_session(reading, token=token, settings=settings, now=at)

    def stored() -> LoginSession:
        with Session(engine) as fresh:
            return fresh.exec(select(LoginSession).where(LoginSession.user_id == user.id)).one()

    assert resolved(now + timedelta(seconds=30)) is not None
    assert stored().last_seen_at == now  # within the minute: nothing written
    later = now + timedelta(minutes=5)
    assert resolved(later) is not None
    assert stored().last_seen_at == later
    idle = timedelta(minutes=settings.idle_minutes_for(user.role))
    assert resolved(later + idle) is None
    row = stored()
    assert (row.revoked_at, row.revoked_reason) == (later + idle, "expired")


def test_an_idle_end_found_after_a_logout_keeps_the_logout(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    user, token = _signed_in_patient(session, settings, now)
    idle = timedelta(minutes=settings.idle_minutes_for(user.role))
    with read_scope(engine) as reading:
        # The read finds the session idle; a logout lands before its write does.
        assert (
            sessions.resolve_session(reading, token=token, settings=settings, now=now + idle)
            is None
        )
        with session_scope(engine) as other:
            sessions.logout(other, token=token, now=now + idle)
    with Session(engine) as fresh:
        row = fresh.exec(select(LoginSession).where(LoginSession.user_id == user.id)).one()
    assert row.revoked_reason == "logout"
