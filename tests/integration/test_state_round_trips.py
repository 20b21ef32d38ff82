"""A tab's event takes its states from a real Redis in one round trip and gives them back
in one (health_app/state_round_trips.py), with Reflex's lock rules kept: one event at a
time per tab, nothing written by an event that failed or lost its lock."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken
from reflex_base.event import Event
from reflex_base.utils.exceptions import LockExpiredError

from health_app import state_prefetch, state_round_trips
from health_app.state.dashboard import DashboardState
from health_app.state.visit_files import VisitFilesState
from health_app.state.visits import VisitsState

PATH = DashboardState.get_full_name().split(".")


@pytest.fixture(autouse=True)
def _installed() -> None:
    state_prefetch.install()
    state_round_trips.install()


def _counting(redis: Redis, manager: StateManagerRedis) -> list[str]:
    """The commands the worker sends from now on, through redis-py or the pipeline (a
    script's own calls are not sent)."""
    sent: list[str] = []
    send = redis.execute_command

    async def execute_command(*args: object, **options: object) -> object:
        sent.append(f"redis-py {str(args[0]).lower()}")
        return await send(*args, **options)

    pipeline = state_round_trips._pipeline(manager)
    execute = pipeline.execute

    async def pipelined(*args: bytes | str | int | float) -> object:
        sent.append(f"pipeline {str(args[0]).lower()}")
        return await execute(*args)

    redis.execute_command = execute_command  # type: ignore[method-assign]
    pipeline.execute = pipelined  # type: ignore[method-assign]
    return sent


def _run(redis_url: str, scenario, keyspace_events: str | None = None) -> object:  # type: ignore[no-untyped-def]
    async def main() -> object:
        redis = Redis.from_url(redis_url)
        if keyspace_events is not None:
            # Before the manager: it starts subscribing (and configuring) as it is made.
            await redis.config_set("notify-keyspace-events", keyspace_events)
        manager = StateManagerRedis(redis=redis)
        try:
            return await scenario(redis, manager)
        finally:
            await manager.close()

    return asyncio.run(main())


def test_an_event_is_two_commands_and_its_changes_are_kept(redis_url: str) -> None:
    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, list[str]]:
        token = BaseStateToken(ident="tab-1", cls=DashboardState)
        async with manager.modify_state(token) as root:
            root.get_substate(PATH).pending_applications = 3
        sent = _counting(redis, manager)
        async with manager.modify_state(token) as root:
            dashboard = root.get_substate(PATH)
            assert dashboard.pending_applications == 3  # written by the first event
            dashboard._get_state_from_cache(VisitsState).total = 7  # a sibling, fetched along
        used = list(sent)
        async with manager.modify_state(token) as root:
            total = root.get_substate(PATH)._get_state_from_cache(VisitsState).total
        assert await redis.exists(b"tab-1_lock") == 0  # released
        return total, used

    total, used = _run(redis_url, scenario)  # type: ignore[misc]
    assert total == 7
    # Before: SET NX, MGET, the fenced write, GETDEL, each through redis-py's pool.
    assert used == ["pipeline eval", "pipeline eval"], used


def test_a_failed_event_writes_nothing_and_gives_the_lock_back(redis_url: str) -> None:
    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        token = BaseStateToken(ident="tab-2", cls=DashboardState)
        with pytest.raises(RuntimeError):
            async with manager.modify_state(token) as root:
                root.get_substate(PATH).pending_applications = 5
                raise RuntimeError("the handler failed")
        held = await redis.exists(b"tab-2_lock")
        async with manager.modify_state(token) as root:
            return held, root.get_substate(PATH).pending_applications

    held, pending = _run(redis_url, scenario)  # type: ignore[misc]
    assert (held, pending) == (0, 0)


def test_events_of_one_tab_take_turns_across_workers(redis_url: str) -> None:
    """Two managers (two workers) add to one counter at once: no update is lost."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> int:
        other = StateManagerRedis(redis=Redis.from_url(redis_url))
        token = BaseStateToken(ident="tab-3", cls=DashboardState)

        async def add(m: StateManagerRedis) -> None:
            async with m.modify_state(token) as root:
                state = root.get_substate(PATH)
                seen = state.pending_applications
                await asyncio.sleep(0.002)  # a handler that takes a moment
                state.pending_applications = seen + 1

        await asyncio.gather(*(add(m) for _ in range(15) for m in (manager, other)))
        await other.close()
        async with manager.modify_state(token) as root:
            return root.get_substate(PATH).pending_applications

    assert _run(redis_url, scenario) == 30


def test_a_waiting_event_hears_of_the_release_with_only_the_notifications_it_needs(
    redis_url: str,
) -> None:
    """Redis is asked for deletions and expiries of keys, not for every SET of a lock."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[set[str], int]:
        token = BaseStateToken(ident="tab-wait", cls=DashboardState)
        await redis.set(b"tab-wait_lock", b"another-worker", px=10_000)

        async def event() -> int:
            async with manager.modify_state(token) as root:
                root.get_substate(PATH).pending_applications = 5
            return 5

        waiting = asyncio.create_task(event())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the lock is held elsewhere
        await redis.delete(b"tab-wait_lock")  # released: a "del" notification
        done = await asyncio.wait_for(waiting, 5)
        flags = (await redis.config_get("notify-keyspace-events"))["notify-keyspace-events"]
        return set(flags), done

    flags, done = _run(redis_url, scenario, keyspace_events="KEA")
    assert done == 5
    assert flags == set(state_round_trips.KEYSPACE_EVENTS)


def test_an_event_that_lost_its_lock_writes_nothing(redis_url: str) -> None:
    async def scenario(redis: Redis, manager: StateManagerRedis) -> int:
        token = BaseStateToken(ident="tab-4", cls=DashboardState)
        with pytest.raises(LockExpiredError):
            async with manager.modify_state(token) as root:
                root.get_substate(PATH).pending_applications = 9
                # The lock expired meanwhile and another event took it.
                await redis.set(b"tab-4_lock", b"another-event", px=50)
        await asyncio.sleep(0.1)
        async with manager.modify_state(token) as root:
            return root.get_substate(PATH).pending_applications

    assert _run(redis_url, scenario) == 0


def test_an_event_cancelled_as_it_takes_the_lock_gives_it_back(redis_url: str) -> None:
    """A newer page load cancels the event waiting for Redis's answer: the lock the script
    took is given back at once, not held until it expires (10 s of a blank page)."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        token = BaseStateToken(ident="tab-5", cls=DashboardState)
        pipeline = state_round_trips._pipeline(manager)
        run_script = pipeline.execute

        async def taken_then_cancelled(*args: bytes | str | int | float) -> object:
            pipeline.execute = run_script  # type: ignore[method-assign]  # this once
            await run_script(*args)  # Redis has run the script ...
            raise asyncio.CancelledError  # ... and the cancel lands before the reply is read

        pipeline.execute = taken_then_cancelled  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            async with manager.modify_state(token):
                pass
        held = await redis.exists(b"tab-5_lock")
        async with manager.modify_state(token) as root:
            root.get_substate(PATH).pending_applications = 1
        return held, await redis.exists(b"tab-5_lock")

    assert _run(redis_url, scenario) == (0, 0)


def _reply_lost_once(manager: StateManagerRedis, nth: int) -> None:
    """The `nth` script (1: the take, 2: the write) runs in Redis, then its connection
    drops before the reply comes."""
    pipeline = state_round_trips._pipeline(manager)
    execute = pipeline.execute
    calls = 0

    async def dropping(*args: bytes | str | int | float) -> object:
        nonlocal calls
        calls += 1
        reply = await execute(*args)
        if calls == nth:
            raise RedisConnectionError("Redis closed the connection")
        return reply

    pipeline.execute = dropping  # type: ignore[method-assign]


def test_a_take_whose_reply_was_lost_is_sent_again_and_counts(redis_url: str) -> None:
    """The take ran, its reply was lost: sent again, the lock holding our id is ours."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        token = BaseStateToken(ident="tab-6", cls=DashboardState)
        _reply_lost_once(manager, 1)
        async with manager.modify_state(token) as root:
            root.get_substate(PATH).pending_applications = 4
        held = await redis.exists(b"tab-6_lock")
        async with manager.modify_state(token) as root:
            return held, root.get_substate(PATH).pending_applications

    assert _run(redis_url, scenario) == (0, 4)


def test_a_write_whose_reply_was_lost_is_kept_and_the_tab_is_not_held(redis_url: str) -> None:
    """The write ran, its reply was lost: sent again it finds the lock gone and says so;
    the states are kept and the tab's next event does not wait for the lock to expire."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        token = BaseStateToken(ident="tab-7", cls=DashboardState)
        _reply_lost_once(manager, 2)
        with pytest.raises(LockExpiredError):
            async with manager.modify_state(token) as root:
                root.get_substate(PATH).pending_applications = 8
        held = await redis.exists(b"tab-7_lock")
        async with asyncio.timeout(2):
            async with manager.modify_state(token) as root:
                return held, root.get_substate(PATH).pending_applications

    assert _run(redis_url, scenario) == (0, 8)


def _event(state: type, handler: str) -> Event:
    return Event(name=f"{state.get_full_name()}.{handler}", payload={})


def test_a_handlers_states_are_freed_when_its_event_ends(redis_url: str) -> None:
    """Each state points at its parent and back: left linked, every event's tree waited
    for the garbage collector (whose full walks paused the worker)."""

    async def scenario(_redis: Redis, manager: StateManagerRedis) -> tuple[bool, bool]:
        token = BaseStateToken(ident="tab-free", cls=DashboardState)
        gc.disable()
        try:
            async with manager.modify_state(token, event=_event(DashboardState, "load")) as root:
                root_ref = weakref.ref(root)
                visits_ref = weakref.ref(root.get_substate(PATH)._get_state_from_cache(VisitsState))
                root.get_substate(PATH).pending_applications = 2
            del root
            return root_ref() is None, visits_ref() is None
        finally:
            gc.enable()

    assert _run(redis_url, scenario) == (True, True)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(VisitFilesState, "upload"), id="background task"),
        pytest.param(None, id="no event"),
        pytest.param(_event(DashboardState, "no_such_handler"), id="unknown handler"),
    ],
)
def test_a_tree_that_may_still_be_read_is_left_linked(redis_url: str, event: Event | None) -> None:
    """A background task's proxy reads its tree after the lock is given back; a caller
    with no event may too."""

    async def scenario(_redis: Redis, manager: StateManagerRedis) -> bool:
        token = BaseStateToken(ident="tab-linked", cls=DashboardState)
        context = {"event": event} if event is not None else {}
        async with manager.modify_state(token, **context) as root:
            dashboard = root.get_substate(PATH)
        return dashboard.parent_state is root and bool(root.substates)

    assert _run(redis_url, scenario) is True
