"""A page opens in one event: its on-load handlers run inside Reflex's page-load event.

Reflex 0.10 opens a page with three events, each taking the tab's states from Redis and
giving them back, and each sending its own update: `on_load_internal` (which names the
page's on-load handlers and marks the page not hydrated), the handlers, then
`set_is_hydrated(True)`. Opening a page is the most frequent event under load
(benchmarks/bench_load.py), and two of the three did little but pass the page on.

A handler marked `@ends_page_load` marks the page hydrated itself when it has finished
(or failed). When all of a page's on-load handlers are marked and take no arguments,
`on_load_internal` runs them itself, in its own event: one lock, one read and one write of
the tab's states (the handlers' states are read with the others, see `states_for_page`),
one update. The browser sees what it saw before, in one update instead of two or three.
A page with any other kind of on-load handler keeps Reflex's chain, without the last
event when all its handlers are marked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import reflex.state
from reflex import constants
from reflex.config import get_config
from reflex.state import BaseState, OnLoadInternalState
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


def _run_inline(loads: list[Any]) -> list[tuple[EventHandler, type[BaseState]]] | None:
    """The page's on-load handlers, each with its state, when `on_load_internal` may run
    them itself: each marked, without arguments and not a background task."""
    handlers: list[tuple[EventHandler, type[BaseState]]] = []
    for load in loads:
        if isinstance(load, EventSpec):
            if load.args:
                return None
            load = load.handler
        if not isinstance(load, EventHandler) or not _ends_itself(load) or load.is_background:
            return None
        if load.state is None:
            return None
        handlers.append((load, load.state))
    return handlers or None


def _page_loads(path: str) -> list[Any]:
    return RegistrationContext.get().app.get_load_events(path)


@functools.lru_cache(maxsize=512)  # the path is the browser's to choose: bounded
def states_for_page(path: str) -> tuple[type[BaseState], ...]:
    """The states the page at `path` loads when `on_load_internal` runs its handlers."""
    return tuple(dict.fromkeys(state for _, state in _run_inline(_page_loads(path)) or []))


def states_opened_by(router_data: dict[str, Any]) -> tuple[type[BaseState], ...]:
    """The states `on_load_internal` will load for the page in an event's router data
    (none when it names no page), so that they are read from Redis with the others."""
    as_path = router_data.get(constants.RouteVar.ORIGIN)
    if not isinstance(as_path, str) or not as_path:
        return ()
    return states_for_page(urlsplit(get_config().prepend_frontend_path(as_path)).path)


async def _open_page(
    state: BaseState, handlers: list[tuple[EventHandler, type[BaseState]]]
) -> AsyncIterator[Any]:
    """Run the page's on-load handlers on their states, passing on what they yield."""
    state.is_hydrated = False  # each handler marks it again when it has finished
    for handler, handler_state in handlers:
        result = handler.fn(await state.get_state(handler_state))
        if inspect.isasyncgen(result):
            async for events in result:
                yield events
            continue
        yield (await result) if inspect.isawaitable(result) else result


def install() -> None:
    """Let Reflex's page-load event run the page's on-load handlers, or queue them without
    the last event (once per process)."""
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

    handler = OnLoadInternalState.event_handlers["on_load_internal"]
    queue_loads: Callable[[Any], Any] = handler.fn

    @functools.wraps(queue_loads)  # keeps Reflex's marks: a newer navigation supersedes it
    async def on_load_internal(self: BaseState) -> AsyncIterator[Any]:
        handlers = _run_inline(_page_loads(self.rx_router_url.path))
        if handlers is None:
            yield queue_loads(self)
            return
        async for events in _open_page(self, handlers):
            yield events

    # Swapped on Reflex's own handler object: what the app registers, before or after.
    object.__setattr__(handler, "fn", on_load_internal)
    reflex.state._health_app_page_loads = True  # pyright: ignore[reportAttributeAccessIssue]
