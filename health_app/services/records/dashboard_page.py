"""Everything a dashboard shows, read in one unit of work (one event, one transaction).

Counted in statements, since every tab runs this on every dashboard load: a patient's
page is two (their facts, then their three visit lists), a doctor's three (their facts,
then the board's and the dashboard's visit lists, then the slot counters and the chart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, bindparam
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from health_app.db import reads_only
from health_app.driver_reads import read_first
from health_app.models import ConnectionStatus, MicrosoftConnection, PatientProfile, Role, User
from health_app.services import audit
from health_app.services.errors import NotFound
from health_app.services.records import dashboard
from health_app.services.scheduling import visit_lists
from health_app.services.scheduling.booking import AppointmentView
from health_app.services.scheduling.visit_lists import VisitList
from health_app.services.views import Actor


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
    now: datetime,
    day: date | None = None,
    patient_query: str = "",
) -> DashboardPage:
    """A patient's or doctor's dashboard (admins have their own figures)."""
    if actor.role == Role.DOCTOR:
        return _doctor_page(session, actor=actor, now=now, day=day, patient_query=patient_query)
    if actor.role == Role.PATIENT:
        return _patient_page(session, actor=actor, now=now)
    raise audit.deny(session, actor=actor, action="appointment.list", now=now)


def _doctor_page(
    session: Session, *, actor: Actor, now: datetime, day: date | None, patient_query: str
) -> DashboardPage:
    facts = dashboard.doctor_facts(session, actor=actor, now=now)
    zone = ZoneInfo(facts.time_zone)
    asked = dashboard.board_request(day=day, patient_query=patient_query, zone=zone, now=now)
    lists = dashboard.read_board(
        session,
        doctor_id=actor.user_id,
        asked=asked,
        zone=zone,
        now=now,
        also=("past", "cancelled"),
    )
    counters, weeks = dashboard.slot_figures(
        session, doctor_id=actor.user_id, today=asked.today, zone=zone
    )
    board = dashboard.board(asked, lists, weeks)
    return DashboardPage(
        upcoming=board.upcoming,
        upcoming_total=board.upcoming_total,
        past=lists["past"].visits,
        cancelled=lists["cancelled"].visits,
        microsoft_reconnect=facts.microsoft_status == ConnectionStatus.NEEDS_RECONNECT,
        board=board,
        counters=counters,
        checklist=facts.checklist,
    )


def _patient_facts_statement() -> Select[*tuple[Any, ...]]:
    """The patient's chosen pharmacy and Microsoft 365 status, if their account is active."""
    me = bindparam("me", type_=Integer)
    return (
        sql_select(
            col(PatientProfile.pharmacy_name),
            sql_select(col(MicrosoftConnection.status))
            .where(col(MicrosoftConnection.user_id) == me)
            .scalar_subquery()
            .label("microsoft_status"),
        )
        .select_from(User)
        .join(PatientProfile, col(PatientProfile.user_id) == col(User.id), isouter=True)
        .where(col(User.id) == me, col(User.deactivated_at).is_(None))
    )


_PATIENT_FACTS = _patient_facts_statement()


@lru_cache(maxsize=1)
def _patient_lists() -> tuple[dict[str, VisitList], Select[*tuple[Any, ...]]]:
    lists = {w: visit_lists.own(Role.PATIENT, w) for w in ("upcoming", "past", "cancelled")}
    return lists, visit_lists.statement(tuple(lists.values()))


def _patient_page(session: Session, *, actor: Actor, now: datetime) -> DashboardPage:
    facts = read_first(session, _PATIENT_FACTS, {"me": actor.user_id})
    if facts is None:
        raise NotFound("Your account could not be found.")
    pharmacy_name, microsoft = facts
    lists, stmt = _patient_lists()
    found = visit_lists.read(session, stmt, lists, {"me": actor.user_id, "now": now})
    return DashboardPage(
        upcoming=found["upcoming"].visits,
        upcoming_total=found["upcoming"].total,
        past=found["past"].visits,
        cancelled=found["cancelled"].visits,
        microsoft_reconnect=microsoft == ConnectionStatus.NEEDS_RECONNECT,
        pharmacy_name=pharmacy_name or "",
    )
