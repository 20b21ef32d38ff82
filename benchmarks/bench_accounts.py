"""Account hot paths: session resolution (every privileged click) and login (argon2 cost).

Usage: python -m benchmarks.bench_accounts [--postgres URL]
Prints each figure with the machine it ran on and appends them to the results file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from benchmarks.common import p95, record
from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.migrations import upgrade
from health_app.services.accounts import sessions

GOALS = {"session_resolve_p95": 5.0, "login_p95": 500.0}


def run(url: str, db: str) -> list[dict[str, object]]:
    engine = make_engine(url)
    if db == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
    upgrade(url)
    settings = Settings(database_url=url)
    now = datetime.now(UTC)
    with Session(engine) as s:
        demo.seed_demo(s, settings=settings, now=now, doctors=200, patients=2000)
        s.commit()
    tokens = []
    login_ms = []
    with Session(engine) as s:
        for i in range(30):
            email = demo.DEMO_PATIENT if i == 0 else f"patient{i}@demo.example.org"
            t0 = time.perf_counter()
            result = sessions.login(
                s,
                email=email,
                password=demo.DEMO_PASSWORD,
                client=f"b{i}",
                settings=settings,
                now=now,
            )
            s.commit()
            login_ms.append((time.perf_counter() - t0) * 1000)
            tokens.append(result.token)
    resolve_ms = []
    with Session(engine) as s:
        for i in range(2000):
            t0 = time.perf_counter()
            actor = sessions.resolve_session(
                s, token=tokens[i % len(tokens)], settings=settings, now=now + timedelta(seconds=i)
            )
            s.commit()
            resolve_ms.append((time.perf_counter() - t0) * 1000)
            assert actor is not None
    engine.dispose()
    figures = {"session_resolve_p95": p95(resolve_ms), "login_p95": p95(login_ms)}
    return [
        {
            "name": name,
            "db": db,
            "value": round(value, 3),
            "unit": "ms",
            "goal": GOALS[name],
            "met": value <= GOALS[name],
        }
        for name, value in figures.items()
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
