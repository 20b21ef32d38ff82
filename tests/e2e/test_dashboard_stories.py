"""Dashboards in a real browser: the doctor's day, filters, weekly chart and quick action;
the patient's pharmacy banner, which leads to the profile and goes away once one is chosen."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from health_app.dev.demo import DEMO_DOCTOR, DEMO_PASSWORD
from tests.e2e.conftest import STARTED_VISIT_REASON, login


def test_doctor_sees_today_first_filters_and_opens_tomorrow(page: Page, base_url: str) -> None:
    login(page, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(page.locator("#day-heading")).to_have_text(re.compile(r"^Today, "))
    today = page.locator(".visit-card").filter(has_text=STARTED_VISIT_REASON)
    expect(today).to_have_count(1)
    with_whom = today.get_by_text(re.compile(r"^With ")).inner_text()
    last_name = with_whom.removeprefix("With ").split()[-1]
    # Lists carry names, never identifiers.
    expect(page.get_by_text("Health card")).to_have_count(0)
    expect(page.locator("#week-chart tbody tr")).to_have_count(8)

    page.fill("#patient", last_name.lower())
    page.click("#filter-submit")
    expect(page.locator("#filter-clear")).to_be_visible()
    cards = page.locator(".visit-card")
    expect(cards.filter(has_text=STARTED_VISIT_REASON)).to_have_count(1)
    for i in range(cards.count()):
        expect(cards.nth(i)).to_contain_text(last_name)

    page.fill("#patient", "Nobody-by-this-name")
    page.click("#filter-submit")
    expect(page.locator("#no-day-visits")).to_be_visible()
    expect(page.locator(".visit-card")).to_have_count(0)

    page.click("#filter-clear")
    expect(page.locator(".visit-card").filter(has_text=STARTED_VISIT_REASON)).to_have_count(1)

    page.fill("#day", "2031-01-01")
    page.click("#filter-submit")
    expect(page.locator("#day-error")).to_contain_text("within a year")

    page.click("#open-tomorrow")
    expect(page.get_by_text(re.compile(r"slots opened for tomorrow|already open"))).to_be_visible()


def test_patient_without_pharmacy_is_led_to_choose_one(page: Page, base_url: str) -> None:
    login(page, base_url, "patient3@demo.example.org", DEMO_PASSWORD)
    banner = page.locator("#pharmacy-banner")
    expect(banner).to_be_visible()
    banner.get_by_role("link", name="Find a pharmacy near you").click()
    expect(page.locator("#page-heading")).to_have_text("Find a pharmacy")
    # Typing it by hand stays possible, from the finder.
    page.get_by_role("link", name="type your pharmacy in your profile").first.click()
    expect(page.locator("#page-heading")).to_have_text("Your profile")
    expect(page.locator("#pharmacy_name")).to_be_visible()
    page.fill("#pharmacy_phone", "12")
    page.click("#pharmacy-save")
    expect(page.locator("#pharmacy_name-error")).to_be_visible()
    page.fill("#pharmacy_name", "Queen Street Pharmacy")
    page.fill("#pharmacy_address", "200 Queen St W, Toronto")
    page.fill("#pharmacy_phone", "416-555-0142")
    page.click("#pharmacy-save")
    expect(page.get_by_text("Your pharmacy was saved.")).to_be_visible()
    page.goto(f"{base_url}/dashboard")
    expect(page.locator(".visit-card, #no-visits").first).to_be_visible()
    expect(page.locator("#pharmacy-banner")).to_have_count(0)
    expect(page.locator("#dashboard-pharmacy")).to_contain_text("Queen Street Pharmacy")
