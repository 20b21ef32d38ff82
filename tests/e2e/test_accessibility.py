"""WCAG 2.2 AA, measured: axe-core on every page, for every role, on a phone and on a
desk-sized screen. Any serious or critical finding fails the story, with where it is."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_PASSWORD
from tests.e2e.conftest import axe_violations, login
from tests.e2e.test_page_tour import PUBLIC, SIGNED_IN

SIZES = {"phone": {"width": 390, "height": 844}, "desk": {"width": 1366, "height": 900}}


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
        page.locator(".doctor-card").first.get_by_role("link").click()
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


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("email", ["", *SIGNED_IN], ids=["anonymous", "patient", "doctor", "admin"])
def test_every_page_passes_axe(browser: Browser, base_url: str, size: str, email: str) -> None:
    context = browser.new_context(viewport=SIZES[size])
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
