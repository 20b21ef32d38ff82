"""A worker hears of a tab's lock being released only while one of its events waits for it.

Reflex subscribes every worker to the keyspace notifications of every tab's lock (the
pattern `__keyspace@0__:*_lock`), so each event's release reached every worker, which
parsed it and found nobody waiting: with N workers each one parsed N times the events it
answered (py-spy, benchmarks/bench_load.py: 3.8 % of a worker's CPU with two workers at
500 events/s, and Redis's own work of sending them), a cost that grows with every worker
added. Here a worker subscribes to one lock's channel while an event of its waits for that
lock (Reflex's wait is rare: a tab's events are one at a time, and its socket stays on one
worker), and leaves it when the last such event has the lock.

Reflex's wait tries the lock, then waits for a release. The channel's subscription is
confirmed by Redis before the first try, so a release between the try and the wait is
heard. Should the subscriber's connection drop, the channels still waited for are
subscribed to again (by redis-py as it reconnects, or by the subscriber Reflex restarts),
and a release missed meanwhile is caught by Reflex's own retry when the lock would have
expired. With opportunistic locks on (not this app's setting) Reflex's subscriber is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio.client import PubSub
from reflex.istate.manager.redis import StateManagerRedis

log = logging.getLogger(__name__)

# How long a waiter lets Redis take to confirm its channel before it goes on without it
# (then only the lock's expiry wakes it, as before the subscription existed).
CONFIRM_SECONDS = 2.0


class LockWaits:
    """One worker's subscriptions to lock channels: a count of waiters per channel, and
    whether Redis has confirmed it (every SUBSCRIBE sent has had its reply)."""

    def __init__(self, db: int) -> None:
        self.prefix = f"__keyspace@{db}__:".encode()
        # A channel of this worker alone: redis-py's listen() ends without a subscription.
        self.own = f"health_app_lock_waits_{uuid.uuid4().hex}".encode()
        self.pubsub: PubSub | None = None
        self.waiters: dict[bytes, int] = {}
        self.unconfirmed: dict[bytes, int] = {}  # SUBSCRIBEs sent, replies not yet read
        self.confirmed: dict[bytes, asyncio.Event] = {}

    def channel(self, lock_key: bytes) -> bytes:
        return self.prefix + lock_key

    async def enter(self, channel: bytes) -> None:
        """Count a waiter in; the channel is subscribed to once it has one (awaits Redis's
        confirmation, at most CONFIRM_SECONDS)."""
        count = self.waiters.get(channel, 0)
        self.waiters[channel] = count + 1
        if count == 0 and self.pubsub is not None:
            self.confirmed[channel] = asyncio.Event()
            self.unconfirmed[channel] = self.unconfirmed.get(channel, 0) + 1
            try:
                await self.pubsub.subscribe(channel)
            except Exception:  # Redis away: the lock's expiry is the fallback
                log.warning("could not subscribe to a tab lock's release", exc_info=True)
                self.confirmed.pop(channel, None)
                return
        found = self.confirmed.get(channel)
        if found is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(found.wait(), CONFIRM_SECONDS)

    async def leave(self, channel: bytes) -> None:
        count = self.waiters.get(channel, 0) - 1
        if count > 0:
            self.waiters[channel] = count
            return
        self.waiters.pop(channel, None)
        self.confirmed.pop(channel, None)
        if self.pubsub is not None:
            with contextlib.suppress(Exception):  # gone with the connection anyway
                await self.pubsub.unsubscribe(channel)

    def heard_subscribed(self, channel: bytes) -> None:
        left = self.unconfirmed.get(channel, 0) - 1
        if left > 0:
            self.unconfirmed[channel] = left
            return
        # Zero, or below after a reconnect's subscriptions: all sent have been answered.
        self.unconfirmed.pop(channel, None)
        if (found := self.confirmed.get(channel)) is not None:
            found.set()

    def connection_lost(self) -> None:
        """Until the next connection confirms them, no channel counts as listened to."""
        self.pubsub = None
        self.unconfirmed.clear()
        self.confirmed = {channel: asyncio.Event() for channel in self.waiters}


def lock_waits(manager: StateManagerRedis) -> LockWaits:
    found: LockWaits | None = getattr(manager, "_health_app_lock_waits", None)
    if found is None:
        db = int(manager.redis.get_connection_kwargs().get("db", 0) or 0)
        found = LockWaits(db)
        setattr(manager, "_health_app_lock_waits", found)  # noqa: B010
    return found


def install() -> None:
    """Replace Reflex's subscriber and waiter registration (once per process)."""
    if getattr(StateManagerRedis, "_health_app_waits_installed", False):
        return
    subscribe_all: Callable[[StateManagerRedis], Any] = StateManagerRedis._subscribe_lock_updates
    register: Callable[..., Any] = StateManagerRedis._lock_waiter

    async def subscribe_while_waited_for(self: StateManagerRedis) -> None:
        if self._oplock_enabled:
            await subscribe_all(self)
            return
        await self._enable_keyspace_notifications()
        waits = lock_waits(self)
        async with self.redis.pubsub() as pubsub:
            # After a lost connection: the locks still waited for are listened to again.
            waited = list(waits.waiters)
            for channel in waited:
                waits.unconfirmed[channel] = 1
            await pubsub.subscribe(waits.own, *waited)
            waits.pubsub = pubsub
            try:
                async for message in pubsub.listen():
                    kind, channel = message["type"], message["channel"]
                    if kind == "message":
                        await self._handle_lock_release(message)
                    elif kind == "subscribe" and channel == waits.own:
                        self._lock_updates_subscribed.set()
                    elif kind == "subscribe":
                        waits.heard_subscribed(channel)
            finally:
                waits.connection_lost()
                self._lock_updates_subscribed.clear()

    @contextlib.asynccontextmanager
    async def waiter(self: StateManagerRedis, lock_key: bytes) -> AsyncIterator[asyncio.Event]:
        if self._oplock_enabled:
            async with register(self, lock_key) as released:
                yield released
            return
        waits = lock_waits(self)
        channel = waits.channel(lock_key)
        async with register(self, lock_key) as released:
            try:
                await waits.enter(channel)  # counted in before its first await
                yield released
            finally:
                await waits.leave(channel)

    setattr(StateManagerRedis, "_subscribe_lock_updates", subscribe_while_waited_for)  # noqa: B010
    setattr(StateManagerRedis, "_lock_waiter", waiter)  # noqa: B010
    setattr(StateManagerRedis, "_health_app_waits_installed", True)  # noqa: B010
