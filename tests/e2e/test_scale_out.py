"""The production shape with three workers behind one port: Redis for tab states,
PostgreSQL, the scheduler elected among the workers, started the way the image starts
(`health-app build-frontend`, then `scripts/container-start.sh migrate` and `serve`).

Workers are real processes (uvicorn's), and which one serves a connection is the kernel's
choice: the tests look at each worker's sockets (psutil) to know where a browser or a
client landed, and kill workers with SIGKILL, as an out-of-memory kill would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import socketio
from playwright.sync_api import Browser, expect
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from health_app.db import make_engine
from health_app.dev.cluster import RunningApp, redis_server, served, wait_until
from health_app.dev.demo import DEMO_PASSWORD
from health_app.models import Appointment, OutboxMessage, Slot, User
from health_app.services.errors import DomainError
from health_app.services.scheduling import booking
from health_app.services.views import Actor
from tests.conftest import PG_URL
from tests.e2e.conftest import login
from tests.integration.smtp_sink import SinkHandler, smtp_sink

WORKERS = 3
PATIENTS = 30
RACERS = 12


@dataclass
class Cluster:
    app: RunningApp
    db_url: str
    sink: SinkHandler

    @property
    def base(self) -> str:
        return self.app.base

    def connections_by_worker(self) -> dict[int, int]:
        return self.app.connections_by_worker()

    def wait_for_workers(self) -> None:
        self.app.wait_for_workers()

    def diagnosis(self) -> str:
        """What a failed takeover needs explained: the workers, who holds which lock and
        what the workers last said (not their page requests)."""
        engine = create_engine(self.db_url)
        with engine.connect() as conn:
            sessions = conn.execute(
                text(
                    "SELECT a.pid, a.client_port, a.state, a.wait_event, l.locktype, l.granted "
                    "FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid "
                    "AND l.locktype = 'advisory' WHERE a.datname = current_database() "
                    "AND a.pid <> pg_backend_pid()"
                )
            ).all()
        engine.dispose()
        workers = [(w.pid, w.status()) for w in self.app.workers()]
        said = [
            line
            for line in self.app.log.read_text(errors="replace").splitlines()
            if "health_app.access" not in line
        ]
        return (
            f"workers {workers}; database sessions {[tuple(r) for r in sessions]}; "
            "the workers' last lines:\n" + "\n".join(said[-60:])
        )

    def scheduler_leader(self) -> int | None:
        """The worker holding the scheduler's advisory lock, found through the port of
        its PostgreSQL connection."""
        engine = create_engine(self.db_url)
        with engine.connect() as conn:
            port = conn.execute(
                text(
                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND a.datname = current_database()"
                )
            ).scalar()
        engine.dispose()
        if port is None:
            return None
        for worker in self.app.workers():
            for c in worker.net_connections(kind="tcp"):
                if c.laddr.port == port:
                    return worker.pid
        return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not PG_URL:
        pytest.fail("TEST_POSTGRES_URL is not set: run the tests through `make test`.")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing: run `make test` (it installs the Debian package).")
    work = tmp_path_factory.mktemp("scale")
    name = f"scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    db_url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with redis_server(work / "redis") as redis_url, smtp_sink() as (sink, smtp_port):
            settings = {
                "DATABASE_URL": db_url,
                "REFLEX_REDIS_URL": redis_url,
                "MAIL_BACKEND": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "SMTP_STARTTLS": "false",
                "SCHEDULER_IN_APP": "true",  # the workers elect the scheduler among them
                "SCHEDULER_TICK_SECONDS": "1",
                "OUTBOX_LEASE_SECONDS": "10",
                # Production's log lines (the story scan reads them: no personal data).
                "LOG_FORMAT": "json",
            }
            seed = ["--doctors", "2", "--patients", str(PATIENTS), "--days", "7"]
            with served(work, settings, workers=WORKERS, seed=seed) as app:
                yield Cluster(app, db_url, sink)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _open_slots(cluster: Cluster, doctor_email: str, count: int) -> tuple[int, list[int]]:
    """The doctor's id and their next `count` open times, at least an hour away."""
    engine = make_engine(cluster.db_url)
    with Session(engine) as session:
        doctor = session.exec(select(User).where(User.email == doctor_email)).one()
        slots = session.exec(
            select(Slot.id)
            .where(Slot.doctor_id == doctor.id, Slot.status == "open")
            .where(col(Slot.starts_at) > datetime.now(UTC))
            .order_by(col(Slot.starts_at))
            .offset(4)
            .limit(count)
        ).all()
    engine.dispose()
    assert doctor.id is not None and len(slots) == count
    return doctor.id, [int(s) for s in slots if s is not None]


# --- a booking race between patients on different workers ---------------------------


async def _session_cookie(http: httpx.AsyncClient, base: str, email: str) -> str:
    answer = await http.post(
        f"{base}/_auth/login",
        data={"email": email, "password": DEMO_PASSWORD, "site": base},
        headers={"Origin": base},
    )
    assert answer.status_code == 303, answer.text
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


class Tab:
    """A browser tab's event socket, sending the events the booking page sends."""

    def __init__(self, base: str, cookie: str) -> None:
        self.base, self.cookie = base, cookie
        self.sio = socketio.AsyncClient(reconnection=False)
        self.updates: list[dict[str, Any]] = []
        self.sio.on("event", self.updates.append, namespace="/_event")

    async def connect(self) -> None:
        await self.sio.connect(
            f"{self.base}?token={uuid.uuid4()}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=["/_event"],
            headers={"Cookie": self.cookie, "Origin": self.base},
        )

    async def send(self, name: str, payload: dict[str, Any], path: str) -> None:
        await self.sio.emit(
            "event",
            {
                "name": name,
                "payload": payload,
                "router_data": {"pathname": path.split("?")[0], "asPath": path},
            },
            namespace="/_event",
        )

    def said(self, words: str) -> bool:
        return words in repr(self.updates)


def _event_names() -> tuple[str, str]:
    """The page-load and booking events' full names (read on the main thread: Reflex
    registers states in a context variable a fresh thread does not have)."""
    from reflex.state import OnLoadInternalState

    from health_app.state.booking import BookingState

    return (
        f"{OnLoadInternalState.get_full_name()}.on_load_internal",
        f"{BookingState.get_full_name()}.book",
    )


async def _race(
    base: str, emails: list[str], doctor_id: int, slot_id: int, type_: str, names: tuple[str, str]
) -> list:
    on_load, book = names
    path = f"/doctor?doctor={doctor_id}&slot={slot_id}"
    async with httpx.AsyncClient(timeout=30) as http:
        cookies = [await _session_cookie(http, base, email) for email in emails]
    tabs = [Tab(base, cookie) for cookie in cookies]
    for tab in tabs:
        await tab.connect()
    for tab in tabs:
        await tab.send(on_load, {}, path)
    deadline = time.monotonic() + 30
    while not all(t.said("slot_label") for t in tabs) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    form = {"format": "phone", "consultation_type": type_, "reason": "Race across workers"}
    await asyncio.gather(*(t.send(book, {"form": form}, path) for t in tabs))
    while time.monotonic() < deadline and not all(
        t.said("was just taken") or t.said("/dashboard") for t in tabs
    ):
        await asyncio.sleep(0.1)
    return tabs


def _consultation_type(cluster: Cluster, doctor_id: int) -> str:
    engine = make_engine(cluster.db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT min(code) FROM doctor_consultation_type WHERE doctor_id = :d"),
            {"d": doctor_id},
        ).scalar()
    engine.dispose()
    assert found
    return str(found)


def test_patients_racing_for_one_time_across_workers_leave_one_visit(cluster: Cluster) -> None:
    doctor_id, (slot_id,) = _open_slots(cluster, "doctor@demo.example.org", 1)
    emails = [f"patient{i}@demo.example.org" for i in range(1, RACERS + 1)]
    kind = _consultation_type(cluster, doctor_id)
    names = _event_names()

    async def run() -> tuple[list[Tab], dict[int, int]]:
        tabs = await _race(cluster.base, emails, doctor_id, slot_id, kind, names)
        spread = cluster.connections_by_worker()
        for tab in tabs:
            await tab.sio.disconnect()
        return tabs, spread

    # A thread of its own: the browser tier's Playwright already runs a loop on this one.
    with ThreadPoolExecutor(1) as pool:
        tabs, spread = pool.submit(asyncio.run, run()).result()
    assert len(spread) >= 2, f"the {RACERS} sockets all landed on one worker: {spread}"
    engine = make_engine(cluster.db_url)
    with Session(engine) as session:
        visits = session.exec(select(Appointment).where(Appointment.slot_id == slot_id)).all()
    engine.dispose()
    assert [v.status for v in visits] == ["booked"], repr(tabs[0].updates)[:3000]
    winners = [t for t in tabs if t.said("Your visit is booked for")]
    losers = [t for t in tabs if t.said("That time was just taken")]
    assert len(winners) == 1 and len(losers) == RACERS - 1


# --- connections spread over the workers ----------------------------------------------

BURST = 60


def test_a_burst_of_connections_is_spread_over_every_worker(cluster: Cluster) -> None:
    """Tabs reconnecting at once (after a deploy, a worker's death) land evenly: each worker
    listens on a socket of its own and the kernel spreads connections by their addresses.
    On one shared socket the first worker to wake took every waiting connection."""
    cluster.wait_for_workers()
    before = cluster.connections_by_worker()
    held = sum(before.values())
    sockets = [socket.create_connection(("127.0.0.1", cluster.app.port)) for _ in range(BURST)]
    try:
        wait_until(
            lambda: sum(cluster.connections_by_worker().values()) >= held + BURST,
            seconds=15,
            what=f"the workers to accept {BURST} connections",
        )
        after = cluster.connections_by_worker()
        burst = {pid: after.get(pid, 0) - before.get(pid, 0) for pid in after}
    finally:
        for sock in sockets:
            sock.close()
    assert len(burst) == WORKERS, burst
    # 20 each on average; fewer than 6 on any worker: about 2 runs in 100,000 by chance.
    assert min(burst.values()) >= 6, burst


# --- a browser tab whose worker dies ------------------------------------------------


def test_a_tab_keeps_its_chosen_time_when_its_worker_is_killed(
    cluster: Cluster, browser: Browser
) -> None:
    doctor_id, _ = _open_slots(cluster, "doctor1@demo.example.org", 1)
    page = browser.new_context().new_page()
    login(page, cluster.base, f"patient{PATIENTS - 1}@demo.example.org", DEMO_PASSWORD)
    expect(page.locator("#page-heading")).to_have_text("Dashboard")
    page.goto(f"{cluster.base}/doctor?doctor={doctor_id}")
    # Chosen by clicks: the choice lives only in the tab's state on the server.
    page.locator(".day-choice").nth(1).click()
    expect(page.locator(".time-choice").nth(2)).to_be_visible()
    label = page.locator(".time-choice").nth(2).inner_text()
    page.locator(".time-choice").nth(2).click()
    expect(page.locator("#book-submit")).to_be_visible()
    holders = set(cluster.connections_by_worker())
    assert holders
    for pid in holders:  # the tab's socket and page requests: their workers die
        os.kill(pid, signal.SIGKILL)
    # The tab reconnects by itself, to a worker that never saw it.
    wait_until(
        lambda: bool(set(cluster.connections_by_worker()) - holders),
        seconds=30,
        what="the tab to reconnect to another worker",
    )
    expect(page.locator(".time-choice[aria-pressed='true']")).to_have_text(label)
    page.select_option("#consultation_type", index=1)
    page.check("#format-phone")
    page.fill("#reason", "Booked after a worker died")
    page.click("#book-submit")
    expect(page.get_by_text("Your visit is booked for")).to_be_visible()
    expect(page.get_by_text("Your visit is booked for")).to_contain_text(label.split("–")[0])
    cluster.wait_for_workers()  # the dead workers were started again
    seen: set[int] = set()
    for _ in range(4):  # reloads: the session holds wherever they land
        page.reload()
        expect(page.locator("#page-heading")).to_have_text("Dashboard")
        expect(page.locator(".visit-card")).to_have_count(1)  # the one booked above
        seen |= set(cluster.connections_by_worker())
    assert seen - holders
    page.context.close()


# --- reminders with the scheduler's leader killed mid-run ----------------------------


def test_messages_are_sent_once_when_the_scheduler_leader_is_killed(cluster: Cluster) -> None:
    cluster.wait_for_workers()  # those the previous test killed serve again
    engine = make_engine(cluster.db_url)
    doctor_id, slots = _open_slots(cluster, "doctor1@demo.example.org", 15)
    kind = _consultation_type(cluster, doctor_id)
    cluster.sink.delay_seconds = 0.25  # a slow relay, so the run is long enough to interrupt
    first = len(cluster.sink.messages)
    now = datetime.now(UTC)
    with Session(engine) as session:
        patients = session.exec(
            select(User).where(col(User.email).like("patient1_@demo.example.org"))
        ).all()
        free = list(patients)
        booked = 0
        for slot_id in slots:
            # A seeded visit of a patient may overlap the time: the next patient takes it.
            for patient in list(free):
                assert patient.id is not None
                try:
                    booking.book_appointment(
                        session,
                        actor=Actor(patient.id, "patient", patient.first_name),
                        request=booking.BookingRequest(slot_id, "phone", kind, "Reminder run"),
                        settings=_settings_for(cluster),
                        now=now,
                    )
                except DomainError:
                    session.rollback()
                    continue
                free.remove(patient)
                booked += 1
                break
        assert booked >= 8, f"only {booked} of the reminder run's visits could be booked"
        # Their reminders fall due now, as they would on the day.
        session.execute(
            text(
                "UPDATE outbox_message SET due_at = :now, next_attempt_at = :now "
                "WHERE status = 'pending'"
            ),
            {"now": now},
        )
        session.commit()
    wait_until(lambda: len(cluster.sink.messages) - first >= 5, seconds=30, what="first sends")
    leader = cluster.scheduler_leader()
    assert leader is not None
    os.kill(leader, signal.SIGKILL)

    def by_status() -> dict[str, int]:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT status || CASE WHEN status = 'pending' AND next_attempt_at > :now "
                    "THEN ' later' ELSE '' END, count(*) FROM outbox_message GROUP BY 1"
                ),
                {"now": datetime.now(UTC)},
            ).all()
        return {str(k): int(v) for k, v in found}

    # Settled: nothing leased and nothing due. (A send that failed for a moment waits for
    # its retry as "pending later": kept, not lost, and not counted as sent.)
    try:
        wait_until(
            lambda: "pending" not in by_status(),
            seconds=120,
            what="every message to be sent after the takeover",
        )
    except TimeoutError as late:
        raise AssertionError(
            f"{late}; the outbox now: {by_status()}; killed {leader}; {cluster.diagnosis()}"
        ) from None
    cluster.sink.delay_seconds = 0
    with Session(engine) as session:
        sent = session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.status == "sent", OutboxMessage.channel == "email"
            )
        ).all()
    engine.dispose()
    ids = [m["Message-ID"] for m in cluster.sink.messages]
    assert len(ids) == len(set(ids)), "a message was sent twice"
    assert sorted(ids) == sorted(f"<outbox-{i}@health-app.local>" for i in sent)
    assert len(sent) > 30
    assert cluster.scheduler_leader() not in (None, leader)
    cluster.wait_for_workers()


def _settings_for(cluster: Cluster) -> Any:
    from dataclasses import replace

    from health_app.config import load_settings

    return replace(load_settings(), database_url=cluster.db_url, dev_mode=True)
