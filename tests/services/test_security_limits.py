"""Limits an attacker meets: reset emails, the development mailbox, development mode on a
public address, and who can read the database and the patient files on disk."""

from __future__ import annotations

import re
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from health_app import config
from health_app.config import Settings
from health_app.db import make_engine
from health_app.models import OutboxMessage, User
from health_app.services.accounts import registration
from health_app.services.errors import DomainError, NotFound, Throttled
from health_app.services.files.local_storage import LocalStorage
from health_app.services.messaging import dev_mailbox
from tests.factories import PASSWORD, register_confirmed_patient

_LINK = re.compile(r"/reset-password\?token=(\S+)")


def _reset_links(session: Session, address: str) -> list[str]:
    rows = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.recipient == address, OutboxMessage.kind == "account.reset_password")
        .order_by(OutboxMessage.id)  # type: ignore[arg-type]
    ).all()
    return [m.group(1) for r in rows if (m := _LINK.search(r.body))]


def test_25_reset_requests_send_3_emails_and_every_link_sent_still_works(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    refused = 0
    for i in range(25):
        try:
            registration.request_password_reset(
                session,
                email=user.email,
                settings=settings,
                now=now + timedelta(seconds=i),
                client="203.0.113.9",
            )
        except Throttled:
            refused += 1
        session.commit()
    links = _reset_links(session, user.email)
    assert len(links) == settings.email_requests_per_address_per_hour == 3
    assert refused == 22
    # The first email of the three was not killed by the later ones.
    registration.reset_password(
        session,
        token=links[0],
        password="a fresh passphrase here",
        password_confirm="a fresh passphrase here",
        now=now + timedelta(minutes=1),
    )
    session.commit()
    # An hour on, the address may ask again.
    registration.request_password_reset(
        session,
        email=user.email,
        settings=settings,
        now=now + timedelta(hours=1, minutes=1),
        client="203.0.113.9",
    )


def test_one_client_asking_for_many_addresses_is_limited(
    session: Session, settings: Settings, now: datetime
) -> None:
    most = settings.email_requests_per_client_per_hour
    for i in range(most):
        registration.request_password_reset(
            session, email=f"someone{i}@example.com", settings=settings, now=now, client="bot"
        )
    with pytest.raises(Throttled):
        registration.request_password_reset(
            session, email="one-more@example.com", settings=settings, now=now, client="bot"
        )
    # Another client is not slowed down by the bot.
    registration.request_password_reset(
        session, email="one-more@example.com", settings=settings, now=now, client="someone else"
    )


def test_the_dev_mailbox_answers_this_machine_only(
    session: Session, settings: Settings, now: datetime
) -> None:
    dev = Settings(**{**settings.__dict__, "dev_mode": True})
    for client in ("127.0.0.1", "::1", "localhost"):
        dev_mailbox.list_messages(session, settings=dev, client=client)
    for client in ("203.0.113.9", "10.0.0.7", "", "unknown"):
        with pytest.raises(NotFound):
            dev_mailbox.list_messages(session, settings=dev, client=client)
    production = Settings(**{**settings.__dict__, "dev_mode": False})
    with pytest.raises(NotFound):
        dev_mailbox.list_messages(session, settings=production, client="127.0.0.1")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://localhost:3000", True),
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:3000", True),
        ("https://clinic.example", False),
        ("http://192.168.1.20:3000", False),
    ],
)
def test_development_mode_refuses_a_public_address(
    monkeypatch: pytest.MonkeyPatch, url: str, allowed: bool
) -> None:
    monkeypatch.setenv("DEV_MODE", "true")
    monkeypatch.setenv("PUBLIC_BASE_URL", url)
    if allowed:
        assert config.load_settings().dev_mode is True
    else:
        with pytest.raises(ValueError, match="DEV_MODE=true is for a local machine only"):
            config.load_settings()
    monkeypatch.setenv("DEV_MODE", "false")
    assert config.load_settings().dev_mode is False


def test_the_database_and_patient_files_are_for_their_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/db/app.db")
    with engine.connect():
        pass
    assert stat.S_IMODE((tmp_path / "db" / "app.db").stat().st_mode) == 0o600
    engine.dispose()
    # A folder that already existed with a looser mode is tightened on first use.
    private = tmp_path / "files"
    private.mkdir(mode=0o755)
    private.chmod(0o755)
    storage = LocalStorage(private, tmp_path / "public", secret="s")
    storage.put("v1/scan.pdf", b"%PDF-1.4", content_type="application/pdf")
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / "v1" / "scan.pdf").stat().st_mode) & 0o077 == 0


def test_a_correct_password_from_a_new_address_gets_in(
    session: Session, settings: Settings, now: datetime
) -> None:
    """The owner's own login after someone else's failures (see test_sessions for more)."""
    from health_app.services.accounts import sessions

    user = register_confirmed_patient(session, settings, now)
    for i in range(40):
        with pytest.raises(DomainError, match=r"incorrect|Too many"):
            sessions.login(
                session,
                email=user.email,
                password="guess guess guess",
                client="203.0.113.50",
                settings=settings,
                now=now + timedelta(seconds=i),
            )
    assert sessions.login(
        session,
        email=user.email,
        password=PASSWORD,
        client="198.51.100.4",
        settings=settings,
        now=now + timedelta(seconds=41),
    )
    assert session.get(User, user.id) is not None
