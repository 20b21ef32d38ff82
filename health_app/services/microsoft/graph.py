"""Microsoft Graph over httpx: the few calls we make, and what their failures mean.

401 gets one fresh token and one retry; 429 and 5xx become `TransientSendError` (with the
Retry-After Graph sends), so the outbox tries again later; other refusals are permanent.
Error text carries Graph's error code only, never a token or a body we sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from health_app.config import Settings
from health_app.services.messaging.mailer import PermanentSendError, TransientSendError

# A token provider: (force_refresh) -> access token.
TokenSource = Callable[[bool], str]


class NotFound(Exception):
    """The event is not there (deleted by its owner in Outlook)."""


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return max(1.0, float(raw)) if raw else None
    except ValueError:
        return None


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))[:80]
    except (ValueError, AttributeError):
        return ""


@dataclass(frozen=True)
class GraphEvent:
    id: str
    join_url: str  # the Teams link when the event is an online meeting, else ""


@dataclass(frozen=True)
class BusyTime:
    event_id: str
    ical_uid: str
    starts_at: datetime
    ends_at: datetime


def http_client(settings: Settings) -> httpx.Client:
    """TLS checked against the system's CAs, or MICROSOFT_CA_BUNDLE (a private stand-in)."""
    verify: ssl.SSLContext | bool = True
    if settings.microsoft_ca_bundle:
        verify = ssl.create_default_context(cafile=settings.microsoft_ca_bundle)
    return httpx.Client(timeout=settings.microsoft_timeout_seconds, verify=verify)


def _parse_time(value: dict[str, Any]) -> datetime:
    """Graph dateTimeTimeZone in UTC (we ask for UTC with the Prefer header)."""
    text = str(value["dateTime"]).rstrip("Z")
    text = text.split(".")[0]
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Graph:
    def __init__(
        self, settings: Settings, token: TokenSource, *, client: httpx.Client | None = None
    ) -> None:
        self._base = settings.microsoft_graph_base_url
        self._token = token
        self._client = client or http_client(settings)
        self._own_client = client is None

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("https://") else f"{self._base}{path}"
        headers = {"Prefer": 'outlook.timezone="UTC"', **kwargs.pop("headers", {})}
        response: httpx.Response | None = None
        for attempt in (0, 1):
            headers["Authorization"] = f"Bearer {self._token(attempt == 1)}"
            try:
                response = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException as exc:
                # A lost answer: the caller's create is safe to repeat (transactionId).
                raise TransientSendError(f"Microsoft Graph timed out ({method})") from exc
            except httpx.HTTPError as exc:
                raise TransientSendError(
                    f"Microsoft Graph unreachable: {type(exc).__name__}"
                ) from exc
            if response.status_code != 401:
                break
        assert response is not None
        status = response.status_code
        if status == 404:
            raise NotFound(method)
        if status == 429 or status >= 500:
            raise TransientSendError(
                f"Microsoft Graph answered {status} {_code(response)}".strip(),
                retry_after_seconds=_retry_after(response),
            )
        if status >= 400:
            raise PermanentSendError(f"Microsoft Graph refused: {status} {_code(response)}".strip())
        return response

    def create_event(self, body: dict[str, Any]) -> GraphEvent:
        data = self._send("POST", "/me/events", json=body).json()
        return GraphEvent(id=str(data["id"]), join_url=_join_url(data))

    def update_event(self, event_id: str, body: dict[str, Any]) -> GraphEvent:
        data = self._send("PATCH", f"/me/events/{event_id}", json=body).json()
        return GraphEvent(id=str(data.get("id", event_id)), join_url=_join_url(data))

    def delete_event(self, event_id: str) -> None:
        self._send("DELETE", f"/me/events/{event_id}")

    def busy_times(self, start: datetime, end: datetime) -> Iterator[BusyTime]:
        """Events that make the person busy between start and end (free and cancelled
        ones are not), following Graph's pages."""
        url: str = "/me/calendarView"
        params: dict[str, str] | None = {
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "$select": "id,iCalUId,start,end,showAs,isCancelled",
            "$top": "200",
        }
        while url:
            data = self._send("GET", url, params=params).json()
            for item in data.get("value", []):
                if item.get("isCancelled") or item.get("showAs") in ("free", "workingElsewhere"):
                    continue
                yield BusyTime(
                    event_id=str(item.get("id", "")),
                    ical_uid=str(item.get("iCalUId", "")),
                    starts_at=_parse_time(item["start"]),
                    ends_at=_parse_time(item["end"]),
                )
            url, params = str(data.get("@odata.nextLink", "")), None


def _join_url(data: dict[str, Any]) -> str:
    meeting = data.get("onlineMeeting") or {}
    return str(meeting.get("joinUrl", "") or "")
