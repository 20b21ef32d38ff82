"""Google Maps through the real googlemaps client against the local stand-in, on SQLite
and PostgreSQL: geocoding after save, the answers that are not results, the pharmacy
finder, doctors near a typed place, and every path without a key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import PatientProfile, User
from health_app.services.accounts import registration
from health_app.services.errors import DomainError
from health_app.services.maps import geocoding, near, pharmacies
from health_app.services.maps.google import GoogleMaps, MapsUnavailable, maps_for
from health_app.services.scheduling import search
from health_app.services.views import Actor
from tests.factories import patient_form
from tests.integration.maps_standin import (
    SERVER_KEY,
    TORONTO_PHARMACIES,
    MapsStandIn,
    RunningMapsStandIn,
)
from tests.services.scheduling_helpers import open_day, people

HOME = (43.6480, -79.3880)  # downtown Toronto


@pytest.fixture(scope="module")
def running() -> Iterator[MapsStandIn]:
    server = RunningMapsStandIn()
    server.state.places = list(TORONTO_PHARMACIES)
    yield server.state
    server.stop()


@pytest.fixture
def standin(running: MapsStandIn) -> MapsStandIn:
    running.reset()
    return running


@pytest.fixture
def maps(settings: Settings, standin: MapsStandIn) -> Settings:
    return replace(
        settings,
        google_maps_server_key=SERVER_KEY,
        google_maps_base_url=standin.base,
        google_maps_retry_timeout_seconds=1,
        google_maps_timeout_seconds=3,
    )


def test_geocoding_answers_and_caches(
    session: Session, maps: Settings, standin: MapsStandIn, now: datetime
) -> None:
    standin.add_address("1 Yonge St, Toronto, ON M5E 1E5", 43.6426, -79.3763)
    point = geocoding.geocode_cached(
        session, address="1 Yonge St,  Toronto, ON M5E 1E5", settings=maps, now=now
    )
    assert point is not None and (point.latitude, point.longitude) == (43.6426, -79.3763)
    unknown = geocoding.geocode_cached(session, address="Nowhere 99", settings=maps, now=now)
    assert unknown is None
    asked = len(standin.calls_to("geocode"))
    # Asked again (spacing and case aside): the cache answers, Google is not asked.
    geocoding.geocode_cached(
        session, address="1 yonge st, toronto, on m5e 1e5", settings=maps, now=now
    )
    geocoding.geocode_cached(session, address="Nowhere 99", settings=maps, now=now)
    assert len(standin.calls_to("geocode")) == asked == 2


@pytest.mark.parametrize(
    ("answer", "reason"),
    [("OVER_QUERY_LIMIT", "query limit"), ("REQUEST_DENIED", "request denied")],
)
def test_refusals_become_a_clear_result_and_nothing_is_cached(
    session: Session, maps: Settings, standin: MapsStandIn, now: datetime, answer: str, reason: str
) -> None:
    standin.add_address("2 Bloor St W, Toronto", 43.67, -79.39)
    standin.next_answers.extend([answer] * 20)  # the client retries the query limit itself
    with pytest.raises(MapsUnavailable) as refused:
        geocoding.geocode_cached(session, address="2 Bloor St W, Toronto", settings=maps, now=now)
    assert reason in refused.value.reason
    standin.next_answers.clear()
    point = geocoding.geocode_cached(
        session, address="2 Bloor St W, Toronto", settings=maps, now=now
    )
    assert point is not None


def test_a_500_then_ok_is_retried_by_the_client(maps: Settings, standin: MapsStandIn) -> None:
    standin.add_address("3 Front St, Toronto", 43.64, -79.38)
    standin.next_answers.append(500)
    point = GoogleMaps(maps).geocode("3 Front St, Toronto")
    assert point is not None and len(standin.calls_to("geocode")) == 2


def test_the_server_key_never_reaches_a_log_line(
    maps: Settings, standin: MapsStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The app's logging setup (run when an earlier test imported the app) quiets urllib3.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    standin.next_answers.append("REQUEST_DENIED")
    with pytest.raises(MapsUnavailable):
        GoogleMaps(maps).geocode("4 King St, Toronto")
    GoogleMaps(maps).geocode("4 King St, Toronto")
    assert "/maps/api/geocode/json" in caplog.text  # the request lines were logged...
    assert SERVER_KEY not in caplog.text  # ...without the key


def _registered(
    session: Session, settings: Settings, now: datetime, email: str, line: str = "10 Dundas St E"
) -> PatientProfile:
    form = patient_form(email=email, address_line=line, city="Toronto", postal_code="M5B 2G9")
    registration.register_patient(session, form=form, settings=settings, now=now)
    session.commit()
    user = session.exec(select(User).where(User.email == email)).one()
    profile = session.get(PatientProfile, user.id)
    assert profile is not None
    return profile


def test_registration_works_with_maps_down_and_the_address_is_placed_later(
    engine: Engine, session: Session, maps: Settings, standin: MapsStandIn, now: datetime
) -> None:
    standin.next_answers.extend([500] * 50)  # Google failing throughout the registration
    profile = _registered(session, maps, now, "newcomer@example.com")
    assert profile.geo_status == "pending" and profile.latitude is None
    assert standin.calls_to("geocode") == []  # nothing was asked inside the request
    report = geocoding.geocode_pending(engine, maps, now=now)
    assert report.unavailable == 1 and report.found == 0
    standin.next_answers.clear()
    standin.add_address(geocoding.address_of(profile), 43.6561, -79.3802)
    report = geocoding.geocode_pending(engine, maps, now=now)
    assert report.found == 1
    session.commit()
    session.expire_all()
    placed = session.get(PatientProfile, profile.user_id)
    assert placed is not None and placed.geo_status == "found" and placed.geo_source == "geocoded"
    assert (placed.latitude, placed.longitude) == (43.6561, -79.3802) and placed.geo_at


def test_an_address_google_cannot_find_is_kept_as_text_and_can_be_pinned(
    engine: Engine, session: Session, maps: Settings, now: datetime
) -> None:
    profile = _registered(session, maps, now, "lost@example.com", line="999 Imaginary Rd")
    assert geocoding.geocode_pending(engine, maps, now=now).not_found == 1
    session.commit()
    session.expire_all()
    row = session.get(PatientProfile, profile.user_id)
    assert row is not None and row.geo_status == "not_found" and row.address_line
    actor = Actor(user_id=row.user_id, role="patient", display_name="x")
    geocoding.place_pin(session, actor=actor, latitude=43.65, longitude=-79.38, now=now)
    session.commit()
    assert (row.geo_source, row.geo_status, row.latitude) == ("pin", "found", 43.65)
    with pytest.raises(DomainError):
        geocoding.place_pin(session, actor=actor, latitude=123, longitude=0, now=now)


def test_without_a_server_key_nothing_is_asked_and_people_are_told(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    assert maps_for(settings) is None
    _registered(session, settings, now, "nokey@example.com")
    assert geocoding.geocode_pending(engine, settings, now=now) == geocoding.GeocodeReport()
    with pytest.raises(near.PlaceNotFound, match="not set up"):
        near.point_of(session, place="M5V 2T6", settings=settings, now=now)
    _, [patient, *_] = people(session, settings, now, doctors=1, patients=1)
    finder = pharmacies.find_pharmacies(session, actor=patient, settings=settings, now=now)
    assert not finder.available and finder.options == ()
    with pytest.raises(DomainError, match="not set up"):
        pharmacies.choose_pharmacy(
            session, actor=patient, place_id="ph-queen", settings=settings, now=now
        )


def test_the_pharmacy_finder_lists_nearby_pharmacies_only_and_saves_the_choice(
    session: Session, maps: Settings, now: datetime
) -> None:
    _, [patient, *_] = people(session, maps, now, doctors=1, patients=1)
    home = session.get(PatientProfile, patient.user_id)
    assert home is not None
    home.latitude, home.longitude = HOME
    session.add(home)
    session.commit()
    finder = pharmacies.find_pharmacies(session, actor=patient, settings=maps, now=now)
    names = [o.name for o in finder.options]
    # Within 5 km, nearest first; the far one and the convenience store are not offered.
    assert names == ["Queen Street Pharmacy", "King West Drugs"]
    assert finder.options[0].distance_km < finder.options[1].distance_km
    name = pharmacies.choose_pharmacy(
        session, actor=patient, place_id="ph-king", settings=maps, now=now
    )
    session.commit()
    assert name == "King West Drugs"
    session.refresh(home)
    assert (home.pharmacy_name, home.pharmacy_place_id) == ("King West Drugs", "ph-king")
    assert home.pharmacy_address == "400 King St W, Toronto" and home.pharmacy_phone
    for wrong in ("st-corner", "made-up-id", ""):
        with pytest.raises(DomainError):
            pharmacies.choose_pharmacy(
                session, actor=patient, place_id=wrong, settings=maps, now=now
            )
    session.rollback()


def test_a_doctor_cannot_use_the_pharmacy_finder(
    session: Session, maps: Settings, now: datetime
) -> None:
    [doctor], _ = people(session, maps, now, doctors=1, patients=1)
    with pytest.raises(DomainError):
        pharmacies.find_pharmacies(session, actor=doctor, settings=maps, now=now)


def test_doctors_near_a_typed_postal_code(
    session: Session, maps: Settings, standin: MapsStandIn, now: datetime
) -> None:
    doctors, _ = people(session, maps, now, doctors=3, patients=1)
    for d in doctors:
        open_day(session, d, now, now.date() + timedelta(days=1))
    standin.add_address("M5V 2T6", 43.6426, -79.3871)
    page = near.find_doctors(
        session,
        query=search.DoctorQuery(within_km=50, sort="nearest"),
        place="M5V 2T6",
        page=1,
        settings=maps,
        now=now,
    )
    distances = [c.distance_km for c in page.items]
    assert distances and all(d is not None for d in distances)
    assert distances == sorted(distances)  # type: ignore[type-var]
    with pytest.raises(near.PlaceNotFound, match="could not find"):
        near.find_doctors(
            session, query=search.DoctorQuery(), place="Atlantis", page=1, settings=maps, now=now
        )
    assert len(page.items) == len(doctors)
