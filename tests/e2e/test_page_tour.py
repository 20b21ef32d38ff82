"""Every page, as every role: each loads, shows its heading and the development-mode
banner, and breaks no rule of the Content-Security-Policy (the `page` fixture fails the
story on any violation the browser reports)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from health_app import routes
from health_app.dev.demo import DEMO_ADMIN, DEMO_DOCTOR, DEMO_PASSWORD, DEMO_PATIENT
from tests.e2e.conftest import login

PUBLIC = [
    routes.HOME,
    routes.ABOUT,
    routes.LOGIN,
    routes.REGISTER,
    routes.APPLY,
    routes.FORGOT_PASSWORD,
    routes.FIND_DOCTOR,
    "/no-such-page",
]
SIGNED_IN = {
    DEMO_PATIENT: [
        routes.DASHBOARD,
        routes.FIND_DOCTOR,
        routes.APPOINTMENTS,
        routes.PROFILE,
        routes.MY_RECORD_ACCESS,
        routes.PHARMACY,
        routes.DEV_MAILBOX,
    ],
    DEMO_DOCTOR: [
        routes.DASHBOARD,
        routes.AVAILABILITY,
        routes.APPOINTMENTS,
        routes.EXPORT,
        routes.PROFILE,
    ],
    DEMO_ADMIN: [
        routes.DASHBOARD,
        routes.ADMIN_APPLICATIONS,
        routes.ADMIN_USERS,
        routes.ADMIN_AUDIT,
        routes.ADMIN_FILES,
        routes.ADMIN_MESSAGES,
        routes.ADMIN_FIGURES,
        routes.PROFILE,
    ],
}


def _visit(page: Page, base_url: str, path: str) -> None:
    page.goto(f"{base_url}{path}")
    expect(page.locator("h1").first).to_be_visible()
    expect(page.locator("#dev-mode-banner")).to_contain_text("Development mode")


def test_every_public_page_works_under_the_policy(page: Page, base_url: str) -> None:
    for path in PUBLIC:
        _visit(page, base_url, path)


@pytest.mark.parametrize("email", list(SIGNED_IN), ids=["patient", "doctor", "admin"])
def test_every_page_of_a_role_works_under_the_policy(page: Page, base_url: str, email: str) -> None:
    login(page, base_url, email, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    for path in SIGNED_IN[email]:
        _visit(page, base_url, path)
        assert "/login" not in page.url, path
