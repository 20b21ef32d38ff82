"""User stories for accounts, in a real browser on a phone-sized screen."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from health_app.dev.demo import DEMO_ADMIN, DEMO_PASSWORD
from tests.e2e.conftest import login, mailbox_link, wait_live
from tests.factories import luhn_card

NEW_PASSWORD = "lantern-orchard-velvet-9"


def test_patient_registers_confirms_logs_in_and_edits_profile(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/register")
    expect(page.locator("#register-step")).to_have_text("Step 1 of 3")
    page.fill("#first_name", "Rosa")
    page.fill("#last_name", "<b>Parks</b>")  # markup is kept as text
    page.fill("#date_of_birth", "2099-01-01")
    page.click("#register-next")
    expect(page.locator("#date_of_birth-error")).to_contain_text("future")
    page.fill("#date_of_birth", "1985-02-04")
    page.click("#register-next")
    expect(page.locator("#register-step")).to_have_text("Step 2 of 3")
    page.fill("#address_line", "12 Elm St")
    page.fill("#city", "Toronto")
    page.fill("#postal_code", "m5v 2t6")
    page.fill("#health_card_number", luhn_card(555123))
    page.fill("#health_card_expiry", "2031-06-30")
    page.click("#register-next")
    expect(page.locator("#register-step")).to_have_text("Step 3 of 3")
    page.fill("#email", "rosa@example.com")
    page.fill("#email_confirm", "rosa@example.com")
    page.fill("#password", "password1234")
    page.click("#register-next")
    expect(page.locator("#password-error")).to_contain_text("too common")
    page.fill("#password", "quiet river stone bridge")
    page.click("#register-next")
    expect(page.locator("#page-heading")).to_have_text("Check your email")
    # The page names the address it wrote to, and a resend goes there without retyping.
    expect(page.locator("#sent-to")).to_have_text("rosa@example.com")
    expect(page.locator("#email")).to_have_value("rosa@example.com")

    link = mailbox_link(page, base_url, "rosa@example.com", "/confirm")
    login(page, base_url, "rosa@example.com", "quiet river stone bridge")
    expect(page.get_by_role("alert")).to_contain_text("confirm your email")
    page.goto(link)
    expect(page.get_by_role("status")).to_contain_text("Your email is confirmed")

    login(page, base_url, "rosa@example.com", "quiet river stone bridge")
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    expect(page.get_by_text("Rosa <b>Parks</b>", exact=True)).to_be_visible()

    page.goto(f"{base_url}/profile")
    expect(page.locator("#city")).to_have_value("Toronto")
    page.fill("#city", "Ottawa")
    page.fill("#postal_code", "K1P 1J1")
    page.click("#profile-save")
    expect(page.get_by_text("Your profile was saved.")).to_be_visible()
    page.reload()
    expect(page.locator("#city")).to_have_value("Ottawa")


def test_doctor_waits_for_approval_then_logs_in(page: Page, base_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/apply")
    for field, value in {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "email_confirm": "grace@example.com",
        "password": "compiler moth notebook",
        "qualifications": "MD, McMaster University",
        "clinic_name": "Harbour Clinic",
        "clinic_address_line": "1 Harbour Sq",
        "clinic_city": "Toronto",
        "clinic_postal_code": "M5J 2L3",
        "licence_number": "123456",
    }.items():
        page.fill(f"#{field}", value)
    page.check("#ctype_acne")
    page.check("#lang_en")
    page.click("#apply-submit")
    expect(page.locator("#page-heading")).to_have_text("Check your email")
    page.goto(mailbox_link(page, base_url, "grace@example.com", "/confirm"))
    expect(page.get_by_role("status")).to_contain_text("An administrator will review")

    login(page, base_url, "grace@example.com", "compiler moth notebook")
    expect(page.get_by_role("alert")).to_contain_text("waiting for an administrator")

    admin = browser.new_context().new_page()
    login(admin, base_url, DEMO_ADMIN, DEMO_PASSWORD)
    expect(admin.locator("#page-heading")).to_have_text("Dashboard")
    admin.goto(f"{base_url}/admin/applications")
    expect(admin.get_by_text("Licence (CPSO): 123456")).to_be_visible()  # shown to review
    admin.get_by_role("button", name="Approve Grace Hopper").click()
    expect(admin.get_by_text("They can log in at once")).to_be_visible()  # asked first
    admin.click("#approve-confirm")
    expect(admin.get_by_text("Approved: the doctor can log in now")).to_be_visible()
    admin.context.close()

    login(page, base_url, "grace@example.com", "compiler moth notebook")
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    expect(page.get_by_role("link", name="Manage availability")).to_be_visible()
    # A new doctor is shown the first steps, each a link until done.
    checklist = page.locator("#doctor-checklist")
    expect(checklist).to_contain_text("Get ready for patients")
    expect(checklist.get_by_role("link", name="Set your weekly hours")).to_be_visible()


def test_forgotten_password_is_reset(page: Page, base_url: str) -> None:
    # patient7 is used by no other story: its password changes here.
    page.goto(f"{base_url}/forgot-password")
    wait_live(page)
    page.fill("#email", "patient7@demo.example.org")
    page.click("#forgot-submit")
    expect(page.get_by_role("status")).to_contain_text("If an account uses that address")
    link = mailbox_link(page, base_url, "patient7@demo.example.org", "/reset-password")
    page.goto(link)
    wait_live(page)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirm", NEW_PASSWORD)
    page.click("#reset-submit")
    expect(page.get_by_text("Your password was changed. Log in with the new one.")).to_be_visible()
    login(page, base_url, "patient7@demo.example.org", NEW_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(link)  # the link is single-use
    page.fill("#password", "yet another fresh phrase")
    page.fill("#password_confirm", "yet another fresh phrase")
    page.click("#reset-submit")
    expect(page.get_by_role("alert").first).to_contain_text("already used")


def test_deactivated_user_is_thrown_out(page: Page, base_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    login(page, base_url, "doctor1@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")

    admin = browser.new_context().new_page()
    login(admin, base_url, DEMO_ADMIN, DEMO_PASSWORD)
    expect(admin.locator("#page-heading")).to_have_text("Dashboard")
    admin.goto(f"{base_url}/admin/users")
    admin.fill("#query", "doctor1@")
    admin.get_by_role("button", name="Search").click()
    admin.get_by_role("button", name="Deactivate doctor1@demo.example.org").click()
    expect(admin.get_by_text("Account deactivated")).to_be_visible()
    admin.context.close()

    page.goto(f"{base_url}/profile")
    expect(page.locator("#page-heading")).to_have_text("Log in")
    login(page, base_url, "doctor1@demo.example.org", DEMO_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("deactivated")
