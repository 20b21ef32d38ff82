"""Maps in a real browser: a patient picks a pharmacy near home and sees it on the
dashboard; a patient finds the nearest doctor with a free time this week."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect
from sqlmodel import select

from health_app import db
from health_app.dev.demo import DEMO_PASSWORD
from health_app.models import DoctorProfile, PatientProfile, Slot, User
from tests.e2e.conftest import login
from tests.integration.maps_standin import MapsStandIn, Spot

PATIENT = "patient9@demo.example.org"
TORONTO = ZoneInfo("America/Toronto")


def _home() -> tuple[float, float]:
    with db.session_scope() as session:
        user = session.exec(select(User).where(User.email == PATIENT)).one()
        profile = session.get(PatientProfile, user.id)
        assert profile is not None and profile.latitude is not None
        assert profile.longitude is not None
        return profile.latitude, profile.longitude


def test_a_patient_picks_a_pharmacy_near_home_and_sees_it_on_the_dashboard(
    page: Page, base_url: str, maps: MapsStandIn
) -> None:
    lat, lng = _home()
    maps.places = [
        Spot("ph-near", "Lakeshore Pharmacy", "12 Lake St, Toronto", lat + 0.004, lng),
        Spot("ph-next", "Main Street Drugs", "300 Main St, Toronto", lat + 0.02, lng + 0.01),
        Spot(
            "st-shop",
            "Corner Shop",
            "1 Side St, Toronto",
            lat,
            lng + 0.003,
            types=("convenience_store", "store"),
        ),
        Spot("ph-far", "Far Away Pharmacy", "9 Remote Rd", lat + 0.5, lng),
    ]
    login(page, base_url, PATIENT, DEMO_PASSWORD)
    expect(page.locator("#pharmacy-banner")).to_be_visible()
    page.get_by_role("link", name="Find a pharmacy near you").click()
    expect(page.locator("#page-heading")).to_have_text("Find a pharmacy")
    options = page.locator(".pharmacy-option")
    expect(options).to_have_count(2)  # the shop and the far one are not offered
    expect(options.first).to_contain_text("Lakeshore Pharmacy")
    expect(options.first).to_contain_text("0.4 km from your home")
    expect(page.locator("iframe[title='Pharmacies near your home']")).to_have_count(1)
    page.get_by_role("button", name="Choose Main Street Drugs").click()
    expect(page.get_by_text("Main Street Drugs will receive your prescriptions")).to_be_visible()
    expect(options.nth(1)).to_contain_text("Your pharmacy")
    page.goto(f"{base_url}/dashboard")
    expect(page.locator("#dashboard-pharmacy")).to_contain_text("Main Street Drugs")
    expect(page.locator("#pharmacy-banner")).to_have_count(0)
    page.goto(f"{base_url}/profile")
    expect(page.locator("#pharmacy_name")).to_have_value("Main Street Drugs")


def _end_of_week(now: datetime) -> datetime:
    today = now.astimezone(TORONTO).date()
    sunday = today + timedelta(days=6 - today.weekday())
    return datetime.combine(sunday + timedelta(days=1), time(0), tzinfo=TORONTO)


def _nearest_with_free_time(home: tuple[float, float], until: datetime) -> str | None:
    found = _nearest(home, until)
    return found[1] if found else None


def _nearest(home: tuple[float, float], until: datetime) -> tuple[float, str] | None:
    """Computed here apart from the app: the nearest doctor with an open time before `until`."""
    now = datetime.now(UTC)
    best: tuple[float, str] | None = None
    with db.session_scope() as session:
        for profile, user in session.exec(
            select(DoctorProfile, User).where(
                DoctorProfile.user_id == User.id,
                DoctorProfile.approval_status == "approved",
                User.deactivated_at == None,  # noqa: E711 (SQL NULL)
            )
        ).all():
            free = session.exec(
                select(Slot.id).where(
                    Slot.doctor_id == profile.user_id,
                    Slot.status == "open",
                    Slot.starts_at > now,
                    Slot.starts_at < until,
                )
            ).first()
            km = db.geo_km(home[0], home[1], profile.latitude, profile.longitude)
            if free is not None and km is not None and (best is None or km < best[0]):
                best = (km, user.last_name)
    return best


def test_a_patient_finds_the_nearest_doctor_with_a_free_time_this_week(
    page: Page, base_url: str
) -> None:
    home = _home()
    until = _end_of_week(datetime.now(UTC))
    expected = _nearest_with_free_time(home, until)
    login(page, base_url, PATIENT, DEMO_PASSWORD)
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()
    # Searching from home is the default for a patient: every card says how far.
    expect(page.locator("#near_home")).to_be_checked()
    expect(page.locator(".doctor-card .distance").first).to_contain_text("km away")
    page.select_option("#within", "week")
    page.select_option("#sort", "nearest")
    page.click("#search-submit")
    expect(page.locator("#result-count")).to_contain_text("nearest first")
    if expected is None:  # nobody has a free time left this week (late on a Sunday)
        expect(page.locator("#no-results")).to_be_visible()
        return
    first = page.locator(".doctor-card").first
    expect(first).to_contain_text(expected)
    expect(first.locator(".next-time").first).to_be_visible()
    distances = [
        float(re.sub(r"[^0-9.]", "", t))
        for t in page.locator(".doctor-card .distance").all_inner_texts()
    ]
    assert distances == sorted(distances)
    expect(first.locator("iframe")).to_have_attribute("src", re.compile("openstreetmap"))


def test_use_my_location_searches_from_where_the_browser_is(page: Page, base_url: str) -> None:
    """Asked only on the click; the position becomes the search's place."""
    scarborough = {"latitude": 43.7731, "longitude": -79.2578}
    page.context.grant_permissions(["geolocation"], origin=base_url)
    page.context.set_geolocation(scarborough)
    login(page, base_url, PATIENT, DEMO_PASSWORD)
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()
    page.uncheck("#near_home")
    page.select_option("#sort", "nearest")
    page.click("#locate")
    expect(page.locator("#place")).to_have_value("43.77310,-79.25780")
    expect(page.locator("#result-count")).to_contain_text("nearest first")
    with db.session_scope() as session:
        placed = [
            db.geo_km(43.7731, -79.2578, d.latitude, d.longitude)
            for d in session.exec(select(DoctorProfile)).all()
        ]
    nearest = min(km for km in placed if km is not None)
    expect(page.locator(".doctor-card .distance").first).to_have_text(f"{nearest:.1f} km away")
