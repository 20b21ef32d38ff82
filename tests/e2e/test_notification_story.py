"""Notifications in a real browser: a booking sends a confirmation with a calendar file
(seen in the development mailbox), the doctor sees the visit's messages and reminder
states, the admin has a page for failed messages."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_ADMIN, DEMO_DOCTOR, DEMO_PASSWORD
from tests.e2e.conftest import login
from tests.e2e.test_booking_stories import _first_free_time

PATIENT = "patient4@demo.example.org"  # used by no other story
REASON = "Blood pressure review"


def test_booking_confirmation_with_ics_reaches_the_mailbox(
    page: Page, base_url: str, browser: Browser
) -> None:
    login(page, base_url, PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    _first_free_time(page, base_url, "Amir Khan", day=2)
    page.select_option("#consultation_type", index=1)
    page.fill("#reason", REASON)
    page.click("#book-submit")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()

    page.goto(f"{base_url}/dev/mailbox")
    page.fill("#recipient", PATIENT)
    page.get_by_role("button", name="Filter").click()
    confirmation = page.locator(".mail-message").filter(has=page.locator(".mail-attachment"))
    for _ in range(15):  # the scheduler sends in the background; refresh until it arrives
        if confirmation.count():
            break
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Refresh").click()
    expect(confirmation.first).to_be_visible()
    expect(confirmation.first).to_contain_text("visit.ics")
    expect(confirmation.first).not_to_contain_text(REASON)  # no clinical detail in mail
    with page.expect_download() as download:
        confirmation.first.get_by_role("button", name=re.compile("Download the attachment")).click()
    ics = download.value.path().read_text()
    assert "BEGIN:VCALENDAR" in ics and "BEGIN:VEVENT" in ics and "DTSTART" in ics

    doctor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(doctor, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(doctor.locator("#page-heading")).to_have_text("Dashboard")
    card = doctor.locator(".visit-card").filter(has_text=REASON)
    expect(card).to_have_count(1)
    card.get_by_role("link", name=re.compile("Details")).click()
    expect(doctor.locator("#messages")).to_be_visible()
    rows = doctor.locator(".visit-message")
    expect(rows.filter(has_text="Booking confirmation").first).to_be_visible()
    expect(rows.filter(has_text="Reminder 24 hours before").first).to_contain_text("due")
    expect(rows.filter(has_text="Reminder 15 minutes before").first).to_contain_text("due")
    doctor.context.close()

    admin = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(admin, base_url, DEMO_ADMIN, DEMO_PASSWORD)
    expect(admin.locator("#page-heading")).to_have_text("Dashboard")
    admin.goto(f"{base_url}/admin/messages")
    expect(admin.locator("#page-heading")).to_have_text("Failed messages")
    expect(admin.locator("#no-failed-messages, table").first).to_be_visible()
    admin.context.close()
