"""Google Maps answers we keep: an address is geocoded once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class GeocodeCache(SQLModel, table=True):
    """The geocoder's answer for one normalised address (found or not)."""

    __tablename__ = "geocode_cache"

    # SHA-256 of the normalised address text: the address itself is not kept here.
    key: str = Field(primary_key=True, max_length=64)
    found: bool
    latitude: float | None = None
    longitude: float | None = None
    place_id: str = Field(default="", max_length=300)
    fetched_at: datetime = utc_field()
