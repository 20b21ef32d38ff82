"""Browser tabs without a browser, for the benchmarks: a login that gives the session
cookie, and one tab's event socket (Socket.IO over a plain WebSocket, as the page's
socket.io client opens it) that sends the events the pages send and tells when each
answer has arrived.

Reflex 0.10 marks no update as an event's last, so an answer is recognised by what it
carries: the dashboard's visit lists (or, on a load with nothing new, which sends no list
again, the end of its on-load chain), the search's result rows, the chosen day's times.

A page load is done when the `is_hydrated` flip that ends its on-load chain has come (a
few ms after the answer): a tab sends nothing before that. Sent earlier, a navigation
cancels that flip's event, and with Redis tab states the cancelled event can keep the
tab's lock until the lock expires (10 s): the new page stays blank that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import websockets.asyncio.client
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

NAMESPACE = "/_event"
DASHBOARD = "/dashboard"
FIND = "/find"

Delta = dict[str, dict[str, Any]]

# Engine.IO 4 / Socket.IO 5 packets on the event namespace.
_OPEN, _PING, _PONG = "0", "2", "3"
_JOIN, _LEAVE = f"40{NAMESPACE},", f"41{NAMESPACE},"
_JOINED, _REFUSED, _LEFT = f"40{NAMESPACE},", f"44{NAMESPACE},", f"41{NAMESPACE},"
_EVENT = f"42{NAMESPACE},"


class Unanswered(Exception):
    """No answer within the time allowed; it may still come (see `Tab.late_answer`)."""


@dataclass(frozen=True)
class EventNames:
    """The full names of the events the pages send and of the states and fields whose
    updates answer them. Plain strings, so load-generator processes need no app import."""

    on_load: str
    root_state: str
    hydrated: str
    search: str
    choose_day: str
    visits_state: str
    find_state: str
    booking_state: str
    client_state: str
    find_rows: str
    booking_days: str
    booking_times: str
    toast_level: str


def event_names() -> EventNames:
    # Imported here: importing the states loads the whole app (seconds, and much memory).
    from reflex.constants.state import FIELD_MARKER
    from reflex.state import OnLoadInternalState, State

    from health_app.state.booking import BookingState
    from health_app.state.client import ClientState
    from health_app.state.find import FindDoctorState
    from health_app.state.visits import VisitsState

    return EventNames(
        on_load=f"{OnLoadInternalState.get_full_name()}.on_load_internal",
        root_state=State.get_full_name(),
        hydrated=f"is_hydrated{FIELD_MARKER}",
        search=f"{FindDoctorState.get_full_name()}.search",
        choose_day=f"{BookingState.get_full_name()}.choose_day",
        visits_state=VisitsState.get_full_name(),
        find_state=FindDoctorState.get_full_name(),
        booking_state=BookingState.get_full_name(),
        client_state=ClientState.get_full_name(),
        find_rows=f"rows{FIELD_MARKER}",
        booking_days=f"days{FIELD_MARKER}",
        booking_times=f"times_announcement{FIELD_MARKER}",
        toast_level=f"toast_level{FIELD_MARKER}",
    )


async def session_cookie(http: httpx.AsyncClient, base: str, email: str) -> str:
    """Log in as the login form does; the Cookie header that carries the session."""
    from health_app.dev.demo import DEMO_PASSWORD  # here: load generators skip the models

    answer = await http.post(
        f"{base}/_auth/login",
        data={"email": email, "password": DEMO_PASSWORD, "site": base},
        headers={"Origin": base},
    )
    assert answer.status_code == 303 and DASHBOARD in answer.headers["location"], answer.text
    return "; ".join(f"{k}={v}" for k, v in answer.cookies.items())


def booking_path(doctor_id: int) -> str:
    return f"/doctor?doctor={doctor_id}"


class Tab:
    """One browser tab's event socket: one event in flight at a time, as the page sends
    them (Reflex handles a tab's events in order).

    It speaks Engine.IO 4 / Socket.IO 5 itself over a plain WebSocket (what the page's
    socket.io client sends: `40/_event,` to join the namespace, `42/_event,["event",{..}]`
    per event, `3` to the server's `2` ping). python-socketio's client costs about three
    times as much CPU per event (aiohttp, two packet layers, a task per message), taken
    from the same two cores the server is measured on.
    """

    def __init__(
        self, base: str, cookie: str, names: EventNames, *, count_bytes: bool = False
    ) -> None:
        self.base, self.cookie, self.names = base, cookie, names
        self.count_bytes = count_bytes
        self.delta_bytes = 0
        self.error_toasts = 0
        self.dropped = False  # the server closed the socket
        self._closing = False
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._joined: asyncio.Future[None] | None = None
        self._waiting: tuple[Callable[[Delta], bool], asyncio.Future[Delta]] | None = None
        self._hydrated = asyncio.Event()
        self._page_load = False  # the event in flight is a page load
        self._sent_at = self._answered_at = 0.0  # perf_counter times of the event in flight

    def _on_update(self, update: dict[str, Any]) -> None:
        delta: Delta = update.get("delta", {})
        if self.count_bytes:  # costs a JSON encoding: off for the load generator
            self.delta_bytes += len(json.dumps(delta))
        root = delta.get(self.names.root_state)
        if root and self.names.hydrated in root:
            if root[self.names.hydrated]:
                self._hydrated.set()
            else:
                self._hydrated.clear()
        toast = delta.get(self.names.client_state)
        if toast and toast.get(self.names.toast_level) == "error":
            self.error_toasts += 1
        if self._waiting is not None:
            answered, future = self._waiting
            if not future.done() and answered(delta):
                self._answered_at = time.perf_counter()
                future.set_result(delta)

    async def _read(self, socket: ClientConnection) -> None:
        """Every packet the server sends, until the socket closes."""
        try:
            async for packet in socket:
                if not isinstance(packet, str):
                    continue  # no binary attachments in Reflex's updates
                if packet.startswith(_EVENT):
                    name, update = orjson.loads(packet[len(_EVENT) :])
                    if name == "event":
                        self._on_update(update)
                elif packet == _PING:
                    await socket.send(_PONG)
                elif packet.startswith(_JOINED):
                    self._settle_join(None)
                elif packet.startswith(_REFUSED):
                    self._settle_join(ConnectionError(f"namespace refused: {packet}"))
                elif packet.startswith(_LEFT):
                    break  # the server ended the namespace
        except ConnectionClosed:
            pass
        finally:
            self._settle_join(ConnectionError("the socket closed before the namespace opened"))
            self.dropped = self.dropped or not self._closing

    def _settle_join(self, error: Exception | None) -> None:
        if self._joined is not None and not self._joined.done():
            if error is None:
                self._joined.set_result(None)
            else:
                self._joined.set_exception(error)

    async def connect(self) -> None:
        url = self.base.replace("http", "ws", 1)
        socket = await websockets.asyncio.client.connect(
            f"{url}{NAMESPACE}/?EIO=4&transport=websocket&token={uuid.uuid4()}",
            additional_headers={"Cookie": self.cookie},
            origin=Origin(self.base),
            compression=None,  # as python-socketio's client (aiohttp) asks: none
            ping_interval=None,  # Engine.IO's own pings keep it alive
            max_size=None,
            open_timeout=10,
        )
        try:
            opened = await asyncio.wait_for(socket.recv(), 10)
            if not isinstance(opened, str) or not opened.startswith(_OPEN):
                raise ConnectionError(f"no Engine.IO open packet: {opened!r}")
            self._socket = socket
            self._joined = asyncio.get_running_loop().create_future()
            self._reader = asyncio.create_task(self._read(socket))
            await socket.send(_JOIN)
            # A browser waits 20 s for the namespace's answer; python-socketio 1 s.
            await asyncio.wait_for(self._joined, 10)
        except BaseException:
            await socket.close()
            raise

    async def close(self) -> None:
        self._closing = True
        socket = self._socket
        if socket is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await socket.send(_LEAVE)
        await socket.close()
        if self._reader is not None:
            await self._reader

    async def _emit(self, event: dict[str, Any]) -> None:
        if self._socket is None:
            raise ConnectionError("not connected")
        await self._socket.send(_EVENT + orjson.dumps(["event", event]).decode())

    async def ask(
        self,
        name: str,
        payload: dict[str, Any],
        path: str,
        answered: Callable[[Delta], bool],
        timeout: float,
        *,
        page_load: bool = False,
    ) -> tuple[float, Delta]:
        """Send one event; ms until the update that `answered` recognises, and that update.
        A page load returns once its chain has ended too (see the module's note). Raises
        `Unanswered` after `timeout` seconds."""
        future: asyncio.Future[Delta] = asyncio.get_running_loop().create_future()
        self._waiting = (answered, future)
        self._hydrated.clear()
        self._page_load = page_load
        t0 = self._sent_at = time.perf_counter()
        await self._emit(
            {
                "name": name,
                "payload": payload,
                "router_data": {"pathname": path.split("?")[0], "asPath": path},
            }
        )
        # asyncio.wait leaves the future pending on a timeout, for `late_answer`.
        await asyncio.wait({future}, timeout=timeout)
        if not future.done():
            raise Unanswered(f"{name} on {path}: no answer within {timeout} s")
        ms = (time.perf_counter() - t0) * 1000
        if page_load:
            try:
                await asyncio.wait_for(self._hydrated.wait(), max(0.0, timeout - ms / 1000))
            except TimeoutError:
                raise Unanswered(f"{path}: its on-load chain did not end in {timeout} s") from None
        return ms, future.result()

    async def late_answer(self, timeout: float) -> float | None:
        """Wait for the answer that `ask` gave up on, so the next event is not taken for
        its answer: ms from sending to the answer, or None if it never came."""
        if self._waiting is None:
            return None
        future = self._waiting[1]
        t0 = time.monotonic()
        await asyncio.wait({future}, timeout=timeout)
        if future.done() and self._page_load:
            left = max(0.0, timeout - (time.monotonic() - t0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hydrated.wait(), left)
            if not self._hydrated.is_set():
                return None
        return (self._answered_at - self._sent_at) * 1000 if future.done() else None

    async def load_dashboard(self, timeout: float = 30) -> float:
        """Open the dashboard (its on-load handlers run on the server); ms to the lists, or,
        when the tab shows them already and nothing changed (the server then sends them
        not again), to the end of the page's on-load chain."""
        visits, root, hydrated = self.names.visits_state, self.names.root_state, self.names.hydrated

        def answered(delta: Delta) -> bool:
            return visits in delta or delta.get(root, {}).get(hydrated) is True

        ms, _ = await self.ask(self.names.on_load, {}, DASHBOARD, answered, timeout, page_load=True)
        return ms

    async def search(self, form: dict[str, str], timeout: float = 30) -> float:
        """The doctor search's form sent; ms to the result rows."""
        state, rows = self.names.find_state, self.names.find_rows
        ms, _ = await self.ask(
            self.names.search, {"form": form}, FIND, lambda d: rows in d.get(state, {}), timeout
        )
        return ms

    async def open_booking(self, doctor_id: int, timeout: float = 30) -> list[str]:
        """Open a doctor's booking page; the days with free times (YYYY-MM-DD)."""
        state, days = self.names.booking_state, self.names.booking_days
        _, delta = await self.ask(
            self.names.on_load,
            {},
            booking_path(doctor_id),
            lambda d: days in d.get(state, {}),
            timeout,
            page_load=True,
        )
        return [cell["iso"] for cell in delta[state][days] if cell["free"]]

    async def choose_day(self, doctor_id: int, iso: str, timeout: float = 30) -> float:
        """A day chosen on the booking page (opened before); ms to its list of times."""
        state, times = self.names.booking_state, self.names.booking_times
        ms, _ = await self.ask(
            self.names.choose_day,
            {"iso": iso},
            booking_path(doctor_id),
            lambda d: times in d.get(state, {}),
            timeout,
        )
        return ms
