"""The visit record in a real browser: the doctor writes notes and two prescriptions and
completes the visit; the patient reads them and opens the printable prescription."""

from __future__ import annotations

import io
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from health_app.dev.demo import DEMO_DOCTOR, DEMO_PASSWORD, DEMO_PATIENT
from tests.e2e.conftest import STARTED_VISIT_REASON, login


def _prescribe(page: Page, drug: str, strength: str, quantity: str) -> None:
    page.fill("#drug", drug)
    page.fill("#strength", strength)
    page.select_option("#route", "oral")
    page.fill("#frequency", "three times a day")
    page.fill("#duration", "7 days")
    page.fill("#quantity", quantity)
    page.fill("#refills", "0")
    page.fill("#instructions", "Take with food.")
    page.click("#rx-save")
    expect(page.locator(".prescription").filter(has_text=drug)).to_have_count(1)
    # Saved: the form is empty again, so a second click cannot add it twice.
    expect(page.locator("#drug")).to_have_value("")
    expect(page.locator("#quantity")).to_have_value("")


def test_doctor_records_the_visit_and_the_patient_reads_it(
    page: Page, base_url: str, browser: Browser
) -> None:
    login(page, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    card = page.locator(".visit-card").filter(has_text=STARTED_VISIT_REASON)
    card.get_by_role("link", name=re.compile("Details")).click()
    expect(page.locator("#page-heading")).to_have_text("Visit details")
    expect(page.get_by_text("Health card:")).to_be_visible()  # identifiers on this page only

    page.fill("#notes", "Pharynx red, no exudate. Afebrile.\nPlan: antibiotics, fluids.")
    page.click("#notes-save")
    expect(page.get_by_text("Notes saved.")).to_be_visible()
    _prescribe(page, "Amoxicillin", "500 mg", "21")
    _prescribe(page, "Ibuprofen", "200 mg", "20")
    page.click("#mark-completed")
    expect(page.locator("#visit-status")).to_have_text("Completed")
    # Closed, the record still takes a dated addendum; the earlier version stays.
    expect(page.locator("#addendum-notice")).to_be_visible()
    page.fill(
        "#notes",
        "Pharynx red, no exudate. Afebrile.\nPlan: antibiotics, fluids.\n"
        "Addendum: strep test negative.",
    )
    page.click("#notes-save")
    expect(page.get_by_text("Notes saved.")).to_be_visible()
    page.get_by_text("Earlier versions").click()
    expect(page.get_by_text(re.compile(r"Version 2 · Addendum"))).to_be_visible()

    patient = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(patient, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(patient.locator("#page-heading")).to_have_text("Dashboard")
    patient.locator(".past-visit").first.click()
    expect(patient.locator("#notes-text")).to_contain_text("Plan: antibiotics, fluids.")
    expect(patient.locator(".prescription")).to_have_count(2)
    patient.click("#print-link")
    expect(patient.get_by_role("heading", name="Prescription")).to_be_visible()
    expect(patient.locator(".prescription")).to_have_count(2)
    expect(patient.get_by_text("Quantity 21 · Refills 0")).to_be_visible()
    patient.context.close()


def test_patient_sees_who_looked_and_admin_reads_the_audit_log(page: Page, base_url: str) -> None:
    """Runs after the record story: the demo doctor has opened the demo patient's visit."""
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.get_by_role("link", name="Who looked at my record").click()
    expect(page.locator("#page-heading")).to_have_text("Who looked at my record")
    access = page.locator("#record-access .record-access")
    expect(access.filter(has_text="wrote visit notes").first).to_be_visible()
    expect(access.filter(has_text="(doctor)").first).to_be_visible()
    expect(page.locator("#record-access")).not_to_contain_text("visit.notes")  # no codes

    page.get_by_role("button", name="Log out").click()
    login(page, base_url, "admin@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/admin/audit")
    page.fill("#action", "visit.notes")
    page.click("#audit-filter")
    events = page.locator("#audit-events .audit-event")
    expect(events.filter(has_text="wrote visit notes").first).to_be_visible()
    expect(events.filter(has_text="opened a visit record")).to_have_count(0)
    # Times in the clinic's zone, and whose record it was.
    expect(events.first).to_contain_text(re.compile(r"\d\d:\d\d E[SD]T"))
    expect(events.first).to_contain_text("Jane Doe")


def test_all_appointments_lists_past_visits_and_filters_by_status(
    page: Page, base_url: str
) -> None:
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.get_by_role("link", name="All appointments").click()
    expect(page.locator("#page-heading")).to_have_text("All appointments")
    expect(
        page.get_by_role("cell", name="Completed").first
    ).to_be_visible()  # the visit completed in the record story
    page.select_option("#status", "cancelled")
    page.click("#history-filter")
    expect(page.get_by_role("cell", name="Completed")).to_have_count(0)


def test_doctor_exports_history_to_xlsx(page: Page, base_url: str) -> None:
    """Runs after the record story: the demo doctor has a completed visit with prescriptions."""
    from openpyxl import load_workbook

    login(page, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.get_by_role("link", name="Export visit history").click()
    expect(page.locator("#page-heading")).to_have_text("Export visit history")
    page.check("#col_prescriptions")
    page.check("#col_health_card")
    with page.expect_download() as download:
        page.click("#export-submit")
    assert download.value.suggested_filename.endswith(".xlsx")
    data = io.BytesIO(Path(download.value.path()).read_bytes())
    rows = [[c.value for c in r] for r in load_workbook(data).active.iter_rows()]
    assert rows[0] == [
        "Date",
        "Time",
        "Consultation",
        "Patient name",
        "Health card",
        "Prescriptions",
        "Status",
    ]
    completed = [r for r in rows[1:] if r[-1] == "Completed"]
    assert (
        len(completed) == 1
        and "Amoxicillin 500 mg" in completed[0][5]
        and "Ibuprofen" in completed[0][5]
    )
