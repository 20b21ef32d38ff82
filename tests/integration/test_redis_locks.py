"""A tab's state lock in a real Redis is given back when the event that took it is
cancelled before it could use it (health_app/redis_locks.py)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from reflex.istate.manager.redis import StateManagerRedis

from health_app import redis_locks

LOCK = b"tab-token_lock"


def test_a_lock_taken_as_the_event_is_cancelled_is_given_back(redis_url: str) -> None:
    redis_locks.install()

    async def scenario() -> tuple[bytes | None, bytes | None]:
        redis = Redis.from_url(redis_url)
        manager = StateManagerRedis(redis=redis)
        take = manager._try_get_lock

        async def taken_then_cancelled(lock_key: bytes, lock_id: bytes) -> bool | None:
            await take(lock_key, lock_id)  # Redis has set it ...
            raise asyncio.CancelledError  # ... and the cancel lands before the reply is read

        manager._try_get_lock = taken_then_cancelled  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await manager._wait_lock(LOCK, b"superseded-event")
        after_cancel = await redis.get(LOCK)

        # Someone else's lock is never touched by a cancelled waiter.
        await redis.set(LOCK, b"other-event", px=10_000)
        manager._try_get_lock = take  # type: ignore[method-assign]
        waiting = asyncio.create_task(manager._wait_lock(LOCK, b"waiting-event"))
        await asyncio.sleep(0.3)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        held = await redis.get(LOCK)
        await manager.close()
        await redis.aclose()
        return after_cancel, held

    after_cancel, held = asyncio.run(scenario())
    assert after_cancel is None  # without the fix: held for 10 s by an event that is gone
    assert held == b"other-event"
