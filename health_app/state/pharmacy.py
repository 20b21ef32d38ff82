"""The pharmacy finder page: pharmacies near the patient's home, one chosen."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.config import get_settings
from health_app.page_loads import ends_page_load
from health_app.services.errors import DomainError
from health_app.services.maps import embeds, pharmacies
from health_app.state.client import toast_success
from health_app.state.handlers import Events, FormMixin, signed_in


@dataclass(frozen=True)
class PharmacyRow:
    place_id: str
    name: str
    address: str
    distance: str  # "0.4 km"
    link: str  # the place in Google Maps
    chosen: bool


class PharmacyState(FormMixin, rx.State):
    loaded: bool = False
    available: bool = False  # Maps set up on this server
    home_known: bool = False
    radius: str = ""
    rows: list[PharmacyRow] = []
    map_src: str = ""

    def _page_roles(self) -> tuple[str, ...]:
        return ("patient",)

    async def _refresh(self) -> None:
        finder = await self._call(pharmacies.find_pharmacies)
        self.available, self.home_known = finder.available, finder.home_known
        self.radius = f"{finder.radius_km:g} km"
        self.rows = [
            PharmacyRow(
                place_id=o.place_id,
                name=o.name,
                address=o.address,
                distance=f"{o.distance_km:.1f} km",
                link=embeds.place_link(o.name, o.place_id),
                chosen=o.place_id == finder.chosen_place_id,
            )
            for o in finder.options
        ]
        home = finder.home
        self.map_src = (
            embeds.pharmacies_map(get_settings(), latitude=home[0], longitude=home[1])
            if home is not None and finder.available
            else ""
        )
        self.loaded = True

    @rx.event
    @ends_page_load
    @signed_in("patient", reason="login")
    async def load(self) -> None:
        self.loaded, self.rows = False, []
        try:
            await self._refresh()
        except DomainError as exc:  # Maps not answering: said on the page, typing still works
            self.form_error, self.loaded = exc.message, True

    @rx.event
    @signed_in("patient")
    async def choose(self, place_id: str) -> Events:
        name = await self._call(pharmacies.choose_pharmacy, place_id=str(place_id)[:300])
        await self._refresh()
        return toast_success(f"{name} will receive your prescriptions.")
