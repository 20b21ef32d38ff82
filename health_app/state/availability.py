"""The doctor's availability page: weekly template, ranges, single slots, time off, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, time
from typing import Any

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.errors import ValidationFailed
from health_app.services.scheduling import availability, weekly_hours
from health_app.state.client import toast_success
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, signed_in
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


@dataclass(frozen=True)
class ChangeRow:
    label: str
    added: int
    removed: int


class AvailabilityState(FormMixin, rx.State):
    days: list[DayRow] = []
    windows: list[WindowRow] = []
    time_zone: str = ""
    # Weekly hours asked for but not saved yet: what saving will do, day by day.
    changes: list[ChangeRow] = []
    change_summary: str = ""
    _pending: dict[str, Any] = {}
    # Days to withdraw, asked but not confirmed yet: what it will do, in words.
    cancel_summary: str = ""
    _pending_cancel: dict[str, Any] = {}

    def _page_roles(self) -> tuple[str, ...]:
        return ("doctor",)

    async def _refresh(self) -> None:
        view = await self._call(availability.overview, days=SUMMARY_DAYS)
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

    @rx.event
    @ends_page_load
    @signed_in(reason="login")
    async def load(self) -> None:
        await self._refresh()

    async def _published(self, message: str) -> Events:
        self.busy = False
        await self._refresh()
        return toast_success(message)

    def _template_input(self, form: dict[str, Any]) -> dict[str, Any]:
        days = [i for i in range(7) if form.get(f"day_{i}")]
        windows = []
        for n in (1, 2):
            if form_text(form, f"start_{n}") or form_text(form, f"end_{n}"):
                start, end = _time(form, f"start_{n}", "Start"), _time(form, f"end_{n}", "End")
                windows += [weekly_hours.WindowInput(weekday=d, start=start, end=end) for d in days]
        return {
            "windows": windows,
            "slot_minutes": _minutes(form),
            "valid_from": _date(form, "valid_from", "From"),
            "valid_to": _date(form, "valid_to", "Until") if form_text(form, "valid_to") else None,
        }

    @rx.event
    @signed_in()
    async def save_template(self, form: dict[str, Any]) -> None:
        """First step: show what the new hours will add and remove, before anything changes."""
        pending = self._template_input(form)
        change = await self._call(weekly_hours.preview_weekly_template, **pending)
        self._pending = pending
        self.changes = [
            ChangeRow(label=day_label(d.day), added=d.added, removed=d.removed) for d in change.days
        ]
        self.change_summary = (
            f"From {day_label(pending['valid_from'])}: {change.added} open times added and "
            f"{change.removed} withdrawn on {len(change.days)} days. Booked visits stay as "
            "they are, and the current hours go on until then."
            if change.days
            else "These hours change no open time."
        )

    @rx.event
    def cancel_template(self) -> None:
        self._pending, self.changes, self.change_summary = {}, [], ""

    @rx.event
    @signed_in()
    async def confirm_template(self) -> AsyncIterator[Events]:
        if not self._pending:
            return
        self.busy = True
        yield
        created = await self._call(weekly_hours.save_weekly_template, **self._pending)
        self._pending, self.changes, self.change_summary = {}, [], ""
        yield await self._published(f"Weekly hours saved: {created} new slots published.")

    @rx.event
    @signed_in()
    async def open_range(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        created = await self._call(
            availability.open_range,
            first=_date(form, "from_date", "From"),
            last=_date(form, "to_date", "To"),
            start=_time(form, "start_time", "Start"),
            end=_time(form, "end_time", "End"),
            minutes=_minutes(form, "range_minutes"),
        )
        yield await self._published(f"{created} new slots published.")

    @rx.event
    @signed_in()
    async def add_time_off(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        blocked = await self._call(
            availability.add_time_off,
            first=_date(form, "off_from", "From"),
            last=_date(form, "off_to", "To"),
            reason=form_text(form, "off_reason"),
        )
        yield await self._published(f"Time off saved; {blocked} open slots blocked.")

    @rx.event
    @signed_in()
    async def cancel_range(self, form: dict[str, Any]) -> None:
        """First step: say what withdrawing these days will do, before anything changes."""
        reason = form_text(form, "reason").strip()
        if not reason:
            raise ValidationFailed({"reason": "Give a reason: booked patients will read it."})
        first, last = _date(form, "cancel_from", "From"), _date(form, "cancel_to", "To")
        impact = await self._call(availability.range_impact, first=first, last=last)
        self._pending_cancel = {"first": first, "last": last, "reason": reason}
        visits = impact.booked_visits
        self.cancel_summary = (
            f"From {day_label(first)} to {day_label(last)}: {impact.open_times} open times "
            f"will be withdrawn and {visits} booked visit{'s' if visits != 1 else ''} "
            "cancelled; those patients are told your reason."
        )

    @rx.event
    def keep_range(self) -> None:
        self._pending_cancel, self.cancel_summary = {}, ""

    @rx.event
    @signed_in()
    async def confirm_cancel_range(self) -> AsyncIterator[Events]:
        if not self._pending_cancel:
            return
        self.busy = True
        yield
        removed, cancelled = await self._call(availability.cancel_range, **self._pending_cancel)
        self._pending_cancel, self.cancel_summary = {}, ""
        told = f"{cancelled} booked patients cancelled and told why"
        yield await self._published(f"{removed} open slots withdrawn; {told}.")
