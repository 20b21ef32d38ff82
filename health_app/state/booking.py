"""A doctor's page: profile, free days, free times, and booking (or moving) a visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import reflex as rx

from health_app import routes
from health_app.services import booking, search
from health_app.services.errors import NotFound
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin, form_text
from health_app.state.links import photo_url
from health_app.state.timefmt import clock, day_label, when

CALENDAR_WEEKS = 6


@dataclass(frozen=True)
class DayChoice:
    """One calendar cell; `free` cells are buttons, the rest are shown muted."""

    iso: str
    number: str
    label: str
    free: bool


@dataclass(frozen=True)
class TimeChoice:
    slot_id: int
    label: str


class BookingState(FormMixin, rx.State):
    found: bool = True
    doctor_id: int = 0
    doctor_name: str = ""
    specialty: str = ""
    qualifications: str = ""
    clinic: str = ""
    photo: str = ""
    languages: str = ""
    consultation_types: list[list[str]] = []  # [code, label]
    consultation_labels: str = ""
    time_zone: str = ""
    days: list[DayChoice] = []
    has_free_days: bool = False
    calendar_caption: str = ""
    day: str = ""
    times: list[TimeChoice] = []
    slot_id: int = 0
    slot_label: str = ""
    # Set when moving an existing visit instead of booking a new one.
    reschedule_id: int = 0
    booked_message: str = ""

    def _param(self, name: str) -> int:
        raw = self.router.url.query_parameters.get(name, "")
        return int(raw) if raw.isdigit() and len(raw) < 10 else 0

    @rx.event
    async def load(self) -> None:
        self._reset_form()
        self.found, self.day, self.times, self.slot_id, self.booked_message = True, "", [], 0, ""
        self.doctor_id, self.reschedule_id = self._param("doctor"), self._param("reschedule")
        doctor_id = self.doctor_id
        try:
            view = await runner.call(lambda s, cfg, now: search.get_doctor(s, doctor_id=doctor_id))
        except NotFound:
            self.found = False
            return
        self.doctor_name, self.specialty, self.qualifications = (
            view.name,
            view.specialty,
            view.qualifications,
        )
        self.clinic = f"{view.clinic_name}, {view.clinic_address}"
        self.languages = ", ".join(view.languages)
        self.consultation_types = [list(pair) for pair in view.consultation_types]
        self.consultation_labels = ", ".join(label for _, label in view.consultation_types)
        self.time_zone = view.time_zone
        self.photo = photo_url(view.photo_blob)
        await self._load_days()

    async def _load_days(self) -> None:
        doctor_id = self.doctor_id
        cells = await runner.call(
            lambda s, cfg, now: search.free_calendar(
                s, doctor_id=doctor_id, weeks=CALENDAR_WEEKS, now=now
            )
        )
        self.days = [
            DayChoice(
                iso=c.day.isoformat(), number=str(c.day.day), label=day_label(c.day), free=c.free
            )
            for c in cells
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
    async def choose_day(self, iso: str) -> None:
        try:
            day = date.fromisoformat(iso)
        except ValueError:
            return
        self.day, self.slot_id, self.booked_message = iso, 0, ""
        self._reset_form()
        await self._load_times(day)

    async def _load_times(self, day: date) -> None:
        doctor_id, zone = self.doctor_id, self.time_zone
        slots = await runner.call(
            lambda s, cfg, now: search.free_times(s, doctor_id=doctor_id, day=day, now=now)
        )
        self.times = [
            TimeChoice(
                slot_id=f.slot_id, label=f"{clock(f.starts_at, zone)}–{clock(f.ends_at, zone)}"
            )
            for f in slots
        ]

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
    async def book(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            yield login_redirect("login")
            return
        slot_id, appointment_id = self.slot_id, self.reschedule_id
        request = booking.BookingRequest(
            slot_id=slot_id,
            format=form_text(form, "format"),
            consultation_type=form_text(form, "consultation_type"),
            reason=form_text(form, "reason"),
        )
        taken = False

        async def attempt() -> booking.AppointmentView:
            nonlocal taken
            try:
                if appointment_id:
                    return await runner.call(
                        lambda s, cfg, now: booking.reschedule_appointment(
                            s,
                            actor=actor,
                            appointment_id=appointment_id,
                            new_slot_id=slot_id,
                            now=now,
                        )
                    )
                return await runner.call(
                    lambda s, cfg, now: booking.book_appointment(
                        s, actor=actor, request=request, settings=cfg, now=now
                    )
                )
            except booking.SlotTaken:
                taken = True
                raise

        self.busy = True
        yield
        ok, view = await self._attempt(attempt)
        self.busy = False
        if taken:
            # A lost race: say so and show what is still free, never an error page.
            await self._refresh_after_conflict()
            yield rx.toast.warning(self.form_error)
            return
        if ok and view is not None:
            done = "Your visit was moved to" if appointment_id else "Your visit is booked for"
            self.booked_message = f"{done} {when(view.starts_at, view.time_zone)}."
            yield rx.redirect(routes.DASHBOARD)
            yield rx.toast.success(self.booked_message)
