"""A page opens in one event, not three (health_app/page_loads.py): Reflex's page-load
event runs the page's on-load handlers, and each marks the page hydrated itself, whatever
its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import OnLoadInternalState, State

from health_app.page_loads import ends_page_load, states_for_page, states_opened_by


@pytest.fixture(autouse=True)
def _our_app() -> Iterator[None]:
    """Our app's pages, whatever registration context earlier tests left behind."""
    from reflex_base.registry import RegistrationContext

    from health_app.health_app import app

    context = RegistrationContext.get().fork()
    context._set_app(app)
    token = RegistrationContext._context_var.set(context)
    yield
    RegistrationContext._context_var.reset(token)


def _tree_at(path: str) -> tuple[State, OnLoadInternalState]:
    root = State(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue]
    state = root.get_substate(OnLoadInternalState.get_full_name().split(".")[1:])
    root.router = RouterData.from_router_data(
        {constants.RouteVar.PATH: path, constants.RouteVar.ORIGIN: path}
    )
    assert isinstance(state, OnLoadInternalState)
    return root, state


def _names(events: Any) -> list[str]:
    listed = events if isinstance(events, list) else [events]
    names = [getattr(e, "name", None) or e.handler.fn.__qualname__ for e in listed if e]
    return [name.rpartition(".")[2] for name in names]


def _open(path: str) -> tuple[list[Any], State]:
    """What Reflex's `on_load_internal` yields on this page (its one event), and the tree."""
    root, state = _tree_at(path)

    async def drain() -> list[Any]:
        return [events async for events in OnLoadInternalState.on_load_internal.fn(state)]

    return asyncio.run(drain()), root


def test_every_page_load_handler_ends_its_chain() -> None:
    from health_app.health_app import app

    unmarked = [
        (route, getattr(load, "fn", load).__qualname__)
        for route, loads in app._load_events.items()
        for load in loads
        if not getattr(getattr(load, "fn", None), "_health_app_ends_page_load", False)
    ]
    assert app._load_events and unmarked == []


def test_every_page_runs_its_loads_in_its_page_load_event() -> None:
    from health_app.health_app import app

    queued = [
        route
        for route, loads in app._load_events.items()
        if loads and not states_for_page(f"/{route}")
    ]
    assert queued == []


def test_a_newer_navigation_still_supersedes_an_unfinished_page_load() -> None:
    assert OnLoadInternalState.on_load_internal.supersedes


def test_the_dashboard_loads_in_the_page_load_event_itself() -> None:
    """Nobody signed in: the dashboard's own load ran (it sends to the login page) and the
    page is hydrated, all in one event; nothing is queued for a second one."""
    yielded, root = _open("/dashboard")
    assert [_names(events) for events in yielded] == [["_redirect"]]
    assert "/login?reason=login" in str(yielded[0].args)
    assert root.is_hydrated


def test_a_public_page_checks_the_session_in_the_page_load_event() -> None:
    yielded, root = _open("/")
    assert [_names(events) for events in yielded] == [[]]
    assert root.is_hydrated


def test_a_page_with_a_load_of_reflex_s_kind_keeps_reflex_s_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from health_app.health_app import app

    monkeypatch.setitem(app._load_events, "dashboard", [OnLoadInternalState.set_is_hydrated])
    yielded, root = _open("/dashboard")
    assert (_names(yielded[0]), root.is_hydrated) == (["set_is_hydrated", "set_is_hydrated"], False)


def test_the_states_a_page_load_event_reads_along() -> None:
    from health_app.state.dashboard import DashboardState

    at = constants.RouteVar.ORIGIN
    assert states_opened_by({at: "/dashboard?tab=past"}) == (DashboardState,)
    assert states_opened_by({at: "/no/such/page"}) == ()
    assert states_opened_by({}) == ()


class _Page:
    is_hydrated = False


@pytest.mark.parametrize("fails", [False, True])
def test_the_handler_marks_the_page_hydrated_when_done_or_failed(fails: bool) -> None:
    @ends_page_load
    async def load(page: _Page) -> str:
        assert not page.is_hydrated  # not before the handler's work
        if fails:
            raise RuntimeError("the load failed")
        return "loaded"

    page = _Page()
    try:
        asyncio.run(load(page))
    except RuntimeError:
        assert fails
    assert page.is_hydrated


def test_a_plain_handler_marks_the_page_hydrated_too() -> None:
    @ends_page_load
    def load(page: _Page) -> str:
        assert not page.is_hydrated
        return "loaded"

    page = _Page()
    assert (load(page), page.is_hydrated) == ("loaded", True)


def test_a_generator_handler_marks_the_page_hydrated_after_its_last_update() -> None:
    seen: list[bool] = []

    @ends_page_load
    async def load(page: _Page) -> AsyncIterator[Any]:
        yield None
        seen.append(page.is_hydrated)
        yield None

    async def drain(page: _Page) -> None:
        async for _ in load(page):
            seen.append(page.is_hydrated)

    page = _Page()
    asyncio.run(drain(page))
    assert (seen, page.is_hydrated) == ([False, False, False], True)
