"""A patient connects Microsoft 365 from the profile, through the stand-in's sign-in and
consent page, and sees the account; a booking appears in Outlook; when Microsoft refuses
the tokens the dashboard asks to reconnect, and reconnecting sends the cancellation that
waited; then the patient disconnects."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_PASSWORD
from tests.e2e.conftest import login
from tests.integration.microsoft_standin import StandIn

PATIENT = "patient8@demo.example.org"
MICROSOFT_ACCOUNT = "p8.outlook@contoso.example"


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _book_a_phone_visit(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/find")
    expect(page.locator(".doctor-card").first).to_be_visible()
    page.fill("#name", "Amir Khan")
    page.click("#search-submit")
    card = page.locator(".doctor-card").filter(has_text="Amir Khan")
    expect(card).to_have_count(1)
    card.get_by_role("link", name=re.compile("^See all times for")).click()
    expect(page.locator(".day-choice").nth(5)).to_be_visible()
    page.locator(".day-choice").nth(5).click()
    expect(page.locator(".time-choice").first).to_be_visible()
    page.locator(".time-choice").first.click()
    page.select_option("#consultation_type", index=1)
    page.check("#format-phone")
    page.fill("#reason", "Cough for two weeks")
    page.click("#book-submit")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_patient_connects_microsoft_365_and_sees_the_account(
    browser: Browser, base_url: str, microsoft: StandIn
) -> None:
    microsoft.add_account(MICROSOFT_ACCOUNT, "Pat Eight")
    microsoft.next_login = MICROSOFT_ACCOUNT
    access_log = _Lines()
    logging.getLogger("uvicorn.access").addHandler(access_log)
    # Microsoft's pages are served with the stand-in's own certificate authority.
    context = browser.new_context(viewport={"width": 390, "height": 844}, ignore_https_errors=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        login(page, base_url, PATIENT, DEMO_PASSWORD)
        expect(page.locator("#page-heading")).to_have_text("Dashboard")
        page.goto(f"{base_url}/profile")
        expect(page.get_by_role("heading", name="Microsoft 365")).to_be_visible()
        expect(page.locator("#microsoft-connect-form-site")).to_have_value(re.compile("^http"))
        page.click("#microsoft-connect")
        # Microsoft's consent page (the stand-in), asking for calendar access only.
        expect(page.locator("#scopes")).to_contain_text("Calendars.ReadWrite")
        expect(page.locator("#scopes")).not_to_contain_text("OnlineMeetings")
        page.click("#accept")
        expect(page.locator("#page-heading")).to_have_text("Your profile")
        expect(page.locator("#microsoft-account")).to_contain_text("Pat Eight")
        expect(page.locator("#microsoft-account")).to_contain_text(MICROSOFT_ACCOUNT)
        expect(page.get_by_text("Microsoft 365 is connected")).to_be_visible()
        # The code and state never stay in the address bar.
        assert "code=" not in page.url and "state=" not in page.url

        # A booking lands in the Outlook calendar, sent after the booking, not in it.
        _book_a_phone_visit(page, base_url)
        wait_for(lambda: len(microsoft.events_of(MICROSOFT_ACCOUNT)) == 1)
        (event,) = microsoft.events_of(MICROSOFT_ACCOUNT)
        assert "Amir Khan" in event.body["subject"] and "Cough" not in str(event.body)

        # Microsoft stops accepting our tokens: cancelling still works, the dashboard asks
        # to reconnect, and reconnecting sends what waited.
        microsoft.refresh_refused = True
        microsoft.expire_access_tokens()
        page.goto(f"{base_url}/dashboard")
        card = page.locator(".visit-card").filter(has_text="Amir Khan")
        card.get_by_role("button", name=re.compile("Cancel the visit on")).click()
        page.fill("#reason", "Cannot make it")
        page.click("#cancel-submit")
        expect(page.get_by_text("The visit was cancelled")).to_be_visible()
        wait_for(lambda: any(s == 401 for _m, _p, s in microsoft.graph_calls("DELETE")))
        page.reload()
        expect(page.locator("#microsoft-banner")).to_contain_text("needs reconnecting")
        assert len(microsoft.events_of(MICROSOFT_ACCOUNT)) == 1  # not deleted yet
        microsoft.refresh_refused = False
        page.get_by_role("link", name="Reconnect Microsoft 365").click()
        expect(page.locator("#microsoft-connect")).to_have_text("Reconnect Microsoft 365")
        expect(page.locator("#microsoft-connect-form-site")).to_have_value(re.compile("^http"))
        page.click("#microsoft-connect")
        page.click("#accept")
        expect(page.locator("#microsoft-account")).to_contain_text(MICROSOFT_ACCOUNT)
        wait_for(lambda: microsoft.events_of(MICROSOFT_ACCOUNT) == [])

        page.click("#microsoft-disconnect")
        expect(page.get_by_text("Microsoft 365 is disconnected")).to_be_visible()
        expect(page.locator("#microsoft-connect")).to_be_visible()
    finally:
        logging.getLogger("uvicorn.access").removeHandler(access_log)
        context.close()
    callback_lines = [line for line in access_log.lines if "/_auth/microsoft/callback" in line]
    for secret in microsoft.issued:
        assert all(secret not in line for line in access_log.lines)
    assert callback_lines, access_log.lines[:5]  # the server logged the callback...
    for line in callback_lines:
        assert "code=[redacted]" in line  # ...without its code
