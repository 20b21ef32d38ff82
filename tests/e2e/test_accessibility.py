"""WCAG 2.2 AA, measured: axe-core on every page, for every role, on a phone and on a
desk-sized screen, and in dark mode. Any serious or critical finding fails the story,
with where it is."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_PASSWORD
from tests.e2e.conftest import axe_violations, login
from tests.e2e.test_page_tour import PUBLIC, SIGNED_IN

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
# The theme follows the system's light or dark preference, so both are measured.
SCREENS: dict[str, tuple[dict[str, int], Literal["light", "dark"]]] = {
    "phone": (PHONE, "light"),
    "desk": (DESK, "light"),
    "phone-dark": (PHONE, "dark"),
}


def _record(page: Page, where: str, problems: list[str]) -> None:
    expect(page.locator("h1").first).to_be_visible()
    page.wait_for_timeout(300)  # the data the page loaded is on screen
    for v in axe_violations(page):
        problems.append(f"{where}: {v['id']} ({v['impact']}, {v['count']}x) {v['nodes']}")


def _check(page: Page, base_url: str, paths: list[str], role: str) -> list[str]:
    problems: list[str] = []
    for path in paths:
        page.goto(f"{base_url}{path}")
        _record(page, path, problems)
    if role in ("", "patient"):
        # A doctor's page with the calendar, and the times of a chosen day.
        page.goto(f"{base_url}/find")
        page.locator(".doctor-card").first.get_by_role(
            "link", name=re.compile("^See all times for")
        ).click()
        page.locator(".day-choice").first.click()
        _record(page, "/doctor (a day chosen)", problems)
    if role in ("patient", "doctor"):
        page.goto(f"{base_url}/dashboard")
        details = page.get_by_role("link", name=re.compile("Details of the visit")).first
        details.click()
        expect(page.locator("#page-heading")).to_have_text("Visit details")
        _record(page, "/visit", problems)
        page.goto(page.url.replace("/visit", "/visit/print"))
        _record(page, "/visit/print", problems)
    return problems


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("email", ["", *SIGNED_IN], ids=["anonymous", "patient", "doctor", "admin"])
def test_every_page_passes_axe(browser: Browser, base_url: str, screen: str, email: str) -> None:
    viewport, scheme = SCREENS[screen]
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        if email:
            login(page, base_url, email, DEMO_PASSWORD)
            expect(page.locator("#page-heading")).to_have_text("Dashboard")
        role = {
            "": "",
            **{e: r for e, r in zip(SIGNED_IN, ("patient", "doctor", "admin"), strict=True)},
        }
        problems = _check(page, base_url, SIGNED_IN[email] if email else PUBLIC, role[email])
    finally:
        context.close()
    assert problems == [], "\n".join(problems)


def _focused(page: Page) -> dict[str, str]:
    return page.evaluate(
        """() => { const e = document.activeElement; return {
            id: e?.id ?? '', cls: e?.className?.toString() ?? '', tag: e?.tagName ?? '',
            text: (e?.innerText ?? '').trim().slice(0, 80),
            label: e?.getAttribute('aria-label') ?? '' }; }"""
    )


def _tab_to(page: Page, wanted: str, *, limit: int = 80) -> int:
    """Press Tab until the focused element's id, class, text or label contains `wanted`."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if any(wanted in value for value in _focused(page).values()):
            return presses
    raise AssertionError(f"{wanted!r} never took focus in {limit} Tab presses")


def test_a_patient_books_with_the_keyboard_alone(page: Page, base_url: str) -> None:
    """Tab, arrows and Enter only, from the search page to the booked visit; the focus and
    what a screen reader hears are checked at each step."""
    login(page, base_url, "patient1@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()
    tabs = _tab_to(page, "See all times for")
    page.keyboard.press("Enter")
    expect(page.locator("#calendar-grid")).to_be_visible()
    # In-app navigation puts the focus on the new page's heading.
    expect(page.locator("#page-heading")).to_be_focused()

    # The whole calendar is one Tab stop; the arrows move between its free days.
    tabs += _tab_to(page, "day-choice")
    first_day = _focused(page)["label"]
    page.keyboard.press("ArrowRight")
    assert _focused(page)["label"] != first_day and "day-choice" in _focused(page)["cls"]
    page.keyboard.press("Home")
    assert _focused(page)["label"] == first_day
    page.keyboard.press("Enter")
    expect(page.locator("#times-announcement")).to_have_text(
        re.compile(r"^\d+ free times? on \w{3} \d+ \w{3}\.$")
    )

    # The times are one Tab stop too.
    tabs += _tab_to(page, "time-choice")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(page.locator("#consultation_type")).to_be_visible()
    tabs += _tab_to(page, "consultation_type")
    page.keyboard.press("ArrowDown")  # what the visit is for: the first type
    tabs += _tab_to(page, "reason")
    page.keyboard.type("Booked with the keyboard")
    tabs += _tab_to(page, "book-submit")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    expect(page.locator("#page-heading")).to_be_focused()
    print(f"Tab presses from the search page to the booked visit: {tabs}")
    assert tabs <= 40, tabs


def test_the_skip_link_moves_focus_and_each_page_has_one_h1(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/about")
    expect(page.locator("h1")).to_have_count(1)
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    assert _focused(page)["id"] == "main"


def test_tap_targets_on_a_phone_are_at_least_44_pixels(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    for selector in ("#login-submit", "nav a >> nth=0"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 44, (selector, box)
