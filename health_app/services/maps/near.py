"""Doctors near a place: the patient's home, a typed postal code or address, or where the
browser says the person is (asked only when they click)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from health_app.config import Settings
from health_app.db import reads_only, waits_beyond_database
from health_app.models import PatientProfile, Role
from health_app.services.errors import DomainError
from health_app.services.maps.geocoding import geocode_cached
from health_app.services.maps.google import MapsUnavailable
from health_app.services.scheduling import search
from health_app.services.views import Actor, Page

HOME = "home"
_COORDS = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


class PlaceNotFound(DomainError):
    """Said beside the "near" field."""


def home_of(session: Session, actor: Actor | None) -> tuple[float, float]:
    if actor is None or actor.role != Role.PATIENT:
        raise PlaceNotFound("Log in as a patient to search near your home, or type a place.")
    profile = session.get(PatientProfile, actor.user_id)
    if profile is None or profile.latitude is None or profile.longitude is None:
        raise PlaceNotFound(
            "We do not know where your home is on the map yet. Type a postal code, or check "
            "your address in your profile."
        )
    return profile.latitude, profile.longitude


def point_of(
    session: Session, *, place: str, settings: Settings, now: datetime
) -> tuple[float, float]:
    """A typed place ("M5V 2T6", "100 Queen St W, Toronto") or the browser's "lat,lng"."""
    found = _COORDS.match(place)
    if found:
        lat, lng = float(found.group(1)), float(found.group(2))
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return lat, lng
    text = place.strip()[:200]
    try:
        point = geocode_cached(session, address=text, settings=settings, now=now)
    except MapsUnavailable as exc:
        if exc.reason == "no server key":
            raise PlaceNotFound(
                "Searching near a typed place needs Google Maps, which this clinic has not set "
                "up. Search near your home instead."
            ) from None
        raise PlaceNotFound(
            "Maps is not answering right now. Try again in a moment, or search near your home."
        ) from None
    if point is None:
        raise PlaceNotFound(f"We could not find “{text}”. Try a postal code such as M5V 2T6.")
    return point.latitude, point.longitude


@waits_beyond_database(when=lambda call: call.get("place", "").strip() not in ("", HOME))
@reads_only
def find_doctors(
    session: Session,
    *,
    query: search.DoctorQuery,
    place: str,
    page: int,
    settings: Settings,
    now: datetime,
    actor: Actor | None = None,
) -> Page[search.DoctorCard]:
    """The doctor search, near `place` when one is given ("home", text or "lat,lng")."""
    if place.strip():
        near = (
            home_of(session, actor)
            if place == HOME
            else point_of(session, place=place, settings=settings, now=now)
        )
        query = replace(query, near=near)
    elif query.sort == "nearest" or query.within_km:
        raise PlaceNotFound("Choose near where: your home, a postal code or your location.")
    return search.search_doctors(session, query=query, page=page, now=now, settings=settings)
