"""The doctor's dashboard at size: one doctor with 20,000 visits.

Figures: the doctor's whole dashboard read as its page load runs it (today, what comes
next, past and cancelled visits, counters, the 8-week chart and the first steps, in one
read-only unit of work; p95 of 200 calls, goal <= 20 ms; and the statements it sends),
and the size of the dashboard page's state as the browser receives it (goal < 100 KB),
measured on the real Reflex states after the page's on-load handler ran.

Usage: python -m benchmarks.bench_dashboard [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, text
from sqlmodel import Session, select

from benchmarks.common import p95, record, row
from health_app import config, db
from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.migrations import upgrade
from health_app.models import Appointment, Role, User
from health_app.services.accounts import sessions
from health_app.services.people import display_name
from health_app.services.records import dashboard_page
from health_app.services.views import Actor

VISITS = 20_000
SLOTS_PER_DAY = 16
CALLS = 200


def _seed(url: str, now: datetime) -> tuple[Actor, str]:
    """One doctor fully booked for 1,250 days: about two thirds past, one third ahead."""
    engine = make_engine(url)
    with Session(engine) as s:
        start = now - timedelta(days=VISITS // SLOTS_PER_DAY * 2 // 3)
        demo.seed_demo(s, settings=Settings(database_url=url), now=start, doctors=1, patients=500)
        s.commit()
        demo.seed_schedule(
            s,
            now=start,
            days=VISITS // SLOTS_PER_DAY,
            slots_per_day=SLOTS_PER_DAY,
            booked_fraction=1.0,
        )
        s.commit()
        doctor = s.exec(select(User).where(User.role == Role.DOCTOR)).one()
        assert s.exec(select(func.count()).select_from(Appointment)).one() == VISITS
        actor = Actor(user_id=doctor.id, role=doctor.role, display_name=display_name(doctor))  # type: ignore[arg-type]
        login = sessions.login(
            s,
            email=doctor.email,
            password=demo.DEMO_PASSWORD,
            client="bench",
            settings=Settings(database_url=url),
            now=datetime.now(UTC),
        )
        s.commit()
    engine.dispose()
    return actor, login.token


def _service_p95(url: str, actor: Actor, patient_query: str) -> tuple[float, int]:
    """The doctor's whole dashboard read, as the page's load runs it (`get_dashboard` in a
    read-only unit of work): p95 in ms, and the statements it sends."""
    engine = make_engine(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    samples = []
    sent = 0
    for _ in range(CALLS):
        statements[0] = 0
        t0 = time.perf_counter()
        with db.read_scope(engine) as s:
            page = dashboard_page.get_dashboard(
                s, actor=actor, now=datetime.now(UTC), patient_query=patient_query
            )
        samples.append((time.perf_counter() - t0) * 1000)
        sent = statements[0]
    board = page.board
    assert board is not None
    print(
        f"  filter {patient_query!r}: {len(board.day_visits)} visits today, "
        f"{board.upcoming_total} upcoming, {sum(w.booked for w in board.weeks)} booked in the "
        f"chart, {len(page.past)} past shown; {sent} statements; median "
        f"{statistics.median(samples):.1f} ms"
    )
    engine.dispose()
    return p95(samples), sent


def _state_kb(url: str, token: str) -> float:
    """The dashboard's states after its load (DashboardState.load, which fills VisitsState
    too), as JSON, for a tab whose event socket carries the session cookie."""
    os.environ["DATABASE_URL"] = url
    config.get_settings.cache_clear()
    db._engine_for.cache_clear()
    from reflex import constants
    from reflex.istate.data import RouterData
    from reflex.state import State

    from health_app.state.auth import AuthState
    from health_app.state.dashboard import DashboardState
    from health_app.state.visits import VisitsState

    root = State(_reflex_internal_init=True)  # as the framework builds it per client
    auth = root.get_substate(AuthState.get_full_name().split(".")[1:])
    cookie = f"{config.get_settings().session_cookie}={token}"
    auth.router = RouterData.from_router_data(
        {constants.RouteVar.HEADERS: {"cookie": cookie}, constants.RouteVar.ORIGIN: "/dashboard"}
    )
    dashboard_state, visits = (
        root.get_substate(cls.get_full_name().split(".")[1:])
        for cls in (DashboardState, VisitsState)
    )

    async def load() -> None:
        await dashboard_state.load()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, load()).result()
    assert visits.day_rows or visits.rows, "the dashboard loaded no visits"
    payload = json.dumps(root.dict(), default=str)
    db._engine_for.cache_clear()
    return len(payload.encode()) / 1024


def run(url: str, db_name: str) -> list[dict[str, Any]]:
    if db_name == "postgresql":
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
        engine.dispose()
    upgrade(url)
    actor, token = _seed(url, datetime.now(UTC).replace(microsecond=0))
    if db_name == "postgresql":
        # A live database is vacuumed and analysed by autovacuum; a fresh bulk load is not.
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()
    service, statements = _service_p95(url, actor, "")
    # "a" matches most patients' names: the filter's worst case.
    filtered, _ = _service_p95(url, actor, "a")
    size = _state_kb(url, token)
    print(f"[{db_name}] dashboard p95 {service:.2f} ms, state {size:.1f} KB")
    return [
        row("doctor_dashboard_20000_visits_p95", db_name, service, "ms", 20),
        row("doctor_dashboard_name_filter_p95", db_name, filtered, "ms", 20),
        # SQLite's count holds its BEGIN and the read-only pragma's two settings.
        row(
            "doctor_dashboard_statements",
            db_name,
            statements,
            "statements",
            6 if db_name == "sqlite" else 3,
        ),
        row("dashboard_state_size", db_name, size, "KB", 100),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(f"sqlite:///{Path(tmp) / 'bench.db'}", "sqlite")
    if args.postgres:
        rows += run(args.postgres, "postgresql")
    record(rows)


if __name__ == "__main__":
    main()
