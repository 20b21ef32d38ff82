"""Find a doctor's day filter, through the state as the browser calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from health_app.config import get_settings
from health_app.db import session_scope
from health_app.dev import demo
from health_app.state.auth import AuthState
from health_app.state.find import FindDoctorState
from tests.state.test_auth_states import _drain, _root_with, _run


def _seed() -> None:
    """One demo doctor with weekday hours (Mon-Fri) for the next two weeks."""
    with session_scope() as s:
        demo.seed_demo(
            s,
            settings=get_settings(),
            now=datetime.now(UTC),
            doctors=1,
            patients=1,
            availability_days=14,
        )


def test_a_made_up_day_is_refused_next_to_the_field_and_keeps_the_results(app_db: str) -> None:
    _seed()
    find = _root_with(FindDoctorState, AuthState)[FindDoctorState]
    _run(_drain(find.load()))
    shown = list(find.rows)
    assert shown
    _run(_drain(find.search({"on": "31/02/2026' OR 1=1"})))
    assert find.on_error == "Choose a day from the calendar, or leave it empty."
    assert find.on == "" and find.rows == shown


def test_a_day_lists_doctors_free_that_day(app_db: str) -> None:
    _seed()
    find = _root_with(FindDoctorState, AuthState)[FindDoctorState]
    zone = get_settings().clinic_zone
    day = (datetime.now(UTC).astimezone(zone) + timedelta(days=1)).date()
    while day.weekday() >= 5:  # the demo hours are Monday to Friday
        day += timedelta(days=1)
    _run(_drain(find.search({"on": day.isoformat()})))
    assert find.on_error == "" and find.on == day.isoformat()
    assert len(find.rows) == 1
    assert all(day.strftime("%-d %b") in t["label"] for t in find.rows[0]["next_times"])
    long_ago = "2001-01-01"
    _run(_drain(find.search({"on": long_ago})))
    assert find.rows == [] and find.total == 0


def test_a_search_says_searching_first_only_when_it_may_wait_on_google_maps(app_db: str) -> None:
    """A search of the database answers in milliseconds: its one update carries the rows.
    Near a typed place Google Maps is asked first, so "Searching..." is shown meanwhile."""
    _seed()
    find = _root_with(FindDoctorState, AuthState)[FindDoctorState]

    async def loading_at_each_update(updates: Any) -> list[bool]:
        return [find.loading async for _ in updates]

    assert _run(loading_at_each_update(find.search({}))) == []
    assert find.rows and not find.loading
    assert _run(loading_at_each_update(find.search({"place": "M5V 2T6"}))) == [True]
    assert not find.loading and "Google Maps" in find.place_error  # no Maps key here
    _run(_drain(find.clear_filters()))
    assert find.rows and find.place == "" and not find.loading
