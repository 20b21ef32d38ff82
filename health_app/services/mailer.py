"""Mailers: the real SMTP one and the development mailbox. Both send one email."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from health_app.config import Settings
from health_app.db import writer
from health_app.models import DevMailboxMessage


@dataclass(frozen=True)
class EmailText:
    """What a message says, before it has a recipient."""

    subject: str
    body: str


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    # Deterministic per outbox row, so a resend after a crash is recognisably the same message.
    message_id: str


class TransientSendError(Exception):
    """Try again later (timeouts, 4xx SMTP replies)."""


class PermanentSendError(Exception):
    """Retrying cannot help (bad address, 5xx SMTP replies)."""


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = email.message_id
    msg.set_content(email.body)
    return msg


class SmtpMailer:
    """SMTP with STARTTLS and optional login."""

    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls_context = tls_context or ssl.create_default_context()

    def send(self, email: OutgoingEmail) -> None:
        s = self._settings
        msg = build_message(email, sender=s.mail_from)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=self._tls_context)
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentSendError(f"recipient refused ({codes})") from exc
            raise TransientSendError(f"recipient deferred ({codes})") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise PermanentSendError(f"SMTP {exc.smtp_code}") from exc
            raise TransientSendError(f"SMTP {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(type(exc).__name__) from exc


class DevMailboxMailer:
    """Keeps every email in the database for the development mailbox page."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, email: OutgoingEmail) -> None:
        with Session(writer(self._engine)) as session:
            session.add(
                DevMailboxMessage(
                    channel="email",
                    recipient=email.to,
                    subject=email.subject,
                    body=email.body,
                    created_at=datetime.now(UTC),
                )
            )
            session.commit()


def make_mailer(settings: Settings, engine: Engine) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    return DevMailboxMailer(engine)
