"""A tab's state lock in Redis is released when the event waiting for it is cancelled.

Reflex takes a tab's lock with `SET key id NX PX 10000` before it handles an event. When a
new page load supersedes an event still waiting for the lock, Reflex cancels it; if the
cancel lands after Redis took the SET but before Reflex read the reply, the lock stays
held by an event that no longer exists, and the tab's next events wait for it to expire:
a blank page for up to ten seconds (found by the load benchmark: 5-8 % of quick page
changes with Redis, none with one worker's memory). Here a cancelled wait gives the lock
back when it is ours, before the cancel goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from reflex.istate.manager.redis import StateManagerRedis

log = logging.getLogger(__name__)

# Deletes the key only while it still holds our id (another event may own it by now).
RELEASE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


async def release_if_ours(redis: Any, lock_key: bytes, lock_id: bytes) -> bool:
    return bool(await redis.eval(RELEASE_IF_OURS, 1, lock_key, lock_id))


def install() -> None:
    """Wrap Reflex's lock wait (once per process)."""
    if getattr(StateManagerRedis, "_health_app_cancel_safe", False):
        return
    original: Callable[..., Awaitable[None]] = StateManagerRedis._wait_lock

    async def wait_lock(self: StateManagerRedis, lock_key: bytes, lock_id: bytes) -> None:
        try:
            await original(self, lock_key, lock_id)
        except asyncio.CancelledError:
            # Shielded: the release must finish although this task is being cancelled.
            try:
                if await asyncio.shield(release_if_ours(self.redis, lock_key, lock_id)):
                    log.info("a cancelled event gave back the tab lock it had just taken")
            except Exception:  # Redis away: the lock expires by itself, as before
                log.warning("could not give back a cancelled event's tab lock", exc_info=True)
            raise

    StateManagerRedis._wait_lock = wait_lock  # type: ignore[method-assign]
    StateManagerRedis._health_app_cancel_safe = True  # type: ignore[attr-defined]
