"""A tab whose worker died reconnects to another worker with its state.

With several workers, Reflex records in Redis which worker holds each tab's socket (for
an hour), and a tab that connects while such a record exists is taken for a duplicated
browser tab: it gets a new token and starts from empty state. A worker that stops
gracefully deletes its records; a worker that is killed (out of memory, a crash, a
deployment that does not wait) leaves them, so every tab it served would lose what the
person had chosen or typed.

Each worker here listens on a Redis channel named after itself. The connection of a
killed worker closes with it, so `PUBSUB NUMSUB` says at once that nobody listens: a
record naming such a worker is stale and is removed before Reflex looks, and the tab
keeps its token and its state. A live owner still means a real duplicate tab.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from typing import Any

import reflex as rx
from reflex.utils.token_manager import RedisTokenManager

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "health_app_worker_alive_"
CHECK_SECONDS = 1.0


def _channel(instance_id: str) -> str:
    return f"{CHANNEL_PREFIX}{instance_id}"


async def owner_is_alive(manager: RedisTokenManager, instance_id: str) -> bool:
    counts = await manager.redis.pubsub_numsub(_channel(instance_id))
    return any(count for _, count in counts)


async def drop_record_of_dead_worker(manager: RedisTokenManager, token: str) -> None:
    key = manager._get_redis_key(token)
    raw = await manager.redis.get(key)
    if not raw:
        return
    owner = pickle.loads(raw).instance_id  # noqa: S301 (Reflex's own record, in our Redis)
    if owner != manager.instance_id and not await owner_is_alive(manager, owner):
        await manager.redis.delete(key)
        log.info("a tab of a worker that is gone reconnected; its state is kept")


def install() -> None:
    """Check the owner's liveness before Reflex's duplicate-tab rule (once per process)."""
    if getattr(RedisTokenManager, "_health_app_liveness", False):
        return
    original = RedisTokenManager.link_token_to_sid

    async def link_token_to_sid(self: RedisTokenManager, token: str, sid: str) -> str | None:
        try:
            await drop_record_of_dead_worker(self, token)
        except Exception:  # Redis trouble: Reflex's own rule decides, as before
            log.warning("could not check the worker of a reconnecting tab", exc_info=True)
        return await original(self, token, sid)

    RedisTokenManager.link_token_to_sid = link_token_to_sid
    RedisTokenManager._health_app_liveness = True  # type: ignore[attr-defined]


async def liveness_lifespan(app: rx.App) -> None:
    """A Reflex lifespan task: listen on this worker's channel for as long as it lives."""
    namespace: Any = app.event_namespace
    manager = getattr(namespace, "_token_manager", None)
    if not isinstance(manager, RedisTokenManager):
        return  # one worker, no Redis: nothing is shared
    while True:
        try:
            await _listen(manager)
        except asyncio.CancelledError:
            raise
        except Exception:  # Redis restarted or unreachable: listen again when it is back
            log.warning("lost the worker liveness channel; listening again", exc_info=True)
            await asyncio.sleep(CHECK_SECONDS)


async def _listen(manager: RedisTokenManager) -> None:
    pubsub = manager.redis.pubsub()
    listening = ""
    try:
        while True:
            # Reflex gives each worker a fresh identity as it starts: follow it.
            if manager.instance_id != listening:
                if listening:
                    await pubsub.unsubscribe(_channel(listening))
                listening = manager.instance_id
                await pubsub.subscribe(_channel(listening))
            await pubsub.get_message(ignore_subscribe_messages=True, timeout=CHECK_SECONDS)
    finally:
        await pubsub.aclose()
