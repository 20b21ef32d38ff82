"""Anonymous answers must not tell, by how long they take, whether an address has an account.

Each request runs as the app runs it: one unit of work through `session_scope`, against
the real database. The medians of 30 tries on each path may differ by at most 20 ms
(before: registration 18 ms for a known address against 298 ms for a new one).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from health_app.config import Settings
from health_app.db import session_scope
from health_app.services.accounts import registration
from tests.factories import patient_form, register_confirmed_patient

TRIES = 30
MOST_MS = 20.0


def _median_ms(run: Callable[[int], None]) -> float:
    took = []
    for i in range(TRIES):
        start = time.perf_counter()
        run(i)
        took.append((time.perf_counter() - start) * 1000)
    return statistics.median(took)


def test_registering_a_known_address_takes_as_long_as_a_new_one(
    engine: Engine, settings: Settings, now: datetime
) -> None:
    with session_scope(engine) as session:
        known = register_confirmed_patient(session, settings, now).email

    def register(email: str) -> None:
        with session_scope(engine) as session:
            registration.register_patient(
                session, form=patient_form(email=email), settings=settings, now=now
            )

    existing = _median_ms(lambda i: register(known))
    new = _median_ms(lambda i: register(f"new-{i}@example.com"))
    assert abs(existing - new) <= MOST_MS, f"known {existing:.1f} ms, new {new:.1f} ms"


def test_asking_for_a_reset_takes_as_long_for_an_unknown_address(
    engine: Engine, settings: Settings, now: datetime
) -> None:
    roomy = Settings(
        **{
            **settings.__dict__,
            "email_requests_per_address_per_hour": 1000,
            "email_requests_per_client_per_hour": 1000,
        }
    )
    with session_scope(engine) as session:
        known = register_confirmed_patient(session, settings, now).email

    def ask(email: str, i: int) -> None:
        with session_scope(engine) as session:
            registration.request_password_reset(
                session,
                email=email,
                settings=roomy,
                now=now + timedelta(seconds=i),
                client="198.51.100.7",
            )

    real = _median_ms(lambda i: ask(known, i))
    ghost = _median_ms(lambda i: ask(f"ghost-{i}@example.com", i))
    assert abs(real - ghost) <= MOST_MS, f"known {real:.1f} ms, unknown {ghost:.1f} ms"
