"""An event reads the states it needs from a real Redis in one round trip
(health_app/state_prefetch.py): its own, `AuthState`, and what it names."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from reflex import constants
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken
from reflex.state import BaseState, OnLoadInternalState

from health_app import state_prefetch
from health_app.state.auth import AuthState
from health_app.state.dashboard import DashboardState
from health_app.state.login import LoginState
from health_app.state.visit import VisitState
from health_app.state.visit_files import VisitFilesState
from health_app.state.visit_messages import VisitMessagesState
from health_app.state.visits import VisitsState
from health_app.state_round_trips import _states_read


async def _reads(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_mget", "cmdstat_get"))


def test_an_event_reads_its_state_the_session_and_what_it_names_at_once(redis_url: str) -> None:
    state_prefetch.install()

    async def scenario() -> tuple[int, int]:
        redis = Redis.from_url(redis_url)
        manager = StateManagerRedis(redis=redis)
        token = BaseStateToken(ident="tab-1", cls=DashboardState)
        # The tab's first event writes the states Reflex made for it.
        async with manager.modify_state(token) as root:
            root.get_substate(DashboardState.get_full_name().split(".")).pending_applications = 1
        before = await _reads(redis)
        root = await manager.get_state(token)
        first = await _reads(redis)
        dashboard = root.get_substate(DashboardState.get_full_name().split("."))
        assert isinstance(dashboard, DashboardState)
        assert dashboard.pending_applications == 1
        for sibling in (AuthState, VisitsState):  # in the tree already: no Redis read
            assert isinstance(dashboard._get_state_from_cache(sibling), sibling)
        after = await _reads(redis)
        await manager.close()
        return first - before, after - first

    one_read, later_reads = asyncio.run(scenario())
    assert (one_read, later_reads) == (1, 0)


def _fetched(target: type[BaseState]) -> set[type[BaseState]]:
    manager = StateManagerRedis(redis=Redis.from_url("redis://127.0.0.1:1"))
    return manager._get_required_state_classes(target, subclasses=True)


def test_what_each_state_brings_along() -> None:
    state_prefetch.install()
    assert {AuthState, VisitsState} <= _fetched(DashboardState)
    assert {AuthState, VisitFilesState, VisitMessagesState} <= _fetched(VisitState)
    assert AuthState in _fetched(LoginState)  # the session, whatever the page
    assert VisitsState not in _fetched(LoginState)
    assert AuthState not in _fetched(OnLoadInternalState)  # names the page's loads only
    auth = _fetched(AuthState)
    assert DashboardState not in auth and VisitsState not in auth


def test_a_page_load_event_reads_the_states_of_the_page_it_opens() -> None:
    """Reflex's page-load event runs the page's on-load handlers (page_loads.py): their
    states come with its first read."""
    import health_app.health_app  # noqa: F401 - the app whose pages are opened

    state_prefetch.install()
    manager = StateManagerRedis(redis=Redis.from_url("redis://127.0.0.1:1"))
    at = constants.RouteVar.ORIGIN
    dashboard = _states_read(manager, OnLoadInternalState, {at: "/dashboard"})
    assert {OnLoadInternalState, DashboardState, VisitsState, AuthState} <= dashboard
    elsewhere = _states_read(manager, OnLoadInternalState, {at: "/no/such/page"})
    assert DashboardState not in elsewhere and AuthState not in elsewhere
