"""The whole dashboard in a few statements: the same visits, in the same order, as the
paged lists and the doctor's board show, and the same figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session

from health_app.config import Settings
from health_app.models import ConnectionStatus, MicrosoftConnection, Role, User
from health_app.services.errors import NotFound
from health_app.services.records import dashboard
from health_app.services.records.dashboard_page import get_dashboard
from health_app.services.scheduling import booking, search
from health_app.services.scheduling.visit_lists import LIST_SIZE
from health_app.services.views import Actor
from tests.services.scheduling_helpers import clinic_with_visits, counted


@pytest.fixture
def clinic(
    session: Session, settings: Settings, now: datetime
) -> tuple[Actor, Actor, Actor, date, datetime]:
    return clinic_with_visits(session, settings, now)


def test_a_patients_dashboard_is_their_three_lists_in_two_statements(
    session: Session, clinic: tuple[Actor, Actor, Actor, date, datetime]
) -> None:
    _, ann, bob, _, later = clinic
    with counted(session) as statements:
        page = get_dashboard(session, actor=ann, now=later)
    assert len(statements) == 2, statements
    for which, shown in (
        ("upcoming", page.upcoming),
        ("past", page.past),
        ("cancelled", page.cancelled),
    ):
        paged, total = booking.list_appointments(
            session, actor=ann, which=which, now=later, limit=LIST_SIZE
        )
        assert list(shown) == paged, which  # every field of every view, in the same order
        if which == "upcoming":
            assert page.upcoming_total == total == 15  # 16 booked ahead, one cancelled
    assert len(page.upcoming) == LIST_SIZE
    assert [len(page.past), len(page.cancelled)] == [6, 3]
    assert page.pharmacy_name == "" and not page.microsoft_reconnect
    assert page.board is None and page.counters is None

    nothing = get_dashboard(session, actor=bob, now=later)
    assert (nothing.upcoming, nothing.past, nothing.cancelled, nothing.upcoming_total) == (
        (),
        (),
        (),
        0,
    )


def test_a_doctors_dashboard_is_three_statements_with_the_boards_own_figures(
    session: Session, settings: Settings, clinic: tuple[Actor, Actor, Actor, date, datetime]
) -> None:
    doctor, _, _, first, later = clinic
    with counted(session) as statements:
        page = get_dashboard(session, actor=doctor, now=later)
    assert len(statements) == 3, statements
    for which, shown in (("past", page.past), ("cancelled", page.cancelled)):
        paged, _ = booking.list_appointments(
            session, actor=doctor, which=which, now=later, limit=LIST_SIZE
        )
        assert list(shown) == paged, which
    assert page.board is not None and page.checklist is not None and page.counters is not None
    assert page.board == dashboard.doctor_dashboard(
        session, actor=doctor, day=None, patient_query="", now=later
    )
    assert page.board.day == first + timedelta(days=1)
    assert len(page.board.day_visits) == 7  # one of the day's eight was cancelled
    assert page.upcoming == page.board.upcoming and page.upcoming_total == 8
    assert page.counters == dashboard.slot_counters(session, actor=doctor, now=later)
    assert page.counters.booked == 15  # today's and tomorrow's visits
    reopened = search.free_times(
        session, doctor_id=doctor.user_id, day=first + timedelta(days=1), now=later
    )
    assert page.checklist == dashboard.Checklist(
        weekly_hours=False, free_time=bool(reopened), photo=False
    )
    assert not page.microsoft_reconnect

    # A chosen day lists that day only, and the dashboard's own lists stay whole.
    chosen = get_dashboard(session, actor=doctor, now=later, day=first)
    assert chosen.board is not None and chosen.upcoming == () and chosen.upcoming_total == 0
    assert len(chosen.board.day_visits) == 6  # two of the eight were cancelled
    assert chosen.past == page.past and chosen.cancelled == page.cancelled


def test_microsoft_asking_to_reconnect_shows_on_both_dashboards(
    session: Session, clinic: tuple[Actor, Actor, Actor, date, datetime], now: datetime
) -> None:
    doctor, ann, _, _, later = clinic
    for who in (doctor, ann):
        session.add(
            MicrosoftConnection(
                user_id=who.user_id,
                status=ConnectionStatus.NEEDS_RECONNECT,
                connected_at=now,
                updated_at=now,
            )
        )
    session.commit()
    assert get_dashboard(session, actor=doctor, now=later).microsoft_reconnect
    assert get_dashboard(session, actor=ann, now=later).microsoft_reconnect


def test_admins_and_closed_accounts_get_no_dashboard(
    session: Session, clinic: tuple[Actor, Actor, Actor, date, datetime], now: datetime
) -> None:
    _, ann, _, _, later = clinic
    admin = Actor(user_id=ann.user_id, role=Role.ADMIN, display_name="Admin")
    with pytest.raises(NotFound):
        get_dashboard(session, actor=admin, now=later)
    session.rollback()
    user = session.get(User, ann.user_id)
    assert user is not None
    user.deactivated_at = now
    session.add(user)
    session.commit()
    with pytest.raises(NotFound):
        get_dashboard(session, actor=ann, now=later)
