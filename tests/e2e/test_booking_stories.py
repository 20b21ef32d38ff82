"""Booking stories in a real browser: the doctor publishes hours, a patient books, both see it,
the patient cancels, the time is free again; two patients race for one time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_PASSWORD
from tests.e2e.conftest import login

DOCTOR = "doctor2@demo.example.org"


def _first_free_time(page: Page, base_url: str, doctor_name: str, day: int = 1) -> str:
    """The first free time on the `day`-th day offered (day 1: not today, so beyond any notice)."""
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()  # loaded and interactive
    assert doctor_name.strip()
    page.fill("#name", doctor_name)
    page.click("#search-submit")
    card = page.locator(".doctor-card").filter(has_text=doctor_name)
    expect(card).to_have_count(1)
    card.get_by_role("link", name=re.compile("^See all times for")).click()
    expect(page.locator(".day-choice").nth(day)).to_be_visible()
    page.locator(".day-choice").nth(day).click()
    expect(page.locator(".time-choice").first).to_be_visible()
    label = page.locator(".time-choice").first.inner_text()
    page.locator(".time-choice").first.click()
    return label


def test_doctor_publishes_patient_books_both_see_it_patient_cancels(
    page: Page, base_url: str, browser: Browser
) -> None:
    login(page, base_url, DOCTOR, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/availability")
    for day in range(7):  # every day, so the story works on weekends too
        page.check(f"#day_{day}")
    page.fill("#start_1", "08:00")
    page.fill("#end_1", "20:00")
    page.fill("#start_2", "")
    page.fill("#end_2", "")
    page.fill("#slot_minutes", "30")
    page.fill("#valid_from", "2026-01-01")
    page.click("#template-submit")
    # Nothing changes before the doctor has seen what will.
    expect(page.locator("#template-change")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="open times added")).to_be_visible()
    page.click("#template-confirm")
    expect(page.get_by_text("Weekly hours saved")).to_be_visible()
    expect(page.get_by_text("08:00–20:00, 30 min").first).to_be_visible()
    page.goto(f"{base_url}/dashboard")
    expect(page.locator("#count-all")).not_to_have_text("0")  # this week's published slots
    expect(page.locator("#count-all")).to_have_text(re.compile(r"^\d+$"))
    welcome = page.locator("main strong").first
    expect(welcome).to_have_text(re.compile(r"\S"))  # the name has arrived from the server
    doctor_name = welcome.inner_text()

    patient = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(patient, base_url, "patient2@demo.example.org", DEMO_PASSWORD)
    expect(patient.locator("#page-heading")).to_have_text("Dashboard")
    label = _first_free_time(patient, base_url, doctor_name)
    # Nothing is chosen for the patient: what the visit is for is asked, not assumed.
    expect(patient.locator("#consultation_type")).to_have_value("")
    patient.select_option("#consultation_type", index=1)
    patient.check("#format-video")
    patient.fill("#reason", "Rash on my arm")
    patient.click("#book-submit")
    expect(patient.locator("#page-heading")).to_have_text("Dashboard")
    expect(patient.get_by_text("Your visit is booked for")).to_be_visible()
    visit = patient.locator(".visit-card").first
    expect(visit).to_contain_text("Video")
    expect(visit.get_by_role("link", name="Join the video visit")).to_have_attribute(
        "href", re.compile(r"^https://meet\.jit\.si/HealthApp-")
    )

    page.goto(f"{base_url}/dashboard")
    expect(page.locator(".visit-card").filter(has_text="Rash on my arm")).to_have_count(1)

    visit.get_by_role("button", name=re.compile("Cancel the visit on")).click()
    patient.fill("#reason", "Feeling better")
    patient.click("#cancel-submit")
    expect(patient.get_by_text("The visit was cancelled")).to_be_visible()
    expect(patient.locator("#no-visits")).to_be_visible()
    # It has its own list, not "Past visits", and its line reads apart.
    expect(patient.locator("#cancelled-visits")).to_contain_text(" with ")
    expect(patient.locator("#cancelled-visits")).to_contain_text("Cancelled")
    when = patient.locator("#cancelled-visits .past-visit").first.inner_text()
    expect(patient.locator("#past-visits .past-visit").filter(has_text=when)).to_have_count(0)
    # the time is offered again
    again = _first_free_time(patient, base_url, doctor_name)
    assert again == label
    patient.context.close()


def test_two_patients_race_for_one_time(page: Page, base_url: str, browser: Browser) -> None:
    other = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(page, base_url, "patient@demo.example.org", DEMO_PASSWORD)
    login(other, base_url, "patient3@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    expect(other.locator("#page-heading")).to_have_text("Dashboard")
    first = _first_free_time(page, base_url, "Amir Khan")
    second = _first_free_time(other, base_url, "Amir Khan")
    assert first == second
    for p in (page, other):
        p.select_option("#consultation_type", index=1)
        p.fill("#reason", "Check-up")
    page.click("#book-submit")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()
    other.click("#book-submit")
    expect(other.get_by_role("alert").first).to_contain_text("That time was just taken")
    # the loser sees refreshed times without the taken one
    expect(other.locator(".time-choice").first).not_to_have_text(first)
    other.context.close()


def test_the_patient_moves_then_cancels_from_the_visit_page(page: Page, base_url: str) -> None:
    """Before: the booking email said "see or cancel the visit" and linked to a page with
    neither. Moving keeps the visit (and its record); cancelling asks why."""
    login(page, base_url, "patient5@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    _first_free_time(page, base_url, "Amir Khan", day=3)
    page.select_option("#consultation_type", index=1)
    page.fill("#reason", "Knee pain after running")
    page.click("#book-submit")
    booked = page.get_by_text("Your visit is booked for")
    expect(booked).to_be_visible()
    when = booked.inner_text().removeprefix("Your visit is booked for ").rstrip(".")
    page.locator(".visit-card").filter(has_text=when).get_by_role(
        "link", name=re.compile("Details")
    ).click()
    expect(page.locator("#page-heading")).to_have_text("Visit details")

    page.click("#move-visit")
    expect(page.locator(".day-choice").nth(4)).to_be_visible()
    page.locator(".day-choice").nth(4).click()
    later = page.locator(".time-choice").first
    expect(later).to_be_visible()
    later.click()
    page.click("#book-submit")
    moved = page.get_by_text("Your visit was moved to")
    expect(moved).to_be_visible()
    new_when = moved.inner_text().removeprefix("Your visit was moved to ").rstrip(".")
    expect(page.locator(".visit-card").filter(has_text=when)).to_have_count(0)
    page.locator(".visit-card").filter(has_text=new_when).get_by_role(
        "link", name=re.compile("Details")
    ).click()
    expect(page.locator("#page-heading")).to_have_text("Visit details")
    page.click("#cancel-visit")
    page.fill("#cancel_reason", "Feeling better")
    page.click("#cancel-visit-submit")
    expect(page.locator("#visit-status")).to_have_text("Cancelled")
    expect(page.locator("#cancel-visit")).to_have_count(0)


def test_a_patient_books_a_time_shown_on_the_search_page(page: Page, base_url: str) -> None:
    """From the results, a time is one click; then what the visit is for, and book."""
    login(page, base_url, "patient6@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/find")
    card = page.locator(".doctor-card").first
    expect(card).to_contain_text("Toronto time")  # the zone in words
    times = card.locator("a.next-time")
    expect(times.first).to_be_visible()
    picked = times.nth(1).inner_text()
    times.nth(1).click()
    expect(page.locator("#chosen-time")).to_contain_text(picked.split(", ")[1])
    page.select_option("#consultation_type", index=1)
    page.fill("#reason", "Booked from the search page")
    page.click("#book-submit")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()


def test_anyone_finds_the_doctors_free_on_a_chosen_day(page: Page, base_url: str) -> None:
    """The day filter: every card's times are on that day (the demo hours are Mon-Fri)."""
    day = (datetime.now(UTC).astimezone(ZoneInfo("America/Toronto")) + timedelta(days=1)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()
    page.fill("#on", day.isoformat())
    page.click("#search-submit")
    first_time = page.locator(".doctor-card").first.locator("a.next-time").first
    expect(first_time).to_contain_text(f"{day.day} {day:%b}")
    expect(page.locator("#on-error")).to_have_text("")
