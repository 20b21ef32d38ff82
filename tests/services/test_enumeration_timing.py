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


def _medians_ms(first: Callable[[int], None], second: Callable[[int], None]) -> tuple[float, float]:
    """Both paths, taken in turn, so a busy machine slows both alike."""
    took: tuple[list[float], list[float]] = ([], [])
    for i in range(TRIES):
        for run, times in ((first, took[0]), (second, took[1])):
            start = time.perf_counter()
            run(i)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(took[0]), statistics.median(took[1])


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

    existing, new = _medians_ms(lambda i: register(known), lambda i: register(f"new-{i}@x.org"))
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

    real, ghost = _medians_ms(lambda i: ask(known, i), lambda i: ask(f"ghost-{i}@x.org", i))
    assert abs(real - ghost) <= MOST_MS, f"known {real:.1f} ms, unknown {ghost:.1f} ms"
