"""The Google Maps adapter: the real googlemaps client, answers turned into plain results.

Every answer that is not a result becomes `MapsUnavailable` with a short reason
(over the query limit, request denied, timed out, HTTP 500), or an empty result for
ZERO_RESULTS. The server key travels only in request URLs: exception text (which can
quote the URL) is never logged or shown, only its type, and access logs of the HTTP
library are redacted (`log_redaction.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import googlemaps
from googlemaps import exceptions as gm

from health_app import log_redaction
from health_app.config import Settings

log = logging.getLogger(__name__)
log_redaction.install()


class MapsUnavailable(Exception):
    """Google Maps gave no usable answer now; `reason` is safe to log and show to staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float
    place_id: str = ""


@dataclass(frozen=True)
class Place:
    place_id: str
    name: str
    address: str
    latitude: float
    longitude: float
    types: tuple[str, ...]
    phone: str = ""


def _reason(exc: Exception) -> str:
    if isinstance(exc, gm.Timeout):
        return "timed out or over the query limit"
    if isinstance(exc, gm.ApiError):
        return {
            "OVER_QUERY_LIMIT": "over the query limit",
            "REQUEST_DENIED": "request denied (check the server key and its API restrictions)",
            "INVALID_REQUEST": "invalid request",
        }.get(str(exc.status), f"answered {exc.status}")
    if isinstance(exc, gm.HTTPError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__  # TransportError and others quote the URL: never their text


class GoogleMaps:
    def __init__(self, settings: Settings) -> None:
        # Any: the client's API methods are attached at runtime, out of the checker's sight.
        self._client: Any = googlemaps.Client(
            key=settings.google_maps_server_key,
            base_url=settings.google_maps_base_url,
            retry_timeout=settings.google_maps_retry_timeout_seconds,
            timeout=settings.google_maps_timeout_seconds,
        )
        self._region = "ca" if settings.region.upper().startswith("CA") else ""

    def geocode(self, address: str) -> Point | None:
        """Where the address is, or None when Google knows no such place."""
        try:
            results = self._client.geocode(address, region=self._region or None)
        except (gm.ApiError, gm.HTTPError, gm.Timeout, gm.TransportError) as exc:
            raise MapsUnavailable(_reason(exc)) from None
        if not results:
            return None
        first = results[0]
        where = first["geometry"]["location"]
        return Point(float(where["lat"]), float(where["lng"]), str(first.get("place_id", "")))

    def pharmacies_near(self, latitude: float, longitude: float, radius: int) -> list[Place]:
        try:
            answer = self._client.places_nearby(
                location=(latitude, longitude), radius=radius, type="pharmacy"
            )
        except (gm.ApiError, gm.HTTPError, gm.Timeout, gm.TransportError) as exc:
            raise MapsUnavailable(_reason(exc)) from None
        places = [_place(r) for r in answer.get("results", [])]
        # Places tags shops that sell medicine as pharmacies too; keep real ones only.
        return [p for p in places if "pharmacy" in p.types]

    def place(self, place_id: str) -> Place | None:
        try:
            answer = self._client.place(
                place_id,
                fields=[
                    "place_id",
                    "name",
                    "formatted_address",
                    "geometry/location",
                    "type",
                    "formatted_phone_number",
                ],
            )
        except gm.ApiError as exc:
            if exc.status in ("NOT_FOUND", "INVALID_REQUEST"):
                return None
            raise MapsUnavailable(_reason(exc)) from None
        except (gm.HTTPError, gm.Timeout, gm.TransportError) as exc:
            raise MapsUnavailable(_reason(exc)) from None
        result = answer.get("result")
        return _place(result) if result else None


def _place(r: dict[str, object]) -> Place:
    geometry = r.get("geometry") or {}
    where = geometry.get("location") or {} if isinstance(geometry, dict) else {}
    return Place(
        place_id=str(r.get("place_id", "")),
        name=str(r.get("name", ""))[:200],
        address=str(r.get("formatted_address") or r.get("vicinity") or "")[:300],
        latitude=float(where.get("lat", 0.0)),
        longitude=float(where.get("lng", 0.0)),
        types=tuple(str(t) for t in (r.get("types") or [])),  # type: ignore[union-attr]
        phone=str(r.get("formatted_phone_number", ""))[:20],
    )


@lru_cache(maxsize=4)
def _client_for(settings: Settings) -> GoogleMaps:
    return GoogleMaps(settings)


def maps_for(settings: Settings) -> GoogleMaps | None:
    """The adapter (one per settings: it keeps an HTTP session), None without a server key."""
    return _client_for(settings) if settings.maps_enabled else None
