"""The doctor's availability page: weekly template, ranges, single slots, time off, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import reflex as rx

from health_app.services import availability
from health_app.services.errors import ValidationFailed
from health_app.services.views import Actor
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text
from health_app.state.timefmt import day_label

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SUMMARY_DAYS = 14


@dataclass(frozen=True)
class DayRow:
    label: str
    open: int
    booked: int


@dataclass(frozen=True)
class WindowRow:
    label: str


def _date(form: dict[str, Any], key: str, label: str) -> date:
    raw = form_text(form, key)
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed({key: f"{label}: choose a date."}) from exc


def _time(form: dict[str, Any], key: str, label: str) -> time:
    raw = form_text(form, key)
    try:
        return time.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed({key: f"{label}: choose a time."}) from exc


def _minutes(form: dict[str, Any], key: str = "slot_minutes") -> int:
    raw = form_text(form, key)
    if not raw.isdigit() or len(raw) > 4:
        raise ValidationFailed({key: "Slot length must be a number of minutes."})
    return int(raw)


class AvailabilityState(FormMixin, rx.State):
    days: list[DayRow] = []
    windows: list[WindowRow] = []
    time_zone: str = ""

    async def _refresh(self) -> bool:
        actor = await guard(self, "doctor")
        if actor is None:
            return False
        view = await runner.call(
            lambda s, cfg, now: availability.overview(s, actor=actor, days=SUMMARY_DAYS, now=now)
        )
        self.time_zone = view.time_zone
        self.days = [
            DayRow(label=day_label(d.day), open=d.open, booked=d.booked) for d in view.days
        ]
        self.windows = [
            WindowRow(
                label=f"{WEEKDAYS[w.weekday]} {w.start:%H:%M}–{w.end:%H:%M}, {w.slot_minutes} min"
                f" (from {w.valid_from}{f' until {w.valid_to}' if w.valid_to else ''})"
            )
            for w in view.windows
        ]
        return True

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        self._reset_form()
        if not await self._refresh():
            return login_redirect("login")

    async def _publish(self, work: Callable[[Actor], Awaitable[str]]) -> AsyncIterator[Any]:
        """Run one change as the signed-in doctor, with a busy flag and a toast."""
        actor = await guard(self, "doctor")
        if actor is None:
            yield login_redirect("expired")
            return
        self.busy = True
        yield
        ok, message = await self._attempt(lambda: work(actor))
        self.busy = False
        if ok:
            await self._refresh()
            yield rx.toast.success(message)

    @rx.event
    async def save_template(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        async def work(actor: Actor) -> str:
            days = [i for i in range(7) if form.get(f"day_{i}")]
            windows = []
            for n in (1, 2):
                if form_text(form, f"start_{n}") or form_text(form, f"end_{n}"):
                    start, end = _time(form, f"start_{n}", "Start"), _time(form, f"end_{n}", "End")
                    windows += [
                        availability.WindowInput(weekday=d, start=start, end=end) for d in days
                    ]
            valid_from = _date(form, "valid_from", "From")
            valid_to = _date(form, "valid_to", "Until") if form_text(form, "valid_to") else None
            minutes = _minutes(form)
            created = await runner.call(
                lambda s, cfg, now: availability.save_weekly_template(
                    s,
                    actor=actor,
                    windows=windows,
                    slot_minutes=minutes,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    settings=cfg,
                    now=now,
                )
            )
            return f"Weekly hours saved: {created} new slots published."

        async for event in self._publish(work):
            yield event

    @rx.event
    async def open_range(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        async def work(actor: Actor) -> str:
            first, last = _date(form, "from_date", "From"), _date(form, "to_date", "To")
            start, end = _time(form, "start_time", "Start"), _time(form, "end_time", "End")
            minutes = _minutes(form, "range_minutes")
            created = await runner.call(
                lambda s, cfg, now: availability.open_range(
                    s,
                    actor=actor,
                    first=first,
                    last=last,
                    start=start,
                    end=end,
                    minutes=minutes,
                    now=now,
                )
            )
            return f"{created} new slots published."

        async for event in self._publish(work):
            yield event

    @rx.event
    async def add_time_off(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        async def work(actor: Actor) -> str:
            first, last = _date(form, "off_from", "From"), _date(form, "off_to", "To")
            reason = form_text(form, "off_reason")
            blocked = await runner.call(
                lambda s, cfg, now: availability.add_time_off(
                    s, actor=actor, first=first, last=last, reason=reason, now=now
                )
            )
            return f"Time off saved; {blocked} open slots blocked."

        async for event in self._publish(work):
            yield event

    @rx.event
    async def cancel_range(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        async def work(actor: Actor) -> str:
            first, last = _date(form, "cancel_from", "From"), _date(form, "cancel_to", "To")
            reason = form_text(form, "reason")
            removed, cancelled = await runner.call(
                lambda s, cfg, now: availability.cancel_range(
                    s, actor=actor, first=first, last=last, reason=reason, now=now
                )
            )
            told = f"{cancelled} booked patients cancelled and told why"
            return f"{removed} open slots withdrawn; {told}."

        async for event in self._publish(work):
            yield event
