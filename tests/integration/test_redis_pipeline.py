"""A worker's pipelined Redis connection (health_app/redis_pipeline.py) against a real
Redis: each command gets its own reply whatever else is in flight, errors and lost
connections reach only the commands they concern, and redis-py's handshake is kept."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from health_app.redis_pipeline import RedisPipeline


def _run(url: str, scenario: Callable[[Redis, RedisPipeline], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        redis = Redis.from_url(url)
        pipeline = RedisPipeline(redis)
        try:
            return await scenario(redis, pipeline)
        finally:
            await pipeline.close()
            await redis.aclose()

    return asyncio.run(main())


def test_concurrent_commands_each_get_their_own_reply(redis_url: str) -> None:
    async def scenario(redis: Redis, pipeline: RedisPipeline) -> list[Any]:
        await pipeline.execute("SET", "counter", 0)

        async def one(n: int) -> tuple[bytes, int]:
            echoed = await pipeline.execute("ECHO", f"n{n}")
            return echoed, await pipeline.execute("INCR", "counter")

        return await asyncio.gather(*(one(n) for n in range(300)))

    replies = _run(redis_url, scenario)
    assert [echoed for echoed, _ in replies] == [f"n{n}".encode() for n in range(300)]
    assert sorted(count for _, count in replies) == list(range(1, 301))


def test_an_error_reply_fails_only_its_command(redis_url: str) -> None:
    async def scenario(redis: Redis, pipeline: RedisPipeline) -> list[Any]:
        await pipeline.execute("SET", "text", "not a number")
        return await asyncio.gather(
            pipeline.execute("ECHO", "before"),
            pipeline.execute("INCR", "text"),
            pipeline.execute("EVAL", "return KEYS[1]", 1, "after"),
            return_exceptions=True,
        )

    before, failed, after = _run(redis_url, scenario)
    assert before == b"before" and after == b"after"
    assert isinstance(failed, ResponseError) and "not an integer" in str(failed)


def test_a_cancelled_command_leaves_the_others_their_replies(redis_url: str) -> None:
    async def scenario(redis: Redis, pipeline: RedisPipeline) -> tuple[Any, ...]:
        await pipeline.execute("PING")  # open
        first = asyncio.ensure_future(pipeline.execute("ECHO", "first"))
        cancelled = asyncio.ensure_future(pipeline.execute("SET", "was-sent", "yes"))
        last = asyncio.ensure_future(pipeline.execute("ECHO", "last"))
        await asyncio.sleep(0)  # all three are queued
        cancelled.cancel()
        return await first, await last, await redis.get("was-sent"), cancelled.cancelled()

    # A command that has been queued still runs: only its reply is dropped.
    assert _run(redis_url, scenario) == (b"first", b"last", b"yes", True)


def test_a_lost_connection_fails_what_waits_and_the_next_command_reconnects(
    redis_url: str,
) -> None:
    async def scenario(redis: Redis, pipeline: RedisPipeline) -> tuple[Any, ...]:
        await pipeline.execute("CLIENT", "SETNAME", "pipelined")
        waiting = asyncio.ensure_future(pipeline.execute("BLPOP", "never-filled", 5))
        await asyncio.sleep(0.05)
        await redis.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        with pytest.raises(RedisConnectionError):
            await waiting
        return await pipeline.execute("ECHO", "again"), await pipeline.execute("CLIENT", "GETNAME")

    assert _run(redis_url, scenario) == (b"again", None)  # a new connection


def test_the_connection_is_opened_as_redis_py_opens_it(redis_url: str) -> None:
    """The database number (and TLS and AUTH, by the same code) are redis-py's own."""

    async def scenario(redis: Redis, pipeline: RedisPipeline) -> tuple[Any, ...]:
        other_db = RedisPipeline(Redis.from_url(f"{redis_url}/3"))
        try:
            await other_db.execute("SET", "where", "db3")
        finally:
            await other_db.close()
        return await redis.get("where"), await Redis.from_url(f"{redis_url}/3").get("where")

    assert _run(redis_url, scenario) == (None, b"db3")
