"""Everything a dashboard shows, read in one unit of work (one event, one transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from health_app.config import Settings
from health_app.db import reads_only
from health_app.models import Role
from health_app.services.accounts import profiles
from health_app.services.microsoft import connections
from health_app.services.records import dashboard
from health_app.services.scheduling import booking
from health_app.services.scheduling.booking import AppointmentView
from health_app.services.views import Actor

LIST_SIZE = 10


@dataclass(frozen=True)
class DashboardPage:
    upcoming: tuple[AppointmentView, ...]
    upcoming_total: int
    past: tuple[AppointmentView, ...]
    cancelled: tuple[AppointmentView, ...]
    microsoft_reconnect: bool
    # Patients.
    pharmacy_name: str = ""
    # Doctors.
    board: dashboard.DoctorDashboard | None = None
    counters: dashboard.Counters | None = None
    checklist: dashboard.Checklist | None = None


@reads_only
def get_dashboard(
    session: Session,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    day: date | None = None,
    patient_query: str = "",
) -> DashboardPage:
    """A patient's or doctor's dashboard (admins have their own figures)."""
    past, _ = booking.list_appointments(
        session, actor=actor, which="past", now=now, limit=LIST_SIZE
    )
    cancelled, _ = booking.list_appointments(
        session, actor=actor, which="cancelled", now=now, limit=LIST_SIZE
    )
    ms = connections.get_connection(session, actor=actor, settings=settings)
    reconnect = ms.status == "needs_reconnect"
    if actor.role == Role.DOCTOR:
        board = dashboard.doctor_dashboard(
            session, actor=actor, day=day, patient_query=patient_query, now=now
        )
        return DashboardPage(
            upcoming=board.upcoming,
            upcoming_total=board.upcoming_total,
            past=tuple(past),
            cancelled=tuple(cancelled),
            microsoft_reconnect=reconnect,
            board=board,
            counters=dashboard.slot_counters(session, actor=actor, now=now),
            checklist=dashboard.doctor_checklist(session, actor=actor, now=now),
        )
    upcoming, total = booking.list_appointments(
        session, actor=actor, which="upcoming", now=now, limit=LIST_SIZE
    )
    pharmacy = profiles.get_pharmacy(session, actor=actor)
    return DashboardPage(
        upcoming=tuple(upcoming),
        upcoming_total=total,
        past=tuple(past),
        cancelled=tuple(cancelled),
        microsoft_reconnect=reconnect,
        pharmacy_name=pharmacy.name if pharmacy else "",
    )
