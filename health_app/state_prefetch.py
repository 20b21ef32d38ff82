"""The states an event will read, fetched from Redis with its own state in one round trip.

With several workers, Reflex keeps each tab's states in Redis and, for an event, reads the
handler's state and its parents with one MGET. A sibling state the handler then asks for
costs one more round trip each: `AuthState` for every signed-in handler (it resolves the
session), `VisitsState` for the dashboard's load, the files and messages states for a
visit's. Under load those round trips were a third of a worker's CPU (py-spy, see
benchmarks/bench_load.py), so here they join the first MGET: `AuthState` with every
state but Reflex's page-load one, and whatever a state names with `@fetched_with(...)`.

A state fetched this way and left untouched is not written back (Reflex writes touched
states only). One worker without Redis keeps every state in memory and is not affected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reflex.istate.manager.redis import StateManagerRedis
from reflex.state import BaseState, OnLoadInternalState

S = TypeVar("S", bound=type[BaseState])

_FETCHED_WITH: dict[type[BaseState], tuple[type[BaseState], ...]] = {}


def fetched_with(*others: type[BaseState]) -> Callable[[S], S]:
    """Class decorator: fetch `others` along with this state for each of its events."""

    def mark(cls: S) -> S:
        _FETCHED_WITH[cls] = others
        return cls

    return mark


def also_fetched(target: type[BaseState]) -> tuple[type[BaseState], ...]:
    from health_app.state.auth import AuthState

    named = _FETCHED_WITH.get(target, ())
    if issubclass(AuthState, target) or issubclass(target, AuthState):
        return named  # the root (AuthState's parent) or AuthState itself
    if target is OnLoadInternalState:  # it only names a page's on-load handlers
        return named
    return (AuthState, *named)


def install() -> None:
    """Wrap Reflex's choice of the states to read for an event (once per process)."""
    if getattr(StateManagerRedis, "_health_app_prefetch", False):
        return
    original: Callable[..., set[type[BaseState]]] = StateManagerRedis._get_required_state_classes

    # The answer depends on the classes only, which do not change once the app is built:
    # worked out once per state instead of walking the tree on every event.
    known: dict[tuple[type[BaseState], bool], frozenset[type[BaseState]]] = {}

    def required(
        self: StateManagerRedis,
        target_state_cls: type[BaseState],
        subclasses: bool = False,
        required_state_classes: set[type[BaseState]] | None = None,
    ) -> set[type[BaseState]]:
        if required_state_classes is not None:  # Reflex walking parents and substates
            return original(self, target_state_cls, subclasses, required_state_classes)
        key = (target_state_cls, subclasses)
        if key not in known:
            found = original(self, target_state_cls, subclasses, None)
            for other in also_fetched(target_state_cls):
                original(self, other, False, found)
            known[key] = frozenset(found)
        return set(known[key])

    setattr(StateManagerRedis, "_get_required_state_classes", required)  # noqa: B010
    setattr(StateManagerRedis, "_health_app_prefetch", True)  # noqa: B010
