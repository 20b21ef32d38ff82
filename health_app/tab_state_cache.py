"""A worker keeps the tab states its last event of a tab left, so the tab's next event
here unpickles only the states that changed in Redis since.

Reflex reads a tab's states from Redis and unpickles every one of them for each event,
although a tab's socket stays on one worker and most of its states are just what that
worker wrote at the end of the tab's previous event. Unpickling was the largest single
cost of the state round trip under load (py-spy, benchmarks/bench_load.py).

Redis stays the truth. The worker sends the SHA-1 of each copy it holds with the take
(state_round_trips.py); Redis compares it with what it holds and sends only the states
that differ, whoever wrote them: another worker after a reconnect, Reflex's own write
paths, an expiry. A copy is kept only after its event wrote and released the lock, and
only for foreground handlers (a background task's proxy keeps reading its tree after
the lock is given back). While an event runs its copies are out of the cache, so an
event that fails or loses its lock leaves nothing behind. A worker killed loses only
copies: every state was in Redis when its event ended.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reflex.state import BaseState
from reflex.utils.token_manager import RedisTokenManager

# Tabs a worker keeps copies for, the least recently used let go first. A tab's copies
# cost about 40 KB of the worker's memory (interleaved load benchmark runs with 50 tabs:
# 122 / 146 KB per tab with copies, 76 / 107 without; the figure is noisy). They are
# let go when the tab's socket closes here, or when it has sent no event for
# KEEP_IDLE_SECONDS (a tab closed while its event ran, a socket that moved to another
# worker; looked at whenever copies are kept): they would most likely be stale by then.
MAX_TABS = 2000
KEEP_IDLE_SECONDS = 600.0


@dataclass(slots=True)
class Copy:
    """A state as its event left it, and the SHA-1 of its bytes in Redis."""

    digest: str
    state: BaseState


def digest(data: bytes) -> str:
    """The digest Redis's `redis.sha1hex` gives for the same bytes."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class TabStateCache:
    """Copies of tabs' states by tab, then by state key, the latest kept last.

    Every `take` is followed by one `keep` (with nothing to keep when the event failed):
    a tab whose socket closed while its event ran here is then not kept at all.
    """

    def __init__(self, max_tabs: int = MAX_TABS, idle_seconds: float = KEEP_IDLE_SECONDS) -> None:
        self.max_tabs = max_tabs
        self.idle_seconds = idle_seconds
        self._tabs: OrderedDict[str, tuple[float, dict[str, Copy]]] = OrderedDict()
        self._running: set[str] = set()  # tabs with an event between take and keep
        self._closed: set[str] = set()  # of those, the ones whose socket closed meanwhile
        _ALL.add(self)

    def __len__(self) -> int:
        return len(self._tabs)

    def take(self, tab: str) -> dict[str, Copy]:
        """The tab's copies, out of the cache until `keep` puts them back."""
        self._running.add(tab)
        found = self._tabs.pop(tab, None)
        return {} if found is None else found[1]

    def keep(self, tab: str, copies: dict[str, Copy]) -> None:
        """Keep `copies` as the tab's (none: leave the tab's as they are)."""
        now = time.monotonic()
        self._running.discard(tab)
        if tab in self._closed:
            self._closed.discard(tab)
            return
        if copies:
            self._tabs.pop(tab, None)
            self._tabs[tab] = (now, copies)
        while self._tabs and (
            len(self._tabs) > self.max_tabs
            or next(iter(self._tabs.values()))[0] < now - self.idle_seconds
        ):
            self._tabs.popitem(last=False)

    def forget(self, tab: str) -> None:
        self._tabs.pop(tab, None)
        if tab in self._running:
            self._closed.add(tab)


_ALL: weakref.WeakSet[TabStateCache] = weakref.WeakSet()


def forget_everywhere(tab: str) -> None:
    """Drop a tab's copies from every cache of this process (its socket closed here)."""
    for cache in list(_ALL):
        cache.forget(tab)


def install() -> None:
    """Let go of a tab's copies when its socket disconnects (once per process): a closed
    tab's states stay in Redis until they expire, not in the worker's memory."""
    if getattr(RedisTokenManager, "_health_app_forgets_copies", False):
        return
    original: Callable[..., Any] = RedisTokenManager.disconnect_token

    async def disconnect_token(self: RedisTokenManager, token: str, sid: str) -> None:
        forget_everywhere(token)
        await original(self, token, sid)

    setattr(RedisTokenManager, "disconnect_token", disconnect_token)  # noqa: B010
    setattr(RedisTokenManager, "_health_app_forgets_copies", True)  # noqa: B010
