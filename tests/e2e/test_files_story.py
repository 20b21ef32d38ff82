"""Files on a visit in a real browser: the patient uploads two photos and a PDF with a
progress bar, the doctor previews them, the patient deletes one."""

from __future__ import annotations

import random
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from health_app.db import session_scope
from health_app.dev.demo import DEMO_ADMIN, DEMO_DOCTOR, DEMO_PASSWORD, DEMO_PATIENT
from health_app.models import Appointment
from tests.e2e.conftest import STARTED_VISIT_REASON, login

_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _files(tmp: Path) -> list[Path]:
    rng = random.Random(7)
    # Noise compresses badly: a photo of a few megabytes, so the progress bar has time to show.
    noise = Image.frombytes("RGB", (1200, 1200), rng.randbytes(1200 * 1200 * 3))
    rash = tmp / "rash.png"
    noise.save(rash, format="PNG")
    arm = tmp / "arm.jpg"
    Image.new("RGB", (400, 300), (200, 120, 110)).save(arm, format="JPEG")
    letter = tmp / "referral letter.pdf"
    letter.write_bytes(_PDF)
    return [rash, arm, letter]


def _visit_id() -> int:
    with session_scope() as s:
        appt = s.exec(select(Appointment).where(Appointment.reason == STARTED_VISIT_REASON)).one()
        assert appt.id is not None
        return appt.id


def test_patient_uploads_doctor_previews_patient_deletes(
    page: Page, base_url: str, browser: Browser, tmp_path: Path
) -> None:
    visit = f"{base_url}/visit?id={_visit_id()}"
    login(page, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(visit)
    expect(page.locator("#files")).to_be_visible()
    expect(page.locator("#no-files, .visit-file").first).to_be_visible()  # loaded
    page.locator("#visit-upload input[type=file]").set_input_files(
        [str(p) for p in _files(tmp_path)]
    )
    expect(page.locator(".selected-file")).to_have_count(3)
    page.click("#upload-submit")
    expect(page.locator("#upload-progress")).to_be_visible()
    expect(page.get_by_text("3 files uploaded.")).to_be_visible()
    expect(page.locator(".visit-file")).to_have_count(3)
    expect(
        page.locator(".visit-file").filter(has_text="rash.png").get_by_role("img")
    ).to_be_visible()

    doctor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(doctor, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(doctor.locator("#page-heading")).to_have_text("Dashboard")
    doctor.goto(visit)
    expect(doctor.locator(".visit-file")).to_have_count(3)
    doctor.get_by_role("button", name="Preview arm.jpg").click()
    image = doctor.locator("#preview-image")
    expect(image).to_be_visible()
    doctor.wait_for_function(
        "() => { const i = document.querySelector('#preview-image'); "
        "return i && i.complete && i.naturalWidth === 400; }"
    )
    doctor.get_by_role("button", name="Preview referral letter.pdf").click()
    expect(doctor.locator("#preview-pdf")).to_be_visible()
    pdf_url = doctor.locator("#preview-pdf").get_attribute("src") or ""
    response = doctor.request.get(pdf_url)
    assert response.status == 200 and response.body().startswith(b"%PDF")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    # The doctor did not upload these: no delete, only hide.
    expect(doctor.get_by_role("button", name="Delete rash.png")).to_have_count(0)
    expect(doctor.get_by_role("button", name="Hide rash.png from this visit")).to_be_visible()
    doctor.context.close()

    page.get_by_role("button", name="Delete arm.jpg").click()
    page.click("#delete-yes")
    expect(page.get_by_text("The file was deleted.")).to_be_visible()
    expect(page.locator(".visit-file")).to_have_count(2)
    expect(page.locator(".visit-file").filter(has_text="arm.jpg")).to_have_count(0)
    # A tampered link is refused.
    tampered = pdf_url[:-4] + ("AAAA" if not pdf_url.endswith("AAAA") else "BBBB")
    assert page.request.get(tampered).status == 403

    # The clinic undoes the mistake: the admin restores the deleted file.
    admin = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(admin, base_url, DEMO_ADMIN, DEMO_PASSWORD)
    expect(admin.locator("#page-heading")).to_have_text("Dashboard")
    admin.goto(f"{base_url}/admin/files")
    admin.get_by_role("button", name="Restore arm.jpg").click()
    expect(admin.get_by_text("The file is back on its visit.")).to_be_visible()
    admin.context.close()
    page.goto(visit)
    expect(page.locator(".visit-file")).to_have_count(3)


def test_doctor_sets_a_photo_patients_see_it(
    page: Page, base_url: str, browser: Browser, tmp_path: Path
) -> None:
    portrait = tmp_path / "portrait.png"
    Image.new("RGB", (900, 1200), (90, 140, 160)).save(portrait, format="PNG")
    login(page, base_url, DEMO_DOCTOR, DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{base_url}/profile")
    expect(page.locator("#no-photo, #profile-photo").first).to_be_visible()
    page.locator("#doctor-photo input[type=file]").set_input_files(str(portrait))
    page.click("#photo-save")
    expect(page.get_by_text("Photo saved.")).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('#profile-photo'); "
        "return i && i.complete && i.naturalWidth === 384; }"  # 512 px tall, 3:4
    )

    patient = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    login(patient, base_url, DEMO_PATIENT, DEMO_PASSWORD)
    expect(patient.locator("#page-heading")).to_have_text("Dashboard")
    patient.goto(f"{base_url}/find")
    expect(patient.locator(".doctor-card").first).to_be_visible()
    patient.fill("#name", "Khan")
    patient.click("#search-submit")
    card = patient.locator(".doctor-card").filter(has_text="Khan")
    expect(card).to_have_count(1)
    card.get_by_role("link", name=re.compile("^See all times for")).click()
    patient.wait_for_function(
        "() => { const i = document.querySelector('#doctor-photo'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    patient.context.close()
