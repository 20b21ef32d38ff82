"""A tab's event takes its state from Redis in one round trip and gives it back in one.

Reflex (0.10, without its opportunistic locks) spends four Redis commands on every event
of a tab: SET NX for the tab's lock, MGET for its states, a script that writes the changed
states while the lock is still held, and GETDEL to release the lock. Under load these
were the largest part of a worker's CPU (py-spy, benchmarks/bench_load.py). Here the
first two are one script (take the lock; if taken, read the states) and the last two
another (if the lock is still ours: write the changed states and release it). Both go
down the worker's pipelined connection (redis_pipeline.py), not redis-py's pool.

Nothing else changes: the lock, its expiry and the fencing are Reflex's, states are
written as Reflex writes them (`_collect_state_writes`), and a state is durable in Redis
once its event has finished, so a worker killed between two events loses nothing (the
opportunistic locks, which keep states in the worker for seconds, would lose them). When
the lock is busy, or this worker already queues for it, the event waits as Reflex's own
path waits (keyspace notifications), by calling it.

The take also says which states the worker still holds a copy of from the tab's previous
event here (tab_state_cache.py); Redis sends only those that changed since, and the rest
are not unpickled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken
from reflex.state import BaseState, OnLoadInternalState
from reflex_base.event.context import EventContext
from reflex_base.utils.exceptions import LockExpiredError, StateSchemaMismatchError

from health_app.page_loads import states_opened_by
from health_app.redis_locks import RELEASE_IF_OURS
from health_app.redis_pipeline import RedisPipeline
from health_app.tab_state_cache import Copy, TabStateCache, digest

log = logging.getLogger(__name__)

# KEYS: the lock, then the state keys. ARGV: the lock id, the lock's expiry in ms, then
# for each state key the SHA-1 of the copy this worker holds ('' for none; see
# tab_state_cache.py). Nil when someone holds the lock; else, in KEYS order, each state's
# bytes, or 1 where the worker's copy is what Redis holds (false where none is stored).
# A lock that already holds our id is ours: this script sent again after its reply was
# lost.
_TAKE_AND_READ = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
    and redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return nil
end
local states = {}
for i = 2, #KEYS do
    local state = redis.call('GET', KEYS[i])
    if state and ARGV[i + 1] ~= '' and redis.sha1hex(state) == ARGV[i + 1] then
        state = 1
    end
    states[i - 1] = state
end
return states
"""

# KEYS: the lock, then the state keys. ARGV: the lock id, the states' expiry in seconds,
# then the serialized states in KEYS order. Writes and releases only while the lock is
# ours; nil when it expired or changed hands (then nothing is written).
_WRITE_AND_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return nil
end
for i = 2, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[2])
end
return redis.call('DEL', KEYS[1])
"""


# The keyspace notifications Redis sends every worker. An event waiting for a tab's lock
# needs to hear only that the lock went: deleted or expired (g, x; e for evicted). Reflex
# also asks for string and set commands ($, s) for its opportunistic locks, which made each
# event send every worker a third message (the lock's SET) to parse.
KEYSPACE_EVENTS = "Kgxe"


def _states_read(
    manager: StateManagerRedis, cls: type[BaseState], router_data: dict[str, Any]
) -> set[type[BaseState]]:
    """The states an event of `cls` reads: Reflex's choice, and for a page-load event the
    states of the page's on-load handlers it runs (page_loads.py)."""
    needed = manager._get_required_state_classes(cls, subclasses=True)
    if cls is OnLoadInternalState:
        for page_state in states_opened_by(router_data):
            needed |= manager._get_required_state_classes(page_state, subclasses=True)
    return needed


def _router_data() -> dict[str, Any]:
    """The router data of the event being handled (none outside a tab's event)."""
    try:
        return EventContext.get().router_data
    except LookupError:
        return {}


def _tree(
    token: BaseStateToken,
    classes: list[type[BaseState]],
    keys: list[str],
    found: list[bytes | int | None],
    copies: dict[str, Copy],
    keeping: bool,
) -> tuple[BaseState, dict[str, Copy]]:
    """The tab's root state with `classes` attached, as Reflex's `get_state` builds it:
    the worker's copy where Redis holds the same (1 in `found`), else from the serialized
    form, else a new state (Redis had none, or an older schema). With it, when the event's
    states will be kept, each state read from Redis and the digest of what Redis held."""
    by_name: dict[str, BaseState] = {}
    read: dict[str, Copy] = {}
    for cls, key, data in zip(classes, keys, found, strict=True):
        state = None
        if isinstance(data, int):
            copy = read[key] = copies[key]
            state = copy.state
            state._init_bookkeeping()  # as unpickling leaves it: no parent, nothing dirty
        elif data is not None:
            with contextlib.suppress(StateSchemaMismatchError):
                state = BaseState._deserialize(data=data)
            if state is not None and keeping:
                read[key] = Copy(digest(data), state)
        if state is None:
            state = cls(init_substates=False, _reflex_internal_init=True)
        name = state.get_full_name()
        by_name[name] = state
        if state.get_parent_state() is not None:
            parent_name, _dot, own_name = name.rpartition(".")
            parent = by_name[parent_name]  # sorted by name: parents come first
            parent.substates[own_name] = state
            state.parent_state = parent
    return by_name[token.cls.get_root_state().get_full_name()], read


def _copies_left(
    root: BaseState,
    keys: dict[type[BaseState], str],
    taken: dict[str, Copy],
    read: dict[str, Copy],
    writes: list[tuple[str, bytes]],
) -> dict[str, Copy]:
    """The copies to keep once the event has written: the states of its tree whose bytes
    in Redis are known (those it wrote, those it read and left alone), and the copies it
    did not read (another page's states; the next take checks them as it checks all). A
    state the handler fetched on its own (not read by the take) is left out."""
    written = dict(writes)
    read_now = set(keys.values())
    copies = {key: copy for key, copy in taken.items() if key not in read_now}
    todo = [root]
    while todo:
        state = todo.pop()
        todo.extend(state.substates.values())
        key = keys.get(type(state))
        if key is None:
            continue
        if (data := written.get(key)) is not None:
            copies[key] = Copy(digest(data), state)
        elif (was := read.get(key)) is not None and was.state is state:
            copies[key] = was
    return copies


# Event name -> whether its tree may be taken apart when the event ends (see _let_go).
_foreground: dict[str, bool] = {}


def _is_foreground(root_cls: type[BaseState], name: str | None) -> bool:
    """Whether `name` is a known handler that runs under the lock (not a background task,
    whose proxy keeps reading its tree after the lock is given back)."""
    if name is None:
        return False
    known = _foreground.get(name)
    if known is None:
        path, _dot, handler_name = name.rpartition(".")
        try:
            handler = root_cls.get_class_substate(path).event_handlers.get(handler_name)
        except ValueError:
            return False  # not a state of ours: not cached, so no name can grow the cache
        if handler is None:
            return False
        known = _foreground[name] = not handler.is_background
    return known


def _let_go(root: BaseState) -> None:
    """Unlink the tab's state tree once its event is done with it.

    Each state points at its parent and the parent at it, so without this every event
    left a cycle (its states and all they hold) for the garbage collector: most of a
    worker's collections under load, and the full ones paused every tab for up to
    200 ms. Unlinked, the tree is freed the moment the event lets go of it.
    """
    todo = [root]
    while todo:
        state = todo.pop()
        todo.extend(state.substates.values())
        state.substates.clear()
        state.parent_state = None


async def _sent_again_if_dropped(pipeline: RedisPipeline, *command: bytes | str | int) -> Any:
    """A script's reply, sending it once more on a new connection if the connection dropped
    first (a Redis failover, a managed Redis closing connections). Without this the event
    failed and, the give-back failing too, the tab waited for its lock to expire (10 s).
    Both scripts are safe to repeat: the take counts a lock holding our id as taken; a write
    that had run finds the lock gone and is reported lost although it was kept, never the
    other way round."""
    try:
        return await pipeline.execute(*command)
    except RedisConnectionError:
        log.warning("Redis dropped the connection during a tab's event; sending its script again")
        return await pipeline.execute(*command)


def _cache(manager: StateManagerRedis) -> TabStateCache:
    """The manager's copies of the tab states its events left."""
    found: TabStateCache | None = getattr(manager, "_health_app_copies", None)
    if found is None:
        found = TabStateCache()
        setattr(manager, "_health_app_copies", found)  # noqa: B010
    return found


def _pipeline(manager: StateManagerRedis) -> RedisPipeline:
    """The manager's pipelined connection for the running event loop."""
    loop = asyncio.get_running_loop()
    found: tuple[asyncio.AbstractEventLoop, RedisPipeline] | None = getattr(
        manager, "_health_app_pipeline", None
    )
    if found is None or found[0] is not loop:
        found = (loop, RedisPipeline(manager.redis))
        setattr(manager, "_health_app_pipeline", found)  # noqa: B010
    return found[1]


async def _give_back(pipeline: RedisPipeline, lock_key: bytes, lock_id: bytes) -> None:
    """Release the tab's lock at once if it is still ours; shielded, since a cancelled
    task must still finish this. Sent down the pipeline that took it, so it runs after the
    take. Redis away: the lock expires by itself."""
    with contextlib.suppress(Exception):
        await asyncio.shield(pipeline.execute("EVAL", RELEASE_IF_OURS, 1, lock_key, lock_id))


def install() -> None:
    """Wrap Reflex's per-event state access (once per process)."""
    if getattr(StateManagerRedis, "_health_app_two_trips", False):
        return
    original: Callable[..., Any] = StateManagerRedis._try_modify_state

    @contextlib.asynccontextmanager
    async def two_trips(
        self: StateManagerRedis, token: Any, **context: Any
    ) -> AsyncIterator[BaseState | None]:
        lock_key = self._lock_key(token)
        if (
            self._oplock_enabled
            or not isinstance(token, BaseStateToken)
            or self._n_lock_waiters(lock_key)  # others here wait first: keep their order
        ):
            async with original(self, token, **context) as state:
                yield state
            return
        event = context.get("event")
        name = getattr(event, "name", None)
        lock_id = (f"{name}:{uuid.uuid4().hex}" if name else uuid.uuid4().hex).encode()
        classes = sorted(
            _states_read(self, token.cls, _router_data()), key=lambda c: c.get_full_name()
        )
        keys = [token._state_key(c) for c in classes]
        keeping = _is_foreground(token.cls.get_root_state(), name)
        cache = _cache(self)
        copies = cache.take(token.ident) if keeping else {}
        held = [copies[key].digest if key in copies else "" for key in keys]
        pipeline = _pipeline(self)
        try:
            found = await _sent_again_if_dropped(
                pipeline, "EVAL", _TAKE_AND_READ, 1 + len(keys), lock_key, *keys, lock_id,
                self.lock_expiration, *held,
            )  # fmt: skip
        except BaseException as exc:
            if keeping:
                cache.keep(token.ident, {})  # the copies taken out are let go
            if isinstance(exc, asyncio.CancelledError):
                # Superseded by a newer page load: the script may have taken the lock before
                # the cancel landed, and the tab would wait for it to expire (redis_locks.py).
                await _give_back(pipeline, lock_key, lock_id)
            raise
        if found is None:  # held elsewhere: wait for it as Reflex does
            if keeping:  # untouched; the next take checks them again
                cache.keep(token.ident, copies)
            async with original(self, token, **context) as state:
                yield state
            return
        released = False
        kept: dict[str, Copy] = {}  # none if the event fails
        root: BaseState | None = None
        try:
            root, read = _tree(
                token, classes, keys, cast(list[bytes | int | None], found), copies, keeping
            )
            yield root
            writes = self._collect_state_writes(token, root)
            done = await _sent_again_if_dropped(
                pipeline,
                "EVAL",
                _WRITE_AND_RELEASE,
                1 + len(writes),
                lock_key,
                *(key for key, _ in writes),
                lock_id,
                self.token_expiration,
                *(data for _, data in writes),
            )
            released = True
            if done is None:
                raise LockExpiredError(
                    f"Lock expired for token {token} while processing"
                    + (f" event {name}." if name else ".")
                )
            if keeping:
                by_class = dict(zip(classes, keys, strict=True))
                kept = _copies_left(root, by_class, copies, read, writes)
        finally:
            if keeping:
                cache.keep(token.ident, kept)
            if not released:  # the event failed or was cancelled
                await _give_back(pipeline, lock_key, lock_id)
            self._notify_next_waiter(lock_key)
            if root is not None and keeping:
                _let_go(root)

    close: Callable[[StateManagerRedis], Any] = StateManagerRedis.close

    async def close_with_pipeline(self: StateManagerRedis) -> None:
        found = getattr(self, "_health_app_pipeline", None)
        if found is not None and found[0] is asyncio.get_running_loop():
            await found[1].close()
        await close(self)

    enable_notifications: Callable[[StateManagerRedis], Any] = (
        StateManagerRedis._enable_keyspace_notifications
    )

    async def enable_fewer_notifications(self: StateManagerRedis) -> None:
        if not self._oplock_enabled:
            self._redis_notify_keyspace_events = KEYSPACE_EVENTS
        await enable_notifications(self)

    setattr(StateManagerRedis, "_try_modify_state", two_trips)  # noqa: B010
    setattr(StateManagerRedis, "_enable_keyspace_notifications", enable_fewer_notifications)  # noqa: B010
    setattr(StateManagerRedis, "close", close_with_pipeline)  # noqa: B010
    setattr(StateManagerRedis, "_health_app_two_trips", True)  # noqa: B010
