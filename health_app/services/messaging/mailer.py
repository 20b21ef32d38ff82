"""Email senders: real SMTP and the development mailbox. Both send one message at a time.

Errors are classified for the outbox: PermanentSendError (retrying cannot help: a refused
address, other 5xx replies) fails the message at once; TransientSendError (timeouts,
4xx replies, a bad login an operator can fix) is retried with backoff.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from health_app.config import Settings
from health_app.db import writer
from health_app.models import Channel, DevMailboxMessage


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
    outbox_id: int | None = None
    # An iCalendar file (text/calendar), attached as ATTACHMENT_NAME when not empty.
    ics: str = ""


ATTACHMENT_NAME = "visit.ics"


class TransientSendError(Exception):
    """Try again later (timeouts, 4xx SMTP replies, HTTP 429 / 5xx)."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentSendError(Exception):
    """Retrying cannot help (bad address or number, 5xx SMTP replies)."""


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> str:
        """Send one email; returns the provider's id for it."""
        ...

    def close(self) -> None: ...


def message_id_for(outbox_id: int, settings: Settings) -> str:
    """`<outbox-ID@domain-of-MAIL_FROM>`: the same for every attempt of one outbox row."""
    address = parseaddr(settings.mail_from)[1]
    domain = address.rpartition("@")[2] or "health-app.local"
    return f"<outbox-{outbox_id}@{domain}>"


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = email.message_id
    msg.set_content(email.body)
    if email.ics:
        method = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in email.ics.splitlines()
                if ln.startswith("METHOD:")
            ),
            "PUBLISH",
        )
        msg.add_attachment(
            email.ics,
            subtype="calendar",
            filename=ATTACHMENT_NAME,
            params={"method": method},
        )
    return msg


class SmtpMailer:
    """SMTP with STARTTLS and optional login; one connection is reused for a batch."""

    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._tls_context = tls_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=self._tls_context)
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, email: OutgoingEmail) -> str:
        msg = build_message(email, sender=self._settings.mail_from)
        try:
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.send_message(msg)
            except smtplib.SMTPServerDisconnected:
                # A reused connection the server closed meanwhile: one fresh try.
                self.close()
                self._smtp = self._connect()
                self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentSendError(f"SMTP recipient refused ({codes})") from exc
            raise TransientSendError(f"SMTP recipient deferred ({codes})") from exc
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong credentials are the operator's to fix: keep the message and retry.
            self.close()
            raise TransientSendError(f"SMTP login refused ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            if exc.smtp_code >= 500:
                raise PermanentSendError(f"SMTP {exc.smtp_code}") from exc
            raise TransientSendError(f"SMTP {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise TransientSendError(f"SMTP {type(exc).__name__}") from exc
        return email.message_id

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


class DevMailboxMailer:
    """Keeps every email in the database for the development mailbox page."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, email: OutgoingEmail) -> str:
        with Session(writer(self._engine)) as session:
            row = DevMailboxMessage(
                channel=Channel.EMAIL,
                recipient=email.to,
                subject=email.subject,
                body=email.body,
                outbox_id=email.outbox_id,
                attachment_name=ATTACHMENT_NAME if email.ics else "",
                attachment=email.ics,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.commit()
            return email.message_id

    def close(self) -> None:
        return None


def make_mailer(settings: Settings, engine: Engine) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    return DevMailboxMailer(engine)
