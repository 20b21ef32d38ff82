"""A page opens in two events, not three (health_app/page_loads.py): its on-load handler
marks the page hydrated itself, whatever its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from reflex import constants
from reflex.istate.data import RouterData
from reflex.state import OnLoadInternalState, State

from health_app.page_loads import ends_page_load


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


def _on_load_internal_at(path: str) -> tuple[list[str], bool]:
    """What Reflex's `on_load_internal` queues on this page, and the page's hydrated flag."""
    root = State(_reflex_internal_init=True)  # pyright: ignore[reportCallIssue]
    state = root.get_substate(OnLoadInternalState.get_full_name().split(".")[1:])
    root.router = RouterData.from_router_data(
        {constants.RouteVar.PATH: path, constants.RouteVar.ORIGIN: path}
    )
    queued = OnLoadInternalState.on_load_internal.fn(state) or []
    names = [getattr(event, "name", None) or event.handler.fn.__name__ for event in queued]
    return [name.rpartition(".")[2] for name in names], root.is_hydrated


def test_every_page_load_handler_ends_its_chain() -> None:
    from health_app.health_app import app

    unmarked = [
        (route, getattr(load, "fn", load).__qualname__)
        for route, loads in app._load_events.items()
        for load in loads
        if not getattr(getattr(load, "fn", None), "_health_app_ends_page_load", False)
    ]
    assert app._load_events and unmarked == []


def test_a_page_queues_its_load_and_no_hydrated_flip() -> None:
    assert _on_load_internal_at("/dashboard") == (["load"], False)
    assert _on_load_internal_at("/") == (["check_session"], False)


def test_a_page_with_a_load_of_reflex_s_kind_keeps_reflex_s_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from health_app.health_app import app

    monkeypatch.setitem(app._load_events, "dashboard", [OnLoadInternalState.set_is_hydrated])
    queued, hydrated = _on_load_internal_at("/dashboard")
    assert (queued[-1], hydrated) == ("set_is_hydrated", False)


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
