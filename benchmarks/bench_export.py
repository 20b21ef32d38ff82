"""History export at size: one doctor with 10,000 visits exported to XLSX (goal <= 5 s).

Usage: python -m benchmarks.bench_export [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from benchmarks.common import record, row
from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.migrations import upgrade
from health_app.models import Role, User
from health_app.services.people import display_name
from health_app.services.records import export
from health_app.services.records.export import COLUMNS, ExportRequest
from health_app.services.views import Actor

VISITS = 10_000


def run(url: str, db: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    if db == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
    upgrade(url)
    # Visits about two years back: an export is about history.
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=700)
    with Session(engine) as s:
        demo.seed_demo(s, settings=Settings(database_url=url), now=now, doctors=1, patients=500)
        s.commit()
        _, visits = demo.seed_schedule(s, now=now, days=VISITS // 16, booked_fraction=1.0)
        s.commit()
        doctor = s.exec(select(User).where(User.role == Role.DOCTOR)).one()
        actor = Actor(user_id=doctor.id, role=doctor.role, display_name=display_name(doctor))  # type: ignore[arg-type]
    timings = []
    for _ in range(3):
        with Session(engine) as s:
            t0 = time.perf_counter()
            file = export.export_history(
                s,
                actor=actor,
                now=datetime.now(UTC),
                request=ExportRequest(columns=list(COLUMNS), file_format="xlsx"),
            )
            timings.append(time.perf_counter() - t0)
            s.commit()
    assert file.rows == visits == VISITS, (file.rows, visits)
    print(f"[{db}] {file.rows} visits, {len(file.data) / 1e6:.1f} MB XLSX")
    engine.dispose()
    return [row("export_10000_visits_xlsx", db, max(timings), "s", 5)]


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
