"""The one guard every path that books or moves a visit goes through.

PostgreSQL: a per-doctor, then per-patient, transaction-scoped advisory lock serialises
competing writers (always in that order, so they cannot deadlock), and exclusion
constraints are the safety net. SQLite: units of work begin IMMEDIATE, so writers are
already serial, and partial unique indexes are the net. Any constraint violation that
still happens becomes SlotTaken, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from health_app.services.errors import DomainError

_DOCTOR_KEYSPACE = 1
_PATIENT_KEYSPACE = 2


class SlotTaken(DomainError):
    def __init__(self) -> None:
        super().__init__("That time was just taken. Please choose another time.")


def lock_doctor(session: Session, doctor_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": _DOCTOR_KEYSPACE, "key": doctor_id},
        )


def lock_patient(session: Session, patient_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": _PATIENT_KEYSPACE, "key": patient_id},
        )


@contextmanager
def conflicts_as_taken() -> Iterator[None]:
    """Map a constraint violation (unique index, exclusion constraint) to SlotTaken."""
    try:
        yield
    except IntegrityError as exc:
        raise SlotTaken() from exc
