"""Admin: the figures a clinic's operator watches (workers, messages, scheduler)."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx

from health_app import event_figures
from health_app.page_loads import ends_page_load
from health_app.services import operations
from health_app.state.client import toast_success
from health_app.state.handlers import Events, FormMixin, signed_in
from health_app.state.timefmt import clinic_zone, when


def _running_app() -> rx.App:
    from health_app.health_app import app  # the module imports this one

    return app


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


class OperationsState(FormMixin, rx.State):
    loaded: bool = False
    connected: str = ""
    workers: str = ""
    events: str = ""
    p95: str = ""
    waiting: str = ""
    oldest: str = ""
    sending: str = ""
    failed: str = ""
    failed_day: str = ""
    leader: str = ""
    last_tick: str = ""
    last_tick_result: str = ""
    scheduler_late: bool = False
    measured_at: str = ""

    def _page_roles(self) -> tuple[str, ...]:
        return ("admin",)

    async def _refresh(self) -> None:
        view = await self._call(operations.operations_figures)
        live = await event_figures.current(_running_app())
        zone = clinic_zone()
        self.connected = _count(live.connected, "tab connected", "tabs connected")
        self.workers = _count(live.workers, "worker", "workers")
        self.events = _count(live.events_per_minute, "event", "events") + " in the last minute"
        self.p95 = (
            "not measured in this version of Reflex"
            if not live.measured
            else "no events in the last minute"
            if live.p95_ms is None
            else f"{live.p95_ms:,.0f} ms"
        )
        self.waiting = _count(view.waiting, "message", "messages")
        self.oldest = (
            when(view.oldest_waiting_since, zone) if view.oldest_waiting_since else "none waiting"
        )
        self.sending = _count(view.sending, "message", "messages")
        self.failed_day = _count(view.failed_last_day, "message", "messages")
        self.failed = _count(view.failed_total, "message", "messages")
        self.leader = view.leader or "no scheduler has ticked yet"
        self.last_tick = when(view.last_tick_at, zone) if view.last_tick_at else "never"
        self.last_tick_result = (
            f"took {view.last_tick_ms:,} ms; sent {view.last_sent:,}, failed {view.last_failed:,}"
            if view.last_tick_at
            else ""
        )
        self.scheduler_late = view.scheduler_late
        self.measured_at = when(datetime.now(UTC), zone)
        self.loaded = True

    @rx.event
    @ends_page_load
    @signed_in(reason="login")
    async def load(self) -> None:
        self.loaded = False
        await self._refresh()

    @rx.event
    @signed_in()
    async def refresh(self) -> Events:
        await self._refresh()
        return toast_success("Figures updated.")
