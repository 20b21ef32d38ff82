"""Maps people see: a Google Maps Embed iframe with the public embed key, else a key-less
OpenStreetMap embed from stored coordinates, else the address with a directions link."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus, urlencode

from health_app.config import Settings

GOOGLE_EMBED_ORIGIN = "https://www.google.com"
OSM_ORIGIN = "https://www.openstreetmap.org"
_SPAN = 0.01  # degrees around the point an OpenStreetMap embed shows (about 1 km)


@dataclass(frozen=True)
class MapEmbed:
    src: str  # "" when only the address and the directions link can be shown
    directions: str  # a link that opens directions in the person's map app
    label: str  # the iframe's title, for screen readers


def clinic_map(
    settings: Settings, *, name: str, address: str, latitude: float | None, longitude: float | None
) -> MapEmbed:
    return _clinic_map(settings.google_maps_embed_key, name, address, latitude, longitude)


# Every search result shows its clinic's map: the same few clinics again and again, and
# quoting their addresses was a sixth of a search's time on the event loop (profiled).
@lru_cache(maxsize=4096)
def _clinic_map(
    embed_key: str, name: str, address: str, latitude: float | None, longitude: float | None
) -> MapEmbed:
    label = f"Map of {name}" if name else "Map"
    destination = (
        f"{latitude},{longitude}" if latitude is not None and longitude is not None else address
    )
    directions = "https://www.google.com/maps/dir/?" + urlencode(
        {"api": "1", "destination": destination}, quote_via=quote_plus
    )
    if embed_key:
        query = f"{name}, {address}" if name else address
        src = f"{GOOGLE_EMBED_ORIGIN}/maps/embed/v1/place?" + urlencode(
            {"key": embed_key, "q": query}, quote_via=quote_plus
        )
        return MapEmbed(src, directions, label)
    if latitude is None or longitude is None:
        return MapEmbed("", directions, label)
    box = f"{longitude - _SPAN},{latitude - _SPAN},{longitude + _SPAN},{latitude + _SPAN}"
    src = f"{OSM_ORIGIN}/export/embed.html?" + urlencode(
        {"bbox": box, "layer": "mapnik", "marker": f"{latitude},{longitude}"}
    )
    return MapEmbed(src, directions, label)


def pharmacies_map(settings: Settings, *, latitude: float, longitude: float) -> str:
    """Pharmacies around a home: Google's search embed with a key, else the home on OSM."""
    if settings.google_maps_embed_key:
        return f"{GOOGLE_EMBED_ORIGIN}/maps/embed/v1/search?" + urlencode(
            {
                "key": settings.google_maps_embed_key,
                "q": "pharmacy",
                "center": f"{latitude},{longitude}",
                "zoom": "14",
            }
        )
    return clinic_map(settings, name="", address="", latitude=latitude, longitude=longitude).src


def place_link(name: str, place_id: str) -> str:
    """Opens the place in Google Maps (a new tab), with no key needed."""
    return "https://www.google.com/maps/search/?" + urlencode(
        {"api": "1", "query": name, "query_place_id": place_id}, quote_via=quote_plus
    )


def frame_origins(settings: Settings) -> list[str]:
    """What the Content-Security-Policy lets pages frame."""
    return [GOOGLE_EMBED_ORIGIN, OSM_ORIGIN] if settings.google_maps_embed_key else [OSM_ORIGIN]
