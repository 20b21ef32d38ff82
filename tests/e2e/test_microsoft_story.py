"""A patient connects Microsoft 365 from the profile, through the stand-in's sign-in and
consent page, and sees the account; then disconnects."""

from __future__ import annotations

import logging
import re

from playwright.sync_api import Browser, expect

from health_app.dev.demo import DEMO_PASSWORD
from tests.e2e.conftest import login
from tests.integration.microsoft_standin import StandIn

PATIENT = "patient8@demo.example.org"
MICROSOFT_ACCOUNT = "p8.outlook@contoso.example"


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
