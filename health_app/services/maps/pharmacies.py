"""The pharmacy finder: pharmacies near the patient's home, one chosen for prescriptions.

The choice is re-read from Google by its place id when saved (the browser sends only the
id), so what is stored is Google's name, address and phone for a real pharmacy, never
text the browser made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from health_app.config import Settings
from health_app.db import geo_km, reads_only, waits_beyond_database
from health_app.models import Outcome, PatientProfile, Role
from health_app.services import audit
from health_app.services.errors import DomainError
from health_app.services.maps.google import MapsUnavailable, maps_for
from health_app.services.views import Actor

SHOWN = 20
NOT_SET_UP = (
    "The pharmacy finder needs Google Maps, which this clinic has not set up. Type your "
    "pharmacy in your profile instead."
)
DOWN = "Maps is not answering right now. Try again in a moment, or type your pharmacy instead."


@dataclass(frozen=True)
class PharmacyOption:
    place_id: str
    name: str
    address: str
    distance_km: float
    latitude: float
    longitude: float


@dataclass(frozen=True)
class PharmacyFinder:
    available: bool  # Maps set up
    home_known: bool
    home: tuple[float, float] | None
    options: tuple[PharmacyOption, ...]
    chosen_place_id: str
    radius_km: float


def _patient(session: Session, actor: Actor, *, action: str, now: datetime) -> PatientProfile:
    row = session.get(PatientProfile, actor.user_id) if actor.role == Role.PATIENT else None
    if row is None:
        raise audit.deny(session, actor=actor, action=action, now=now, object_type="user")
    return row


@waits_beyond_database()  # Google Maps
@reads_only
def find_pharmacies(
    session: Session, *, actor: Actor, settings: Settings, now: datetime
) -> PharmacyFinder:
    """Pharmacies within PHARMACY_RADIUS_METERS of the patient's home, nearest first."""
    p = _patient(session, actor, action="pharmacy.find", now=now)
    home = (p.latitude, p.longitude) if p.latitude is not None and p.longitude is not None else None
    radius_km = settings.pharmacy_radius_meters / 1000
    maps = maps_for(settings)
    if maps is None or home is None:
        return PharmacyFinder(
            maps is not None, home is not None, home, (), p.pharmacy_place_id, radius_km
        )
    try:
        places = maps.pharmacies_near(home[0], home[1], settings.pharmacy_radius_meters)
    except MapsUnavailable:
        raise DomainError(DOWN) from None
    options = sorted(
        (
            PharmacyOption(
                place_id=pl.place_id,
                name=pl.name,
                address=pl.address,
                distance_km=round(geo_km(home[0], home[1], pl.latitude, pl.longitude) or 0.0, 1),
                latitude=pl.latitude,
                longitude=pl.longitude,
            )
            for pl in places
            if pl.place_id
        ),
        key=lambda o: o.distance_km,
    )[:SHOWN]
    return PharmacyFinder(True, True, home, tuple(options), p.pharmacy_place_id, radius_km)


def choose_pharmacy(
    session: Session, *, actor: Actor, place_id: str, settings: Settings, now: datetime
) -> str:
    """Save the pharmacy Google knows by `place_id`; returns its name."""
    p = _patient(session, actor, action="pharmacy.choose", now=now)
    maps = maps_for(settings)
    if maps is None:
        raise DomainError(NOT_SET_UP)
    try:
        place = maps.place(place_id.strip()[:300]) if place_id.strip() else None
    except MapsUnavailable:
        raise DomainError(DOWN) from None
    if place is None or "pharmacy" not in place.types:
        raise DomainError(
            "That pharmacy could not be found. Search again and pick one from the list."
        )
    p.pharmacy_name, p.pharmacy_address = place.name, place.address
    p.pharmacy_phone, p.pharmacy_place_id = place.phone, place.place_id
    session.add(p)
    audit.record(
        session,
        action="profile.pharmacy",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="user",
        object_id=actor.user_id,
        subject_id=actor.user_id,
        detail="picked on the map",
    )
    return place.name
