"""Finding a doctor: filters, results sorted by the earliest free time, pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services.scheduling import search
from health_app.state.forms import form_text
from health_app.state.handlers import Events, ServiceState, public
from health_app.state.links import photo_url
from health_app.state.paged import clamp_page
from health_app.state.timefmt import when


@dataclass(frozen=True)
class DoctorRow:
    doctor_id: int
    name: str
    specialty: str
    clinic: str
    earliest: str
    photo: str


class FindDoctorState(ServiceState, rx.State):
    name: str = ""
    specialty: str = ""
    consultation_type: str = ""
    language: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    rows: list[DoctorRow] = []
    loading: bool = False

    async def _refresh(self) -> None:
        query = search.DoctorQuery(
            name=self.name,
            specialty=self.specialty,
            consultation_type=self.consultation_type,
            language=self.language,
        )
        result = await self._call(search.search_doctors, query=query, page=self.page)
        self.rows = [
            DoctorRow(
                doctor_id=c.doctor_id,
                name=c.name,
                specialty=c.specialty,
                clinic=c.clinic,
                earliest=when(c.earliest_free, c.time_zone)
                if c.earliest_free
                else "No free time in the next 90 days",
                photo=photo_url(c.photo_blob),
            )
            for c in result.items
        ]
        self.total, self.pages = result.total, result.pages

    @rx.event
    @public
    async def load(self) -> AsyncIterator[Events]:
        self.page, self.loading = 1, True
        yield
        await self._refresh()
        self.loading = False

    @rx.event
    @public
    async def search(self, form: dict[str, Any]) -> AsyncIterator[Events]:
        self.name = form_text(form, "name")[:100]
        self.specialty = form_text(form, "specialty")[:100]
        self.consultation_type = form_text(form, "consultation_type")[:50]
        self.language = form_text(form, "language")[:10]
        self.page, self.loading = 1, True
        yield
        await self._refresh()
        self.loading = False

    @rx.event
    @public
    async def go_to_page(self, page: int) -> None:
        self.page = clamp_page(page, self.pages)
        await self._refresh()
