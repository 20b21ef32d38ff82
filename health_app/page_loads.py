"""A page's on-load handler ends its page's on-load chain itself: one event less per page.

Reflex 0.10 opens a page with three events, each taking the tab's states from Redis and
giving them back, and each sending its own update: `on_load_internal` (which names the
page's on-load handlers and marks the page not hydrated), the handlers, then
`set_is_hydrated(True)`. Opening a page was the most frequent event under load
(benchmarks/bench_load.py), and that last event did nothing but flip one flag. A handler
marked `@ends_page_load` flips it itself when it has finished, in its own update, so its
page's chain is two events. The browser sees what it saw before: the flag turns true once
the page's data has come, in the same update rather than a few ms later.

A page whose on-load handlers are not all marked keeps Reflex's chain.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import reflex.state
from reflex.state import BaseState
from reflex_base.event import Event, EventHandler, EventSpec
from reflex_base.registry import RegistrationContext

H = TypeVar("H", bound=Callable[..., Any])

_MARK = "_health_app_ends_page_load"


def ends_page_load(handler: H) -> H:
    """For an on-load handler: the page counts as hydrated once it has run (or failed)."""

    if inspect.isasyncgenfunction(handler):

        @functools.wraps(handler)
        async def run_generator(self: BaseState, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for event in handler(self, *args, **kwargs):
                    yield event
            finally:
                _hydrated(self)

        return _marked(run_generator)

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def run(self: BaseState, *args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(self, *args, **kwargs)
            finally:
                _hydrated(self)

        return _marked(run)

    if inspect.isgeneratorfunction(handler):
        raise TypeError(f"{handler.__qualname__}: a page load cannot be a plain generator")

    @functools.wraps(handler)
    def run_sync(self: BaseState, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(self, *args, **kwargs)
        finally:
            _hydrated(self)

    return _marked(run_sync)


def _marked(wrapper: Callable[..., Any]) -> Any:
    setattr(wrapper, _MARK, True)
    return wrapper


def _hydrated(state: BaseState) -> None:
    # `is_hydrated` belongs to the root state; every state inherits it.
    state.is_hydrated = True


def _ends_itself(load_event: Any) -> bool:
    handler = load_event.handler if isinstance(load_event, EventSpec) else load_event
    return isinstance(handler, EventHandler) and getattr(handler.fn, _MARK, False)


def install() -> None:
    """Replace Reflex's list of a page's on-load events (once per process)."""
    if getattr(reflex.state, "_health_app_page_loads", False):
        return
    original: Callable[[Any], Any] = reflex.state._load_events_for_page

    def load_events_for_page(state: Any) -> list[Any] | None:
        loads = RegistrationContext.get().app.get_load_events(state.rx_router_url.path)
        if not loads or not all(_ends_itself(load) for load in loads):
            return original(state)
        state.is_hydrated = False
        return [*Event.from_event_type(loads)]

    # `OnLoadInternalState.on_load_internal` looks it up in its module on every call.
    reflex.state._load_events_for_page = load_events_for_page
    reflex.state._health_app_page_loads = True  # pyright: ignore[reportAttributeAccessIssue]
