"""The session cookie, the socket and the page headers, seen from a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_PASSWORD, DEMO_PATIENT
from tests.e2e.conftest import csp_violations, login


def _session_cookie(page: Page) -> dict:
    cookies = [c for c in page.context.cookies() if c["name"] == "ha_session"]
    assert len(cookies) == 1, page.context.cookies()
    return dict(cookies[0])


def test_the_session_cookie_is_httponly_and_never_crosses_the_socket(
    page: Page, base_url: str
) -> None:
    frames: list[str] = []

    def watch(ws) -> None:  # type: ignore[no-untyped-def]
        ws.on("framesent", lambda payload: frames.append(str(payload)))
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/profile")
    expect(page.locator("#page-heading")).to_have_text("Your profile")

    cookie = _session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on this machine; https sets Secure
    token = cookie["value"]
    assert len(token) >= 43
    assert "ha_session" not in page.evaluate("document.cookie")
    assert frames, "no socket traffic was seen: the check would prove nothing"
    assert not [f for f in frames if token in f], "the session token crossed the socket"


def test_logout_ends_the_session_and_a_copied_cookie_is_refused(
    page: Page, browser: Browser, base_url: str
) -> None:
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    stolen = _session_cookie(page)

    page.click("#logout")
    expect(page.locator("#page-heading")).to_have_text("Log in")
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "ha_session"]

    # Someone who copied the cookie before the logout replays it in another browser.
    other = browser.new_context()
    try:
        other.add_cookies([stolen])  # type: ignore[list-item]
        thief = other.new_page()
        thief.goto(f"{base_url}/dashboard")
        expect(thief.locator("#page-heading")).to_have_text("Log in")
        assert "reason=expired" in thief.url
        expect(thief.get_by_text("Your session ended. Please log in again.")).to_be_visible()
    finally:
        other.close()


def test_a_wrong_password_is_refused_beside_the_form(page: Page, base_url: str) -> None:
    login(page, base_url, DEMO_PATIENT, "not the password at all")
    expect(page.locator("#page-heading")).to_have_text("Log in")
    expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect.")
    assert not [c for c in page.context.cookies() if c["name"] == "ha_session"]


def test_pages_carry_a_strict_policy_and_the_security_headers(page: Page, base_url: str) -> None:
    for path in ("/", "/login", "/find", "/dashboard"):
        response = page.request.get(f"{base_url}{path}")
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "'unsafe-eval'" not in policy and "script-src 'self' 'sha256-" in policy, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "camera=()" in headers["permissions-policy"]


@pytest.mark.allow_csp_reports
def test_another_site_cannot_frame_the_dashboard(page: Page, base_url: str) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.set_content(f'<iframe id="victim" src="{base_url}/dashboard"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#victim")
    expect(frame.locator("#page-heading")).to_have_count(0)
    assert [m for m in csp_violations(messages) if "frame-ancestors" in m], messages


def test_a_toast_from_the_server_shows_once_and_not_again_after_a_reload(
    page: Page, base_url: str
) -> None:
    """Toasts are state the page's own code shows (no script comes from the server)."""
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    page.goto(f"{base_url}/profile")
    expect(page.locator("#page-heading")).to_have_text("Your profile")
    page.click("#notifications-save")
    expect(page.get_by_text("Notification preferences saved.")).to_have_count(1)
    page.reload()
    expect(page.locator("#page-heading")).to_have_text("Your profile")
    page.wait_for_timeout(1500)
    expect(page.get_by_text("Notification preferences saved.")).to_have_count(0)
