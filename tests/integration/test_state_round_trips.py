"""A tab's event takes its states from a real Redis in one round trip and gives them back
in one (health_app/state_round_trips.py), with Reflex's lock rules kept: one event at a
time per tab, nothing written by an event that failed or lost its lock."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from typing import Any, cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken
from reflex.state import BaseState
from reflex.utils.token_manager import RedisTokenManager
from reflex_base.event import Event
from reflex_base.utils.exceptions import LockExpiredError

from health_app import state_prefetch, state_round_trips, tab_state_cache
from health_app.state.dashboard import DashboardState
from health_app.state.find import FindDoctorState
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


def test_a_handlers_states_are_unlinked_when_its_event_ends(redis_url: str) -> None:
    """Each state points at its parent and back: left linked, every event's tree waited
    for the garbage collector (whose full walks paused the worker). The copies the worker
    keeps are unlinked too, and freed at once when the tab's socket closes."""

    async def scenario(_redis: Redis, manager: StateManagerRedis) -> tuple[bool, ...]:
        token = BaseStateToken(ident="tab-free", cls=DashboardState)
        gc.disable()
        try:
            for pending in (2, 3):  # the second event starts from the first one's copies
                async with manager.modify_state(
                    token, event=_event(DashboardState, "load")
                ) as root:
                    root_ref = weakref.ref(root)
                    dashboard = root.get_substate(PATH)
                    dashboard_ref = weakref.ref(dashboard)
                    visits = dashboard._get_state_from_cache(VisitsState)
                    visits_ref = weakref.ref(visits)
                    dashboard.pending_applications = pending
                    visits.total = pending
            del root, dashboard, visits
            kept = dashboard_ref(), visits_ref()  # written: the worker keeps copies
            unlinked = all(s is not None and s.parent_state is None for s in kept)
            del kept
            tab_state_cache.forget_everywhere("tab-free")
            return unlinked, root_ref() is None, dashboard_ref() is None, visits_ref() is None
        finally:
            gc.enable()

    assert _run(redis_url, scenario) == (True, True, True, True)


def _counting_unpickles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the states unpickled from now on."""
    unpickled: list[str] = []
    deserialize = BaseState._deserialize.__func__  # type: ignore[attr-defined]

    def counted(cls: type[BaseState], data: bytes | None = None, fp: object = None) -> BaseState:
        state = deserialize(cls, data=data, fp=fp)
        unpickled.append(type(state).__name__)
        return state

    monkeypatch.setattr(BaseState, "_deserialize", classmethod(counted))
    return unpickled


def _load(dashboard_pending: int | None = None) -> Callable[[StateManagerRedis, str], Any]:
    async def run(manager: StateManagerRedis, tab: str) -> int:
        token = BaseStateToken(ident=tab, cls=DashboardState)
        async with manager.modify_state(token, event=_event(DashboardState, "load")) as root:
            dashboard = root.get_substate(PATH)
            if dashboard_pending is not None:
                dashboard.pending_applications = dashboard_pending
            return dashboard.pending_applications

    return run


def test_a_tabs_next_event_here_unpickles_nothing_its_last_one_left(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(_redis: Redis, manager: StateManagerRedis) -> tuple[list[int], list[str]]:
        await _load(1)(manager, "tab-copy")
        async with manager.modify_state(
            BaseStateToken(ident="tab-copy", cls=DashboardState),
            event=_event(DashboardState, "load"),
        ) as root:
            root.get_substate(PATH)._get_state_from_cache(VisitsState).total = 4
        unpickled = _counting_unpickles(monkeypatch)
        seen = [await _load()(manager, "tab-copy"), await _load(2)(manager, "tab-copy")]
        seen.append(await _load()(manager, "tab-copy"))
        return seen, unpickled

    seen, unpickled = _run(redis_url, scenario)  # type: ignore[misc]
    assert seen == [1, 2, 2]
    assert unpickled == []


def test_another_pages_event_keeps_the_first_pages_copies(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tab goes from the dashboard to the doctor search and back: the dashboard's states
    are not unpickled again on the way back, nor the search's on its second search."""

    async def search(manager: StateManagerRedis) -> None:
        token = BaseStateToken(ident="tab-pages", cls=FindDoctorState)
        async with manager.modify_state(token, event=_event(FindDoctorState, "search")) as root:
            root.get_substate(FindDoctorState.get_full_name().split(".")).page = 2

    async def scenario(_redis: Redis, manager: StateManagerRedis) -> list[str]:
        await _load(1)(manager, "tab-pages")
        await search(manager)
        unpickled = _counting_unpickles(monkeypatch)
        await _load(2)(manager, "tab-pages")
        await search(manager)
        return unpickled

    assert _run(redis_url, scenario) == []


def test_states_another_worker_changed_are_read_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tab's socket moved to another worker and back; Reflex's own write path (here its
    `set_state`, which knows nothing of the copies) changed a state too."""

    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[list[int], list[str]]:
        other = StateManagerRedis(redis=Redis.from_url(redis_url))
        try:
            seen = [await _load(1)(manager, "tab-moved")]
            seen.append(await _load(2)(other, "tab-moved"))
            unpickled = _counting_unpickles(monkeypatch)
            seen.append(await _load()(manager, "tab-moved"))  # sees the other worker's 2
            first = list(unpickled)
            token = BaseStateToken(ident="tab-moved", cls=DashboardState)
            root = await other.get_state(token)
            root.get_substate(PATH).pending_applications = 3
            await other.set_state(token, root)
            mark = len(unpickled)
            seen.append(await _load()(manager, "tab-moved"))
            return seen, [*first, "|", *unpickled[mark:]]
        finally:
            await other.close()

    seen, unpickled = _run(redis_url, scenario)  # type: ignore[misc]
    assert seen == [1, 2, 2, 3]
    # Only the dashboard changed each time; its parents' copies were still Redis's.
    assert unpickled == ["DashboardState", "|", "DashboardState"], unpickled


@pytest.mark.parametrize("failure", ["the handler raised", "the lock was lost"])
def test_an_event_that_failed_leaves_no_copies(redis_url: str, failure: str) -> None:
    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        await _load(1)(manager, "tab-failed")
        token = BaseStateToken(ident="tab-failed", cls=DashboardState)
        with pytest.raises((RuntimeError, LockExpiredError)):
            async with manager.modify_state(token, event=_event(DashboardState, "load")) as root:
                root.get_substate(PATH).pending_applications = 9  # on the worker's copy
                if failure == "the handler raised":
                    raise RuntimeError("the handler failed")
                await redis.set(b"tab-failed_lock", b"another-event", px=50)
        kept = len(state_round_trips._cache(manager))
        await asyncio.sleep(0.1)
        return kept, await _load()(manager, "tab-failed")

    assert _run(redis_url, scenario) == (0, 1)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(VisitFilesState, "upload"), id="background task"),
        pytest.param(None, id="no event"),
    ],
)
def test_a_tree_that_may_still_be_read_is_not_kept(redis_url: str, event: Event | None) -> None:
    async def scenario(_redis: Redis, manager: StateManagerRedis) -> int:
        token = BaseStateToken(ident="tab-background", cls=DashboardState)
        context = {"event": event} if event is not None else {}
        async with manager.modify_state(token, **context) as root:
            root.get_substate(PATH).pending_applications = 6
        return len(state_round_trips._cache(manager))

    assert _run(redis_url, scenario) == 0


def test_a_closed_tabs_copies_are_let_go(redis_url: str) -> None:
    async def scenario(redis: Redis, manager: StateManagerRedis) -> tuple[int, int, int]:
        tab_state_cache.install()
        await _load(1)(manager, "tab-closed")
        await _load(1)(manager, "tab-open")
        before = len(state_round_trips._cache(manager))
        tokens = RedisTokenManager(redis)
        await tokens.disconnect_token("tab-closed", "sid-1")
        after = len(state_round_trips._cache(manager))
        return before, after, await _load()(manager, "tab-closed")

    assert _run(redis_url, scenario) == (2, 1, 1)


def test_a_tab_closed_while_its_event_ran_is_not_kept(redis_url: str) -> None:
    """A tab closed (or a page load cancelled) mid-event: its copies would otherwise stay
    in the worker's memory until they idled out."""

    async def scenario(_redis: Redis, manager: StateManagerRedis) -> tuple[int, int]:
        await _load(1)(manager, "tab-gone")
        token = BaseStateToken(ident="tab-gone", cls=DashboardState)
        async with manager.modify_state(token, event=_event(DashboardState, "load")) as root:
            root.get_substate(PATH).pending_applications = 2
            tab_state_cache.forget_everywhere("tab-gone")  # its socket closed meanwhile
        after_close = len(state_round_trips._cache(manager))
        await _load(3)(manager, "tab-gone")  # the same tab back (a reload): kept again
        return after_close, len(state_round_trips._cache(manager))

    assert _run(redis_url, scenario) == (0, 1)


def test_copies_are_kept_for_the_latest_tabs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(tab_state_cache.time, "monotonic", lambda: clock[0])
    cache = tab_state_cache.TabStateCache(max_tabs=2, idle_seconds=60)
    copy = {"k": tab_state_cache.Copy("d", cast(BaseState, object()))}
    for tab in ("a", "b", "c"):
        cache.keep(tab, copy)
    cache.keep("b", cache.take("b"))  # used again: now the latest
    cache.keep("d", copy)
    assert (cache.take("a"), cache.take("c")) == ({}, {})
    assert cache.take("b") == copy
    assert cache.take("d") == copy
    cache.keep("e", copy)
    clock[0] += 30
    cache.keep("f", copy)
    clock[0] += 31  # "e" has been idle for 61 s, "f" for 31
    cache.keep("g", {})
    assert (len(cache), cache.take("e"), cache.take("f")) == (1, {}, copy)


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
