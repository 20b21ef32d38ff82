"""SMS senders: a Twilio-compatible Messages REST API over httpx, and the development mailbox.

The API is Twilio's (also served by SignalWire's compatibility API): POST
{base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded To / From / Body, HTTP basic
auth with the account SID and token; 201 answers with the message's "sid".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from health_app.config import Settings
from health_app.db import writer
from health_app.models import Channel, DevMailboxMessage
from health_app.services.messaging.mailer import PermanentSendError, TransientSendError

# A server asking for more than this is treated as asking for this (the outbox backs off too).
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    outbox_id: int | None = None


class SmsSender(Protocol):
    def send(self, sms: OutgoingSms) -> str:
        """Send one SMS; returns the provider's id for it."""
        ...

    def close(self) -> None: ...


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


def _error_detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return f" (code {code})" if code else ""


class TwilioSms:
    """The real client; the base URL is a setting, so tests point it at a local stand-in."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        self._settings = settings
        self._client = httpx.Client(
            base_url=settings.sms_api_base_url,
            auth=(settings.sms_account_sid, settings.sms_auth_token),
            timeout=settings.sms_timeout_seconds,
            transport=transport,
        )

    def send(self, sms: OutgoingSms) -> str:
        s = self._settings
        path = f"/2010-04-01/Accounts/{s.sms_account_sid}/Messages.json"
        try:
            response = self._client.post(
                path, data={"To": sms.to, "From": s.sms_from_number, "Body": sms.body}
            )
        except httpx.TimeoutException as exc:
            raise TransientSendError("SMS API timeout") from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"SMS API {type(exc).__name__}") from exc
        status = response.status_code
        if status in (200, 201):
            try:
                return str(response.json().get("sid", ""))
            except ValueError:
                return ""
        detail = _error_detail(response)
        if status == 429 or status >= 500:
            raise TransientSendError(
                f"SMS API HTTP {status}{detail}",
                retry_after_seconds=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status in (401, 403, 404):
            # Wrong account, token or base URL: the operator can fix it, so keep retrying.
            raise TransientSendError(f"SMS API HTTP {status}{detail}")
        # 400 and the rest: an invalid or unreachable number, a refused body. Retrying cannot help.
        raise PermanentSendError(f"SMS API HTTP {status}{detail}")

    def close(self) -> None:
        self._client.close()


class DevSms:
    """Keeps every SMS in the database for the development mailbox page."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def send(self, sms: OutgoingSms) -> str:
        with Session(writer(self._engine)) as session:
            row = DevMailboxMessage(
                channel=Channel.SMS,
                recipient=sms.to,
                subject="",
                body=sms.body,
                outbox_id=sms.outbox_id,
                created_at=datetime.now(UTC),
            )
            session.add(row)
            session.commit()
            return f"dev-sms-{row.id}"

    def close(self) -> None:
        return None


def make_sms_sender(settings: Settings, engine: Engine) -> SmsSender:
    if settings.sms_backend == "twilio":
        return TwilioSms(settings)
    return DevSms(engine)
