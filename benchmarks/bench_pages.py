"""Pages as a person sees them: the production app (`reflex run --env prod --single-port`,
as `make run` starts it) on loopback, driven by headless Chromium and socket.io clients.

Data: one doctor with 2,016 half-hour slots over 126 days, about 500 of them booked by ten
patients (so the demo patient has about 50 visits).

Figures, median and p95 over RUNS runs each:
- navigation -> content painted in a new tab (warm cache, and cold), and socket open ->
  content painted, for the doctor's dashboard, the patient's dashboard, the booking page
  with a day chosen and the visit page; the split of the warm runs into boot (navigation
  -> socket open), server (socket open -> the data's last frame), render (frame -> rows in
  the page) and paint (rows -> the next frame);
- in-app navigation dashboard -> visit page -> dashboard (click -> content painted);
- dashboard loads per second by CLIENTS socket.io clients, each sending the dashboard's
  load event again as soon as the answer is in, alone and while 2 logins/s run;
- an idle backend's CPU and its memory after TABS tabs have opened a dashboard and closed.

Usage: python -m benchmarks.bench_pages [--postgres URL] [--runs 20] [--tabs 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from playwright.sync_api import BrowserContext, Page, sync_playwright
from sqlalchemy import text
from sqlmodel import Session, col, select

from benchmarks.common import p95, record, row
from benchmarks.socket_clients import EventNames, Tab, event_names, session_cookie
from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.migrations import upgrade
from health_app.models import Appointment, Slot, User

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DAYS, SLOTS_PER_DAY, BOOKED = 126, 16, 500 / 2016
CLIENTS = 10
LOAD_SECONDS = 15
ON_LOAD = "on_load_internal"

# Run in every page before its own scripts: when the socket opened, when its last frame
# came, when the page first showed its content and the frame after that (painted).
MEASURE = """
(() => {
  const ready = () => { try { return Boolean(%s); } catch (e) { return false; } };
  const b = window.__bench = {ws: null, frame: null, dom: null, paint: null};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => { b.ws = b.ws ?? performance.now(); });
      this.addEventListener("message", () => { if (b.dom === null) b.frame = performance.now(); });
    }
  };
  const check = () => {
    if (b.dom !== null || !ready()) return;
    b.dom = performance.now();
    requestAnimationFrame(() => setTimeout(() => { b.paint = performance.now(); }, 0));
  };
  new MutationObserver(check).observe(
    document, {childList: true, subtree: true, characterData: true});
})();
"""

DASHBOARD_READY = "document.querySelector('.visit-card')"
BOOKING_READY = "document.querySelector('#times-grid button')"
VISIT_READY = "document.querySelector('#visit-status')?.textContent.trim()"


@dataclass(frozen=True)
class Seeded:
    doctor_email: str
    patient_email: str
    doctor_id: int
    visit_id: int
    open_slot_id: int
    patient_visits: int


def _seed(url: str) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0)
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        demo.seed_demo(s, settings=Settings(database_url=url), now=now, doctors=1, patients=10)
        s.commit()
        demo.seed_schedule(
            s, now=now, days=DAYS, slots_per_day=SLOTS_PER_DAY, booked_fraction=BOOKED
        )
        s.commit()
        doctor = s.exec(select(User).where(User.email == demo.DEMO_DOCTOR)).one()
        patient = s.exec(select(User).where(User.email == demo.DEMO_PATIENT)).one()
        visit = s.exec(
            select(Appointment)
            .where(Appointment.patient_id == patient.id)
            .order_by(col(Appointment.starts_at))
        ).first()
        slot = s.exec(
            select(Slot)
            .where(Slot.doctor_id == doctor.id, Slot.status == "open")
            .order_by(col(Slot.starts_at))
        ).first()
        mine = select(Appointment.id).where(Appointment.patient_id == patient.id)
        count = len(s.exec(mine).all())
        assert visit and slot and doctor.id and visit.id and slot.id
        seeded = Seeded(
            doctor.email, patient.email, doctor.id, visit.id, slot.id, patient_visits=count
        )
    if url.startswith("postgresql"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return seeded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _running_app(url: str, work: Path) -> Iterator[tuple[str, psutil.Process]]:
    """`reflex run --env prod --single-port` on loopback, as `make run` starts it."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REFLEX_DB_URL": url,
        "PUBLIC_BASE_URL": base,
        "CORS_ALLOWED_ORIGINS": base,
        "DEV_MODE": "true",
        "MAIL_BACKEND": "dev",
        "STORAGE_BACKEND": "local",
        "FILES_DIR": str(work / "files"),
        "PUBLIC_FILES_DIR": str(work / "public"),
    }
    log = open(work / "app.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        [
            *(sys.executable, "-m", "reflex", "run", "--env", "prod", "--single-port"),
            *("--frontend-port", str(port), "--backend-host", "127.0.0.1"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the app stopped:\n" + (work / "app.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/login", timeout=2, follow_redirects=True).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not start within 10 minutes")
            time.sleep(1)
        yield base, psutil.Process(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _log_in(context: BrowserContext, base: str, email: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard"))
    _wait_for(page, DASHBOARD_READY)
    page.close()


def _wait_for(page: Page, ready: str) -> None:
    # Polled from a function Playwright calls: the page's policy forbids the eval that
    # `wait_for_function` uses.
    page.evaluate(
        "async () => { const t = performance.now() + 60000; while (!(" + ready + ")) {"
        " if (performance.now() > t) throw new Error('timed out');"
        " await new Promise((r) => setTimeout(r, 10)); } }"
    )


def _open_once(context: BrowserContext, url: str, ready: str) -> dict[str, float]:
    page = context.new_page()
    page.add_init_script(MEASURE % ready)
    page.goto(url, wait_until="commit")
    _wait_for(page, "window.__bench && window.__bench.paint !== null")
    b: dict[str, float] = page.evaluate("window.__bench")
    page.close()
    return b


def _summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), p95(samples)


def _pages(context: BrowserContext, base: str, runs: int, name: str, url: str, ready: str) -> dict:
    """New-tab opens of one page: warm (this context's cache) and cold (a fresh context)."""
    _open_once(context, url, ready)  # fills the cache
    warm = [_open_once(context, url, ready) for _ in range(runs)]
    state = context.storage_state()
    browser = context.browser
    assert browser is not None
    cold = []
    for _ in range(runs):
        fresh = browser.new_context(storage_state=state)
        cold.append(_open_once(fresh, url, ready))
        fresh.close()
    figures = {
        "nav_warm": _summary([b["paint"] for b in warm]),
        "nav_cold": _summary([b["paint"] for b in cold]),
        "socket": _summary([b["paint"] - b["ws"] for b in warm]),
        "boot": _summary([b["ws"] for b in warm]),
        "server": _summary([b["frame"] - b["ws"] for b in warm]),
        "render": _summary([b["dom"] - b["frame"] for b in warm]),
        "paint": _summary([b["paint"] - b["dom"] for b in warm]),
    }
    print(f"  {name}: " + ", ".join(f"{k} {m:.0f}/{p:.0f}" for k, (m, p) in figures.items()))
    return figures


def _click(page: Page, link: str, ready: str) -> float:
    """Click a link, then wait until the page shows `ready`: ms from the click to the frame
    after it."""
    return page.evaluate(
        "async (link) => { const t0 = performance.now(); document.querySelector(link).click();"
        " while (!(" + ready + ")) await new Promise((r) => requestAnimationFrame(r));"
        " await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));"
        " return performance.now() - t0; }",
        link,
    )


def _in_app(page: Page, base: str, runs: int) -> tuple[list[float], list[float]]:
    """Dashboard -> a visit (a different one each time) -> dashboard, by clicking links."""
    page.goto(f"{base}/dashboard")
    _wait_for(page, DASHBOARD_READY)
    to_visit, to_dashboard = [], []
    for i in range(runs + 1):
        cards = page.locator(".visit-card a[href^='/visit?id=']")
        n = i % cards.count()
        href = cards.nth(n).get_attribute("href")
        link = f".visit-card a[href='{href}']"
        visit_id = (href or "").split("=")[-1]
        ready = (
            f"document.querySelector('#visit-status')?.textContent.trim() && "
            f"location.search.endsWith('={visit_id}') && "
            f"!document.querySelector('.visit-card')"
        )
        a = _click(page, link, ready)
        b = _click(
            page,
            "nav a[href='/dashboard']",
            "document.querySelector('.visit-card') && !document.querySelector('#visit-status')",
        )
        if i:  # the first round loads the visit page's code
            to_visit.append(a)
            to_dashboard.append(b)
    return to_visit, to_dashboard


async def _loads(base: str, seeded: Seeded, names: EventNames, logins_per_s: float) -> dict:
    """CLIENTS tabs loading the doctor's dashboard back to back for LOAD_SECONDS."""
    async with httpx.AsyncClient(timeout=30) as http:
        cookie = await session_cookie(http, base, seeded.doctor_email)
        tabs = [Tab(base, cookie, names, count_bytes=True) for _ in range(CLIENTS)]
        samples: list[float] = []
        logins: list[float] = []
        try:
            for tab in tabs:
                await tab.connect()
            for tab in tabs:
                await tab.load_dashboard()  # warm-up
            stop = time.monotonic() + LOAD_SECONDS

            async def drive(tab: Tab) -> None:
                while time.monotonic() < stop:
                    samples.append(await tab.load_dashboard())

            async def log_in() -> None:
                while logins_per_s and time.monotonic() < stop:
                    t0 = time.perf_counter()
                    await session_cookie(http, base, seeded.patient_email)
                    logins.append(time.perf_counter() - t0)
                    await asyncio.sleep(max(0.0, 1 / logins_per_s - logins[-1]))

            t0 = time.monotonic()
            await asyncio.gather(*(drive(t) for t in tabs), log_in())
            elapsed = time.monotonic() - t0
        finally:  # a load that timed out must not leave sockets open behind it
            for tab in tabs:
                await tab.close()
        delta_kb = sum(t.delta_bytes for t in tabs) / max(1, len(samples) + CLIENTS) / 1024
    median, high = _summary(samples)
    print(
        f"  {CLIENTS} clients, {logins_per_s:g} logins/s ({len(logins)} done): "
        f"{len(samples) / elapsed:.0f} loads/s, median {median:.1f} ms, p95 {high:.1f} ms, "
        f"about {delta_kb:.1f} KB of delta per load"
    )
    return {"rate": len(samples) / elapsed, "median": median, "p95": high}


def _cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


def _idle_cpu(proc: psutil.Process, seconds: float = 20) -> float:
    before, t0 = _cpu_seconds(proc), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(proc) - before) / (time.monotonic() - t0) * 100


async def _churn(base: str, seeded: Seeded, names: EventNames, tabs: int) -> None:
    """`tabs` tabs that open, load the dashboard once and close, 20 at a time."""
    async with httpx.AsyncClient(timeout=30) as http:
        cookie = await session_cookie(http, base, seeded.doctor_email)
    queue = iter(range(tabs))

    async def worker() -> None:
        for _ in queue:
            tab = Tab(base, cookie, names)
            try:
                await tab.connect()
                await tab.load_dashboard()
            finally:
                await tab.close()

    await asyncio.gather(*(worker() for _ in range(20)))


def _load_event_name(page: Page, base: str) -> str:
    """The event the frontend sends to open the dashboard by a link (the route's on-load
    handlers run on the server), read from its socket frames."""
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(str(f))))
    page.goto(f"{base}/about")
    page.wait_for_timeout(500)
    page.evaluate("document.querySelector(\"a[href='/dashboard']\").click()")
    _wait_for(page, DASHBOARD_READY)
    page.wait_for_timeout(300)
    for frame in sent:
        found = re.search(r'"name":\s*"([^"]*' + ON_LOAD + ')"', frame)
        if found and '"pathname":"/dashboard"' in frame:
            return found.group(1)
    raise RuntimeError(f"no dashboard load event among the frames sent: {sent[:3]}")


def run(url: str, db_name: str, runs: int, tabs: int) -> list[dict[str, Any]]:
    seeded = _seed(url)
    print(
        f"[{db_name}] 1 doctor, {DAYS * SLOTS_PER_DAY} slots; the demo patient has "
        f"{seeded.patient_visits} visits"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, _running_app(url, Path(tmp)) as (base, proc):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            doctor = browser.new_context(viewport={"width": 1280, "height": 900})
            _log_in(doctor, base, seeded.doctor_email)
            patient = browser.new_context(viewport={"width": 1280, "height": 900})
            _log_in(patient, base, seeded.patient_email)
            booking = f"{base}/doctor?doctor={seeded.doctor_id}&slot={seeded.open_slot_id}"
            pages = {
                "doctor_dashboard": _pages(
                    doctor, base, runs, "doctor dashboard", f"{base}/dashboard", DASHBOARD_READY
                ),
                "patient_dashboard": _pages(
                    patient, base, runs, "patient dashboard", f"{base}/dashboard", DASHBOARD_READY
                ),
                "booking_day": _pages(
                    patient, base, runs, "booking, a day chosen", booking, BOOKING_READY
                ),
                "visit_page": _pages(
                    doctor,
                    base,
                    runs,
                    "visit page",
                    f"{base}/visit?id={seeded.visit_id}",
                    VISIT_READY,
                ),
            }
            tab = doctor.new_page()
            to_visit, to_dashboard = _in_app(tab, base, runs)
            # The shared client's names, with the load event the page itself sends.
            names = replace(event_names(), on_load=_load_event_name(tab, base))
            browser.close()
        for name, figures in pages.items():
            rows += [
                row(f"{name}_nav_paint_warm_p95", db_name, figures["nav_warm"][1], "ms", 300),
                row(f"{name}_nav_paint_cold_p95", db_name, figures["nav_cold"][1], "ms", 1000),
                row(f"{name}_socket_paint_p95", db_name, figures["socket"][1], "ms", 50),
            ]
        for name, samples in (("to_visit", to_visit), ("to_dashboard", to_dashboard)):
            median, high = _summary(samples)
            print(f"  in-app navigation {name}: median {median:.0f} ms, p95 {high:.0f} ms")
            rows.append(row(f"in_app_nav_{name}_p95", db_name, high, "ms", 100))
        alone = asyncio.run(_loads(base, seeded, names, 0))
        with_logins = asyncio.run(_loads(base, seeded, names, 2))
        rows += [
            row(
                "dashboard_loads_10_clients",
                db_name,
                alone["rate"],
                "loads/s",
                150,
                higher_is_better=True,
            ),
            row("dashboard_load_10_clients_p95", db_name, alone["p95"], "ms", 100),
            row(
                "dashboard_load_p95_2_logins_per_s",
                db_name,
                with_logins["p95"],
                "ms",
                round(alone["p95"] * 1.2, 1),
            ),
        ]
        if tabs:
            rss_before = _rss_mb(proc)
            t0 = time.monotonic()
            asyncio.run(_churn(base, seeded, names, tabs))
            print(f"  {tabs} tabs opened and closed in {time.monotonic() - t0:.0f} s")
            time.sleep(5)
            idle = _idle_cpu(proc)
            rss_after = _rss_mb(proc)
            print(
                f"  idle after {tabs} tabs: {idle:.2f} % CPU; memory {rss_before:.0f} -> "
                f"{rss_after:.0f} MB ({(rss_after - rss_before) * 1024 / tabs:.1f} KB per closed "
                "tab, held until STATE_EXPIRY_MINUTES)"
            )
            rows.append(row(f"idle_cpu_after_{tabs}_tabs", db_name, idle, "%", 1))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default="")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tabs", type=int, default=5000)
    args = parser.parse_args()
    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        raise SystemExit("Chromium is missing: run `make test` first (it installs it).")
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite", args.runs, args.tabs)
    if args.postgres:
        engine = make_engine(args.postgres)
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
        engine.dispose()
        rows += run(args.postgres, "postgresql", args.runs, 0)
    record(rows)


if __name__ == "__main__":
    main()
