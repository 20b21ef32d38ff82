"""A doctor's page: profile, free days, free times, and booking (or moving) a visit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import reflex as rx

from health_app import routes
from health_app.config import get_settings
from health_app.page_loads import ends_page_load
from health_app.services.errors import NotFound
from health_app.services.maps import embeds
from health_app.services.scheduling import booking, search
from health_app.state.auth import AuthState
from health_app.state.client import toast_success, toast_warning
from health_app.state.forms import form_text
from health_app.state.handlers import Events, FormMixin, public, query_id, signed_in
from health_app.state.links import photo_url
from health_app.state.timefmt import clock, day_label, when, zone_words

CALENDAR_WEEKS = 6


class DayChoice(TypedDict):
    """One calendar cell; `free` cells are buttons, the rest are shown muted.

    Rows of tab states are dicts, not dataclasses: a tab's state is unpickled from Redis
    and pickled back on every event, and a list of dicts goes 3-4x faster both ways."""

    iso: str
    number: str
    label: str
    free: bool
    # "Apr" on the first day of a month (and on the first cell), so a week that crosses
    # into a new month says so.
    month: str
    today: bool


class TimeChoice(TypedDict):
    slot_id: int
    label: str


class BookingState(FormMixin, rx.State):
    found: bool = True
    doctor_id: int = 0
    doctor_name: str = ""
    specialty: str = ""
    qualifications: str = ""
    clinic: str = ""
    # The clinic on a map (or the address and a directions link).
    map_src: str = ""
    map_label: str = ""
    clinic_address: str = ""
    directions: str = ""
    photo: str = ""
    languages: str = ""
    consultation_types: list[list[str]] = []  # [code, label]
    consultation_labels: str = ""
    time_zone: str = ""
    zone_words: str = ""  # "Toronto time"
    days: list[DayChoice] = []
    has_free_days: bool = False
    calendar_caption: str = ""
    day: str = ""
    times: list[TimeChoice] = []
    # Read out when the times of a chosen day arrive (a live region on the page).
    times_announcement: str = ""
    slot_id: int = 0
    slot_label: str = ""
    # Set when moving an existing visit instead of booking a new one.
    reschedule_id: int = 0
    booked_message: str = ""
    _loaded_address: str = ""

    @rx.event
    @ends_page_load
    @public
    async def load(self) -> None:
        # The page open's one session resolution: the booking form is for patients.
        await (await self.get_state(AuthState))._current_actor()
        # The same address loaded again (a dropped connection reconnects through this load,
        # possibly on another worker): the time the person chose stays chosen, if free.
        address = str(self.router.url)
        kept = self.slot_id if address == self._loaded_address else 0
        self._loaded_address = address
        self.found, self.day, self.times, self.slot_id, self.booked_message = True, "", [], 0, ""
        self.doctor_id = query_id(self, "doctor")
        self.reschedule_id = query_id(self, "reschedule")
        try:
            view = await self._call(search.get_doctor, doctor_id=self.doctor_id)
        except NotFound:
            self.found = False
            return
        self.doctor_name, self.specialty, self.qualifications = (
            view.name,
            view.specialty,
            view.qualifications,
        )
        self.clinic = f"{view.clinic_name}, {view.clinic_address}"
        where = embeds.clinic_map(
            get_settings(),
            name=view.clinic_name,
            address=view.clinic_address,
            latitude=view.latitude,
            longitude=view.longitude,
        )
        self.map_src, self.map_label, self.directions = where.src, where.label, where.directions
        self.clinic_address = view.clinic_address
        self.languages = ", ".join(view.languages)
        self.consultation_types = [list(pair) for pair in view.consultation_types]
        self.consultation_labels = ", ".join(label for _, label in view.consultation_types)
        self.time_zone = view.time_zone
        self.zone_words = zone_words(view.time_zone)
        self.photo = photo_url(view.photo_blob)
        await self._load_days()
        if kept:
            await self._choose_from_search(kept, say_if_taken=False)
        elif chosen := query_id(self, "slot"):
            await self._choose_from_search(chosen)

    async def _choose_from_search(self, slot_id: int, *, say_if_taken: bool = True) -> None:
        """A time picked on the search page (or kept from before the page loaded again):
        its day and the time already chosen, so the booking form is one step away. A time
        gone since is simply not chosen."""
        slot = await self._call(search.free_slot, doctor_id=self.doctor_id, slot_id=slot_id)
        if slot is None:
            if say_if_taken:
                self.form_error = "That time was just taken. Choose another below."
            return
        day = slot.starts_at.astimezone(ZoneInfo(self.time_zone)).date()
        self.day = day.isoformat()
        await self._load_times(day)
        label = f"{clock(slot.starts_at, self.time_zone)}–{clock(slot.ends_at, self.time_zone)}"
        self.slot_id, self.slot_label = slot.slot_id, f"{day_label(day)}, {label}"

    async def _load_days(self) -> None:
        cells = await self._call(
            search.free_calendar, doctor_id=self.doctor_id, weeks=CALENDAR_WEEKS
        )
        self.days = [
            DayChoice(
                iso=c.day.isoformat(),
                number=str(c.day.day),
                label=day_label(c.day) + (", today" if c.today else ""),
                free=c.free,
                month=f"{c.day:%b}" if c.day.day == 1 or i == 0 else "",
                today=c.today,
            )
            for i, c in enumerate(cells)
        ]
        self.has_free_days = any(c.free for c in cells)
        first, last = cells[0].day, cells[-1].day
        self.calendar_caption = (
            f"{first:%B %Y}"
            if (first.year, first.month) == (last.year, last.month)
            else f"{first:%B %Y} – {last:%B %Y}"
            if first.year != last.year
            else f"{first:%B} – {last:%B %Y}"
        )

    @rx.event
    @public
    async def choose_day(self, iso: str) -> None:
        try:
            day = date.fromisoformat(iso)
        except ValueError:
            return
        self.day, self.slot_id, self.booked_message = iso, 0, ""
        await self._load_times(day)

    async def _load_times(self, day: date) -> None:
        zone = self.time_zone
        slots = await self._call(search.free_times, doctor_id=self.doctor_id, day=day)
        self.times = [
            TimeChoice(
                slot_id=f.slot_id, label=f"{clock(f.starts_at, zone)}–{clock(f.ends_at, zone)}"
            )
            for f in slots
        ]
        count = len(self.times)
        self.times_announcement = (
            f"{count} free time{'s' if count != 1 else ''} on {day_label(day)}."
            if count
            else f"No free times left on {day_label(day)}."
        )

    @rx.event
    def choose_time(self, slot_id: int, label: str) -> None:
        self.slot_id, self.slot_label = (
            int(slot_id),
            f"{day_label(date.fromisoformat(self.day))}, {label}",
        )
        self._reset_form()

    async def _refresh_after_conflict(self) -> None:
        await self._load_days()
        if self.day:
            await self._load_times(date.fromisoformat(self.day))
        self.slot_id = 0

    @rx.event
    @signed_in(reason="login")
    async def book(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.busy = True
        yield
        try:
            if self.reschedule_id:
                view = await self._call(
                    booking.reschedule_appointment,
                    appointment_id=self.reschedule_id,
                    new_slot_id=self.slot_id,
                )
            else:
                view = await self._call(
                    booking.book_appointment,
                    request=booking.BookingRequest(
                        slot_id=self.slot_id,
                        format=form_text(form, "format"),
                        consultation_type=form_text(form, "consultation_type"),
                        reason=form_text(form, "reason"),
                    ),
                )
        except booking.SlotTaken as taken:
            # A lost race: say so and show what is still free, never an error page.
            self.busy, self.form_error = False, taken.message
            await self._refresh_after_conflict()
            yield toast_warning(taken.message)
            return
        self.busy, self.slot_id = False, 0
        done = "Your visit was moved to" if self.reschedule_id else "Your visit is booked for"
        self.booked_message = f"{done} {when(view.starts_at, view.time_zone)}."
        yield rx.redirect(routes.DASHBOARD)
        yield toast_success(self.booked_message)
