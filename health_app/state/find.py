"""Finding a doctor: filters, results sorted by the earliest free time, pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any, TypedDict

import reflex as rx

from health_app import routes
from health_app.config import get_settings
from health_app.page_loads import ends_page_load
from health_app.services.maps import embeds, near
from health_app.services.scheduling import search
from health_app.services.views import Actor
from health_app.state.auth import AuthState
from health_app.state.forms import form_text
from health_app.state.handlers import Events, ServiceState, public, resolve_actor
from health_app.state.links import photo_url
from health_app.state.paged import clamp_page
from health_app.state.timefmt import short_when, zone_words
from health_app.state.unit_of_work import may_keep_waiting


class NextTime(TypedDict):
    href: str  # the doctor's page with this time already chosen
    label: str  # "Tue 3 Mar, 09:00"


class DoctorRow(TypedDict):  # a dict: see booking.DayChoice
    doctor_id: int
    name: str
    initials: str
    specialty: str
    clinic: str
    earliest: str
    zone: str  # "Toronto time"
    photo: str
    next_times: list[NextTime]
    distance: str  # "2.3 km away", or ""
    map_src: str  # the clinic's small map ("" without a known place)
    map_label: str


def initials(name: str) -> str:
    """'AK' for "Dr. Amir Khan": the avatar of a doctor without a photo."""
    words = [w for w in name.removeprefix("Dr. ").split() if w[:1].isalpha()]
    return "".join(w[0].upper() for w in (words[:1] + words[-1:] if len(words) > 1 else words))


def _row(c: search.DoctorCard) -> DoctorRow:
    where = embeds.clinic_map(
        get_settings(), name=c.clinic, address=c.clinic, latitude=c.latitude, longitude=c.longitude
    )
    return DoctorRow(
        doctor_id=c.doctor_id,
        name=c.name,
        initials=initials(c.name),
        specialty=c.specialty,
        clinic=c.clinic,
        earliest=short_when(c.earliest_free, c.time_zone) if c.earliest_free else "",
        zone=zone_words(c.time_zone),
        photo=photo_url(c.photo_blob),
        next_times=[
            NextTime(
                href=f"{routes.DOCTOR}?doctor={c.doctor_id}&slot={f.slot_id}",
                label=short_when(f.starts_at, c.time_zone),
            )
            for f in c.next_free
        ],
        distance="" if c.distance_km is None else f"{c.distance_km:.1f} km away",
        map_src=where.src if c.latitude is not None else "",
        map_label=f"Map of {c.clinic}",
    )


class FindDoctorState(ServiceState, rx.State):
    name: str = ""
    specialty: str = ""
    consultation_type: str = ""
    language: str = ""
    within: str = ""  # "", "today" or "week"
    on: str = ""  # a day as YYYY-MM-DD, or ""
    on_error: str = ""
    # Near where: "" (anywhere), "home" (a patient's), a typed place, or "lat,lng".
    place: str = ""
    within_km: int = 0
    sort: str = "earliest"
    place_error: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    rows: list[DoctorRow] = []
    loading: bool = False

    async def _refresh(self, actor: Actor | None = None) -> None:
        query = search.DoctorQuery(
            name=self.name,
            specialty=self.specialty,
            consultation_type=self.consultation_type,
            language=self.language,
            within=self.within,
            on=date.fromisoformat(self.on) if self.on else None,
            within_km=self.within_km,
            sort=self.sort,
        )
        if self.place == near.HOME and actor is None:
            actor, _ = await resolve_actor(self, ("patient",))
        try:
            result = await self._call(
                near.find_doctors, query=query, place=self.place, page=self.page, actor=actor
            )
        except near.PlaceNotFound as exc:
            self.place_error, self.rows, self.total, self.pages = exc.message, [], 0, 1
            return
        self.place_error = ""
        self.rows = [_row(c) for c in result.items]
        self.total, self.pages = result.total, result.pages

    async def _show_progress(self) -> AsyncIterator[Events]:
        """Says "Searching..." first when the search may take a while (a typed place is
        looked up on Google Maps); a search of the database alone answers at once."""
        if may_keep_waiting(near.find_doctors, place=self.place):
            self.loading = True
            yield

    @rx.event
    @ends_page_load
    @public
    async def load(self) -> AsyncIterator[Events]:
        self.page = 1
        # The page open's one session resolution (it also keeps the navigation honest).
        actor = await (await self.get_state(AuthState))._current_actor()
        patient = actor if actor is not None and actor.role == "patient" else None
        if patient is not None and self.place in ("", near.HOME):
            self.place = near.HOME  # a patient whose home is on the map searches from it
        async for update in self._show_progress():
            yield update
        await self._refresh(patient)
        if self.place == near.HOME and self.place_error:
            self.place, self.place_error = "", ""  # no home on the map yet: search anywhere
            await self._refresh()
        self.loading = False

    async def _is_patient(self) -> bool:
        auth = await self.get_state(AuthState)
        return auth.role == "patient"

    @rx.event
    @public
    async def search(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.name = form_text(form, "name")[:100]
        self.specialty = form_text(form, "specialty")[:100]
        self.consultation_type = form_text(form, "consultation_type")[:50]
        self.language = form_text(form, "language")[:10]
        within = form_text(form, "within")
        self.within = within if within in search.WITHIN else ""
        if form.get("near_home") and await self._is_patient():
            self.place = near.HOME
        else:
            self.place = form_text(form, "place")[:200]
        km = form_text(form, "within_km")
        self.within_km = int(km) if km.isdigit() and int(km) in search.WITHIN_KM else 0
        sort = form_text(form, "sort")
        self.sort = sort if sort in ("earliest", "nearest") else "earliest"
        on = form_text(form, "on")[:20]
        try:
            self.on = date.fromisoformat(on).isoformat() if on else ""
            self.on_error = ""
        except ValueError:
            self.on, self.on_error = "", "Choose a day from the calendar, or leave it empty."
            return
        self.page = 1
        async for update in self._show_progress():
            yield update
        await self._refresh()
        self.loading = False

    @rx.event
    @public
    async def clear_filters(self) -> None:
        """The empty state's way out: every doctor with free time."""
        self.name = self.specialty = self.consultation_type = self.language = self.within = ""
        self.on = self.on_error = self.place = self.place_error = ""
        self.within_km, self.sort = 0, "earliest"
        self.page = 1
        await self._refresh()
        self.loading = False

    @rx.event
    @public
    async def go_to_page(self, page: int) -> None:
        self.page = clamp_page(page, self.pages)
        await self._refresh()
