"""The app built and served in production mode by AppHarnessProd, driven by Debian Chromium.

The database is a fresh SQLite file with the demo data, so stories can log in as the
demo admin. Email links in the dev mailbox point at PUBLIC_BASE_URL; stories follow the
path and query on the harness's own address.
"""

from __future__ import annotations

import json
import logging
import os
import re
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import Session

from tests.integration.maps_standin import MapsStandIn, RunningMapsStandIn
from tests.integration.maps_standin import env_for as maps_env
from tests.integration.microsoft_standin import RunningStandIn, StandIn, settings_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


LOG_SCAN = "test_logs_of_the_stories.py"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    # The scan of every story's log lines runs once they have all been told.
    items.sort(key=lambda item: item.path.name == LOG_SCAN)


class RawLogLines(logging.Handler):
    """Every log line of the run as the app wrote it, before any scrubbing, in a file.

    The file is opened per line: servers' logging setups (dictConfig) close every handler
    they find, and this one must outlive them."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken format is a line too
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"logger": record.name, "line": text}) + "\n")


@pytest.fixture(scope="session", autouse=True)
def raw_log_lines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("logs") / "raw-lines.jsonl"
    handler = RawLogLines(path)
    root = logging.getLogger()
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)


@pytest.fixture(scope="session")
def microsoft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """The Microsoft identity platform and Graph stand-in the app is configured with."""
    server = RunningStandIn(tmp_path_factory.mktemp("microsoft"))
    yield server.state
    server.stop()


@pytest.fixture(scope="session")
def maps() -> Iterator[MapsStandIn]:
    """The Google Maps web services stand-in the app's server key points at."""
    server = RunningMapsStandIn()
    yield server.state
    server.stop()


@pytest.fixture(scope="session")
def harness(
    tmp_path_factory: pytest.TempPathFactory, microsoft: StandIn, maps: MapsStandIn
) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make test` (it installs the Debian package).")
    from health_app import config, db

    work = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{work}/e2e.db"
    os.environ.update(
        STORAGE_BACKEND="local",
        FILES_DIR=str(work / "files"),
        PUBLIC_FILES_DIR=str(work / "public"),
        DATABASE_URL=url,
        REFLEX_DB_URL=url,
        DEV_MODE="true",
        MAIL_BACKEND="dev",
        PUBLIC_BASE_URL="http://127.0.0.1",
        # The harness picks free ports at start, so its origin is unknown here.
        CORS_ALLOWED_ORIGINS="*",
        **settings_env(microsoft),
        **maps_env(maps),
    )
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would override MSAL's verify
        os.environ.pop(name, None)
    config.get_settings.cache_clear()
    db._engine_for.cache_clear()
    from datetime import UTC

    from health_app.dev import demo
    from health_app.migrations import upgrade

    upgrade(url)
    with db.session_scope() as session:
        demo.seed_demo(
            session,
            settings=config.get_settings(),
            now=datetime.now(UTC),
            doctors=3,
            patients=10,  # patient1..patient9: stories that change an account each own one
            availability_days=14,
        )
        seed_started_visit(session, now=datetime.now(UTC))

    import reflex.utils.exec as reflex_exec
    from reflex.testing import AppHarnessProd

    from health_app.http_pages import CanonicalPages
    from health_app.http_security import SecurityHeaders

    # The harness serves pages from a static server of its own, beside the backend; in
    # production one server does both. Give its pages the same headers, policy and page
    # addresses, so the browser tier runs every page under the real Content-Security-Policy.
    plain_pages = reflex_exec._frontend_prod_app
    backend: dict[str, str] = {}
    reflex_exec._frontend_prod_app = lambda: SecurityHeaders(  # type: ignore[assignment]
        CanonicalPages(plain_pages()),
        config.get_settings,
        backend=lambda: backend.get("origin", ""),
    )
    try:
        with AppHarnessProd.create(root=ROOT, app_name="health_app") as h:
            host, port = h.backend.servers[0].sockets[0].getsockname()[:2]  # type: ignore[union-attr]
            backend["origin"] = f"http://{host}:{port}"
            yield h
    finally:
        reflex_exec._frontend_prod_app = plain_pages


STARTED_VISIT_REASON = "Follow-up: sore throat for a week"


def seed_started_visit(session: Session, *, now: datetime) -> None:
    """A visit of the demo doctor and demo patient that began ten minutes ago: a running
    server's clock cannot be frozen, so the record story needs a visit already started."""
    from sqlmodel import col, select

    from health_app.dev import demo
    from health_app.models import Appointment, Slot, User

    doctor = session.exec(select(User).where(User.email == demo.DEMO_DOCTOR)).one()
    patient = session.exec(select(User).where(User.email == demo.DEMO_PATIENT)).one()
    begin = now - timedelta(minutes=10)
    end = begin + timedelta(minutes=30)
    # Published times never overlap (PostgreSQL enforces it): the demo hours' open times
    # under this visit go, or the search page would offer one the booking then refuses
    # (which it did, depending on the time of day the tests ran).
    for taken in session.exec(
        select(Slot).where(
            Slot.doctor_id == doctor.id,
            Slot.status == "open",
            col(Slot.starts_at) < end,
            col(Slot.ends_at) > begin,
        )
    ).all():
        session.delete(taken)
    slot = Slot(
        doctor_id=doctor.id,
        starts_at=begin,
        ends_at=end,  # type: ignore[arg-type]
        status="booked",
    )
    session.add(slot)
    session.flush()
    session.add(
        Appointment(
            doctor_id=doctor.id,
            patient_id=patient.id,
            slot_id=slot.id,
            starts_at=slot.starts_at,  # type: ignore[arg-type]
            ends_at=slot.ends_at,
            format="video",
            consultation_type="general",
            reason=STARTED_VISIT_REASON,
            join_url="https://meet.jit.si/HealthApp-e2e",
            created_at=begin,
            updated_at=begin,
        )
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def base_url(harness: object) -> str:
    return harness.frontend_url.rstrip("/")  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", "/tmp/health-app-e2e"))


def csp_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to " in m]


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(20_000)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.text} (on {pg.url})"))
    # A policy violation also fires this event in the page, whatever the console says.
    pg.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    # Reflex calls this hook once the page's event socket is open (see `wait_live`).
    pg.add_init_script(
        "window.__reflex_otel = {onSocketConnect: () => { window.__healthAppLive = true; }};"
    )
    yield pg
    if request.node.stash.get(_FAILED, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        print(f"screenshot: {SCREENSHOTS / request.node.name}.png")
    context.close()
    if "allow_csp_reports" not in request.keywords:
        assert csp_violations(console) == [], "the page broke its Content-Security-Policy"


def local(base_url: str, link: str) -> str:
    """The same path and query on the harness (mail links use PUBLIC_BASE_URL)."""
    parts = urlsplit(link)
    return f"{base_url}{parts.path}?{parts.query}" if parts.query else f"{base_url}{parts.path}"


def mailbox_link(page: Page, base_url: str, recipient: str, path: str) -> str:
    """Open the dev mailbox, find the newest message to `recipient` with a link to `path`."""
    page.goto(f"{base_url}/dev/mailbox")
    page.fill("#recipient", recipient)
    page.get_by_role("button", name="Filter").click()
    link = (
        page.locator(".mail-message")
        .filter(has_text=recipient)
        .locator(f"a.mail-link[href*='{path}']")
        .first
    )
    for _ in range(10):  # delivery runs in the background; refresh until it arrives
        if link.count():
            break
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Refresh").click()
    expect(link).to_be_visible()
    return local(base_url, link.get_attribute("href") or "")


def wait_live(page: Page) -> None:
    """Until the page is mounted and its event socket open: typed into earlier, a field can
    lose its text to the page's first render on a loaded machine, and a form sent earlier
    is lost."""
    page.wait_for_function("() => window.__healthAppLive === true")


def login(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    # The form posts to our login route, naming the page's site once the page is live.
    expect(page.locator("#login-form-site")).to_have_value(re.compile(r"^https?://"))
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")


AXE = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical WCAG 2.x A/AA findings on the page as it is now.

    The script is handed to the page through the browser's developer protocol, which the
    page's Content-Security-Policy does not govern, so pages keep their real policy.
    """
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make test` (scripts/bootstrap.sh installs it).")
    page.evaluate(AXE.read_text() + "\n;0")
    found = page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'wcag22aa', 'best-practice']},
            resultTypes: ['violations'],
        }).then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            count: v.nodes.length,
        })))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]
