"""A worker's one Redis connection for the per-event tab-state scripts, pipelined.

Every event of a tab runs two scripts (state_round_trips.py). Through redis-py 7 each
command passed its connection pool, retry wrapper, health check and event dispatch: under
load that client cost a fifth of a worker's CPU, three times what Redis itself spent
(py-spy, benchmarks/bench_load.py). Here the commands of all the worker's events go down
one connection, opened by redis-py (so TLS, AUTH and the database number are its own),
packed and parsed by hiredis, with the replies matched to their commands in order, which
Redis keeps per connection. Commands written in the same turn of the event loop leave in
one send.

Because one connection carries them all, a command sent after another is run after it:
the give-back of a lock always follows the script that took it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

_MORE = object()  # hiredis: no whole reply in the buffer yet
_READ_SIZE = 1 << 16


class RedisPipeline:
    """Commands of any number of tasks on one connection, each awaiting its own reply."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        # Held while in use: redis-py closes a Connection's socket when it is collected.
        self._connection: AbstractConnection | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outgoing: list[bytes] = []

    async def execute(self, *args: bytes | str | int | float) -> Any:
        """Send one command and wait for its reply; an error reply is raised as
        `ResponseError`, a lost connection as redis-py's `ConnectionError`."""
        if self._writer is None:
            await self._open()
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._waiting.append(reply)
        if not self._outgoing:
            loop.call_soon(self._flush)
        self._outgoing.append(hiredis.pack_command(args))  # pyright: ignore[reportArgumentType]  # its stub says a 1-tuple
        return await reply

    async def close(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        self._lost(RedisConnectionError("the Redis pipeline was closed"))

    async def _open(self) -> None:
        async with self._opening:
            if self._writer is None:
                connection = self._client.connection_pool.make_connection()
                await connection.connect()  # TLS, AUTH, SELECT: redis-py's handshake
                reader, writer = connection._reader, connection._writer
                assert reader is not None and writer is not None
                self._connection, self._writer = connection, writer
                self._reading = asyncio.create_task(self._read(reader))

    def _flush(self) -> None:
        # Commands queued for a connection lost since were failed and dropped with it.
        outgoing, self._outgoing = self._outgoing, []
        if outgoing and self._writer is not None:
            self._writer.writelines(outgoing)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader(notEnoughData=_MORE)
        try:
            while data := await reader.read(_READ_SIZE):
                parser.feed(data)
                while (reply := parser.gets()) is not _MORE:
                    waiter = self._waiting.popleft()
                    if waiter.done():  # its task was cancelled; the reply is not wanted
                        continue
                    if isinstance(reply, hiredis.ReplyError):
                        waiter.set_exception(ResponseError(str(reply)))
                    else:
                        waiter.set_result(reply)
            error: Exception = RedisConnectionError("Redis closed the connection")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken socket or a reply hiredis cannot read
            error = RedisConnectionError(f"the Redis connection failed: {exc!r}")
        self._lost(error)

    def _lost(self, error: Exception) -> None:
        """Fail every command still waiting; the next command opens a new connection."""
        connection, self._connection, self._writer = self._connection, None, None
        self._reading = None
        self._outgoing = []
        waiting, self._waiting = self._waiting, collections.deque()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)
        if connection is not None and connection._writer is not None:
            connection._writer.close()
