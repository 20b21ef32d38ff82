"""Where patients live and clinics are: geocoded after saving, never inside the request.

Saving an address (registration, a doctor's application, a profile edit) only marks it
`pending`; the scheduler's tick geocodes pending addresses in the background, through a
cache (an address is asked about once). Registration therefore works with Maps down,
slow or refusing. An address Google cannot find stays as text, `not_found`, with a notice
on the profile; the person can correct it or place a pin themselves. Coordinates keep
their source (geocoded, pin, demo) and time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import in_read_scope, waits_beyond_database, write_after_read, writer
from health_app.models import DoctorProfile, GeocodeCache, Outcome, PatientProfile, Role
from health_app.services import audit
from health_app.services.errors import DomainError
from health_app.services.maps.google import MapsUnavailable, Point, maps_for
from health_app.services.views import Actor

log = logging.getLogger(__name__)

PENDING, FOUND, NOT_FOUND = "pending", "found", "not_found"
GEOCODED, PIN, DEMO = "geocoded", "pin", "demo"
BATCH = 50

Located = PatientProfile | DoctorProfile


def address_of(row: Located) -> str:
    """The one-line address Google is asked about (a clinic's for doctors)."""
    if isinstance(row, PatientProfile):
        parts = (row.address_line, row.city, f"{row.province} {row.postal_code}")
    else:
        parts = (
            row.clinic_address_line,
            row.clinic_city,
            f"{row.clinic_province} {row.clinic_postal_code}",
        )
    return ", ".join(p.strip() for p in parts if p.strip())


def cache_key(address: str) -> str:
    return hashlib.sha256(" ".join(address.lower().split()).encode()).hexdigest()


def address_changed(row: Located) -> None:
    """Called when an address is saved: old coordinates no longer hold; look it up again."""
    row.latitude = row.longitude = None
    row.geo_source, row.geo_status, row.geo_at = "", PENDING, None


def geocode_cached(
    session: Session, *, address: str, settings: Settings, now: datetime
) -> Point | None:
    """The address's point (None: Google knows no such place). Raises MapsUnavailable
    without a server key or when Google does not answer; only answers are cached."""
    key = cache_key(address)
    hit = session.get(GeocodeCache, key)
    if hit is not None:
        if not hit.found or hit.latitude is None or hit.longitude is None:
            return None
        return Point(hit.latitude, hit.longitude, hit.place_id)
    maps = maps_for(settings)
    if maps is None:
        raise MapsUnavailable("no server key")
    point = maps.geocode(address)
    answer = GeocodeCache(
        key=key,
        found=point is not None,
        latitude=point.latitude if point else None,
        longitude=point.longitude if point else None,
        place_id=point.place_id if point else "",
        fetched_at=now,
    )
    if in_read_scope(session):
        write_after_read(session, answer)  # a search near a typed place
    else:
        session.merge(answer)
    return point


@dataclass
class GeocodeReport:
    found: int = 0
    not_found: int = 0
    unavailable: int = 0


def geocode_pending(engine: Engine, settings: Settings, *, now: datetime) -> GeocodeReport:
    """Geocode up to BATCH pending addresses (the scheduler's tick). Google is asked outside
    any transaction; a result is written only if the address is still the one asked about."""
    report = GeocodeReport()
    if not settings.maps_enabled:
        return report
    with Session(engine) as session:
        todo: list[tuple[type[Located], int, str]] = []
        for model in (PatientProfile, DoctorProfile):
            rows = session.exec(
                select(model).where(col(model.geo_status) == PENDING).limit(BATCH)
            ).all()
            todo += [(model, r.user_id, address_of(r)) for r in rows]
    for model, user_id, address in todo[:BATCH]:
        with Session(writer(engine)) as session:
            try:
                point = geocode_cached(session, address=address, settings=settings, now=now)
            except MapsUnavailable as exc:
                report.unavailable += 1
                log.warning("geocoding postponed: %s", exc.reason)
                break  # Google is not answering: the next tick tries again
            row = session.get(model, user_id)
            if row is None or row.geo_status != PENDING or address_of(row) != address:
                session.commit()  # keep the cache entry; the address changed meanwhile
                continue
            if point is None:
                row.geo_status, row.geo_at = NOT_FOUND, now
                report.not_found += 1
            else:
                row.latitude, row.longitude = point.latitude, point.longitude
                row.geo_source, row.geo_status, row.geo_at = GEOCODED, FOUND, now
                report.found += 1
            session.add(row)
            session.commit()
    return report


def _own_location(session: Session, actor: Actor) -> Located:
    model: Any = PatientProfile if actor.role == Role.PATIENT else DoctorProfile
    row = session.get(model, actor.user_id) if actor.role in (Role.PATIENT, Role.DOCTOR) else None
    if row is None:
        raise DomainError("Only patients and doctors have an address on the map.")
    return row


@waits_beyond_database()  # Google Maps
def place_pin(
    session: Session, *, actor: Actor, latitude: float, longitude: float, now: datetime
) -> None:
    """The person says where their home (a doctor: their clinic) is, over the geocoder."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DomainError("That is not a place on Earth: latitude -90..90, longitude -180..180.")
    row = _own_location(session, actor)
    row.latitude, row.longitude = round(latitude, 6), round(longitude, 6)
    row.geo_source, row.geo_status, row.geo_at = PIN, FOUND, now
    session.add(row)
    audit.record(
        session,
        action="profile.pin",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="user",
        object_id=actor.user_id,
        subject_id=actor.user_id,
    )


@dataclass(frozen=True)
class LocationView:
    status: str  # "", "pending", "found", "not_found"
    source: str  # "", "geocoded", "pin", "demo"
    latitude: float | None
    longitude: float | None
    at: datetime | None


def location_view(row: Located) -> LocationView:
    return LocationView(row.geo_status, row.geo_source, row.latitude, row.longitude, row.geo_at)
