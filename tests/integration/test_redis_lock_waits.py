"""A worker hears of a tab's lock release only while one of its events waits for it
(health_app/redis_lock_waits.py), on a real Redis with two workers' state managers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken

from health_app import redis_lock_waits, state_prefetch, state_round_trips
from health_app.state.dashboard import DashboardState

PATH = DashboardState.get_full_name().split(".")
LOCK_CHANNELS = "__keyspace@0__:*_lock"


@pytest.fixture(autouse=True)
def _installed() -> None:
    state_prefetch.install()
    state_round_trips.install()
    redis_lock_waits.install()


def _run(
    redis_url: str,
    scenario: Callable[[Redis, StateManagerRedis, StateManagerRedis], Awaitable[Any]],
) -> Any:
    """`scenario` with two workers' managers on one Redis (and a client of its own)."""

    async def main() -> Any:
        redis = Redis.from_url(redis_url)
        first = StateManagerRedis(redis=Redis.from_url(redis_url))
        second = StateManagerRedis(redis=Redis.from_url(redis_url))
        try:
            return await scenario(redis, first, second)
        finally:
            await first.close()
            await second.close()
            await redis.aclose()

    return asyncio.run(main())


async def _subscribers(redis: Redis, lock_key: bytes) -> int:
    found = await redis.pubsub_numsub(b"__keyspace@0__:" + lock_key)
    return int(found[0][1])


async def _set_pending(manager: StateManagerRedis, tab: str, value: int) -> float:
    """An event of `tab` that sets the dashboard's count; when it got the lock."""
    token = BaseStateToken(ident=tab, cls=DashboardState)
    async with manager.modify_state(token) as root:
        root.get_substate(PATH).pending_applications = value
        return time.monotonic()


async def _pending(manager: StateManagerRedis, tab: str) -> int:
    token = BaseStateToken(ident=tab, cls=DashboardState)
    async with manager.modify_state(token) as root:
        return root.get_substate(PATH).pending_applications


def test_no_worker_hears_of_a_lock_nobody_waits_for(redis_url: str) -> None:
    async def scenario(redis: Redis, first: StateManagerRedis, _: StateManagerRedis) -> object:
        for n in range(5):
            await _set_pending(first, "tab-quiet", n)
        patterns = await redis.pubsub_numpat()
        channels = await redis.pubsub_channels(LOCK_CHANNELS)
        return patterns, channels, await _pending(first, "tab-quiet")

    patterns, channels, pending = _run(redis_url, scenario)
    assert (patterns, channels) == (0, [])  # Reflex's pattern matched every lock
    assert pending == 4


def test_an_event_waiting_on_another_worker_hears_the_release_at_once(redis_url: str) -> None:
    async def scenario(
        redis: Redis, first: StateManagerRedis, second: StateManagerRedis
    ) -> tuple[int, int, float, int]:
        token = BaseStateToken(ident="tab-shared", cls=DashboardState)
        holding, release = asyncio.Event(), asyncio.Event()

        async def long_event() -> float:
            async with first.modify_state(token) as root:
                root.get_substate(PATH).pending_applications = 1
                holding.set()
                await release.wait()
            return time.monotonic()

        held = asyncio.create_task(long_event())
        await holding.wait()
        waiting = asyncio.create_task(_set_pending(second, "tab-shared", 2))
        while not await _subscribers(redis, b"tab-shared_lock"):
            await asyncio.sleep(0.01)
        listening = await _subscribers(redis, b"tab-shared_lock")
        release.set()
        released_at, got_at = await held, await asyncio.wait_for(waiting, 5)
        after = await _subscribers(redis, b"tab-shared_lock")
        return listening, after, got_at - released_at, await _pending(first, "tab-shared")

    listening, after, delay, pending = _run(redis_url, scenario)
    assert listening == 1  # the waiting worker alone, for this lock alone
    assert after == 0  # and no longer once it has the lock
    assert delay < 1.0  # heard, not the lock's expiry (10 s)
    assert pending == 2  # the second event ran after the first, on its states


def test_several_waiting_events_of_a_tab_share_one_subscription_and_keep_their_order(
    redis_url: str,
) -> None:
    async def scenario(redis: Redis, first: StateManagerRedis, _: StateManagerRedis) -> object:
        await redis.set(b"tab-queue_lock", b"another-worker", px=10_000)
        order: list[int] = []

        async def event(n: int) -> None:
            await _set_pending(first, "tab-queue", n)
            order.append(n)

        tasks = []
        for n in range(1, 4):
            tasks.append(asyncio.create_task(event(n)))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        listening = await _subscribers(redis, b"tab-queue_lock")
        started = time.monotonic()
        await redis.delete(b"tab-queue_lock")
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        took = time.monotonic() - started
        left = await redis.pubsub_channels(LOCK_CHANNELS)
        return listening, order, took, left

    listening, order, took, left = _run(redis_url, scenario)
    assert listening == 1
    assert order == [1, 2, 3]
    assert took < 1.0
    assert left == []


def test_a_worker_whose_subscriber_was_cut_off_hears_releases_again(redis_url: str) -> None:
    async def scenario(redis: Redis, first: StateManagerRedis, _: StateManagerRedis) -> float:
        await _set_pending(first, "tab-cut", 1)
        await redis.set(b"tab-cut_lock", b"another-worker", px=10_000)
        waiting = asyncio.create_task(_set_pending(first, "tab-cut", 2))
        while not await _subscribers(redis, b"tab-cut_lock"):
            await asyncio.sleep(0.01)
        await redis.client_kill_filter(_type="pubsub")  # a failover, a proxy's idle cut
        while not await _subscribers(redis, b"tab-cut_lock"):  # redis-py's reconnect
            await asyncio.sleep(0.05)
        await redis.delete(b"tab-cut_lock")
        await asyncio.wait_for(waiting, 5)  # listened to again on the new connection
        # The next wait on this worker is heard at once again.
        await redis.set(b"tab-cut_lock", b"another-worker", px=10_000)
        again = asyncio.create_task(_set_pending(first, "tab-cut", 3))
        while not await _subscribers(redis, b"tab-cut_lock"):
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await redis.delete(b"tab-cut_lock")
        await asyncio.wait_for(again, 5)
        return time.monotonic() - started

    assert _run(redis_url, scenario) < 1.0


def test_a_cancelled_waiting_event_leaves_no_subscription_behind(redis_url: str) -> None:
    """Cancelled while Redis's confirmation of its channel is still awaited (a newer page
    load superseded it): counted out all the same."""

    async def scenario(redis: Redis, first: StateManagerRedis, _: StateManagerRedis) -> object:
        await redis.set(b"tab-gone_lock", b"another-worker", px=10_000)
        waits = redis_lock_waits.lock_waits(first)
        waits.heard_subscribed = lambda channel: None  # type: ignore[method-assign]
        waiting = asyncio.create_task(_set_pending(first, "tab-gone", 1))
        while not await _subscribers(redis, b"tab-gone_lock"):
            await asyncio.sleep(0.01)
        assert waits.confirmed[b"__keyspace@0__:tab-gone_lock"].is_set() is False
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.1)
        left = await redis.pubsub_channels(LOCK_CHANNELS)
        return left, waits.waiters

    left, waiters = _run(redis_url, scenario)
    assert (left, waiters) == ([], {})
