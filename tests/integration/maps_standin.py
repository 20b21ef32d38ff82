"""A local Google Maps web services stand-in on 127.0.0.1 (plain HTTP, as googlemaps'
`base_url` allows): geocode, nearby search and place details, with answers tests steer
(ZERO_RESULTS for unknown places, OVER_QUERY_LIMIT, REQUEST_DENIED, HTTP 500 once)."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.integration.served import Served, free_port

SERVER_KEY = "AIzaStandInServerKey0123456789abcdefgh"


@dataclass
class Spot:
    place_id: str
    name: str
    address: str
    lat: float
    lng: float
    types: tuple[str, ...] = ("pharmacy", "health", "store")
    phone: str = "(416) 555-0142"


@dataclass
class MapsStandIn:
    base: str
    # Normalised address text -> (lat, lng).
    addresses: dict[str, tuple[float, float]] = field(default_factory=dict)
    places: list[Spot] = field(default_factory=list)
    # Queued answers for the next calls: "OVER_QUERY_LIMIT", "REQUEST_DENIED" or 500.
    next_answers: deque[str | int] = field(default_factory=deque)
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.next_answers.clear()
            self.calls.clear()

    def add_address(self, text: str, lat: float, lng: float) -> None:
        self.addresses[" ".join(text.lower().split())] = (lat, lng)

    def calls_to(self, api: str) -> list[dict[str, str]]:
        return [q for path, q in self.calls if api in path]


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def _app(s: MapsStandIn) -> Starlette:
    def steer(request: Request) -> Response | None:
        query = dict(request.query_params)
        with s.lock:
            s.calls.append((request.url.path, query))
            answer = s.next_answers.popleft() if s.next_answers else None
        if query.get("key") != SERVER_KEY:
            return JSONResponse({"status": "REQUEST_DENIED", "error_message": "bad key"})
        if answer == 500:
            return JSONResponse({"error": "backend"}, status_code=500)
        if isinstance(answer, str):
            return JSONResponse({"status": answer, "error_message": answer.lower()})
        return None

    def geocode(request: Request) -> Response:
        steered = steer(request)
        if steered is not None:
            return steered
        text = " ".join(request.query_params.get("address", "").lower().split())
        found = s.addresses.get(text)
        if found is None:
            return JSONResponse({"status": "ZERO_RESULTS", "results": []})
        return JSONResponse(
            {
                "status": "OK",
                "results": [
                    {
                        "place_id": f"geo-{abs(hash(text)) % 10**8}",
                        "formatted_address": text,
                        "geometry": {"location": {"lat": found[0], "lng": found[1]}},
                    }
                ],
            }
        )

    def nearby(request: Request) -> Response:
        steered = steer(request)
        if steered is not None:
            return steered
        lat, lng = (float(x) for x in request.query_params["location"].split(","))
        radius_km = float(request.query_params.get("radius", "5000")) / 1000
        wanted = request.query_params.get("type", "")
        found = [
            p
            for p in s.places
            if _km((lat, lng), (p.lat, p.lng)) <= radius_km
            # Google's nearby search is loose about types: a store selling medicine comes too.
            and (not wanted or wanted in p.types or "store" in p.types)
        ]
        return JSONResponse(
            {
                "status": "OK" if found else "ZERO_RESULTS",
                "results": [
                    {
                        "place_id": p.place_id,
                        "name": p.name,
                        "vicinity": p.address,
                        "geometry": {"location": {"lat": p.lat, "lng": p.lng}},
                        "types": list(p.types),
                    }
                    for p in found
                ],
            }
        )

    def details(request: Request) -> Response:
        steered = steer(request)
        if steered is not None:
            return steered
        wanted = request.query_params.get("placeid", "")  # what googlemaps sends
        for p in s.places:
            if p.place_id == wanted:
                return JSONResponse(
                    {
                        "status": "OK",
                        "result": {
                            "place_id": p.place_id,
                            "name": p.name,
                            "formatted_address": p.address,
                            "formatted_phone_number": p.phone,
                            "geometry": {"location": {"lat": p.lat, "lng": p.lng}},
                            "types": list(p.types),
                        },
                    }
                )
        return JSONResponse({"status": "NOT_FOUND"})

    return Starlette(
        routes=[
            Route("/maps/api/geocode/json", geocode),
            Route("/maps/api/place/nearbysearch/json", nearby),
            Route("/maps/api/place/details/json", details),
        ]
    )


class RunningMapsStandIn:
    def __init__(self) -> None:
        port = free_port()
        self.state = MapsStandIn(base=f"http://127.0.0.1:{port}")
        self._served = Served(_app(self.state), port)

    def stop(self) -> None:
        self._served.stop()


# Around Toronto: the demo's clinics and homes live here too.
TORONTO_PHARMACIES = [
    Spot("ph-queen", "Queen Street Pharmacy", "120 Queen St W, Toronto", 43.6515, -79.3840),
    Spot("ph-king", "King West Drugs", "400 King St W, Toronto", 43.6455, -79.3950),
    Spot("ph-far", "Scarborough Pharmacy", "1 Progress Ave, Scarborough", 43.7750, -79.2570),
    Spot(
        "st-corner",
        "Corner Convenience",
        "5 Bay St, Toronto",
        43.6440,
        -79.3770,
        types=("convenience_store", "store"),
    ),
]


def env_for(standin: MapsStandIn) -> dict[str, str]:
    return {
        "GOOGLE_MAPS_SERVER_KEY": SERVER_KEY,
        "GOOGLE_MAPS_BASE_URL": standin.base,
        "GOOGLE_MAPS_RETRY_TIMEOUT_SECONDS": "1",
        "GOOGLE_MAPS_TIMEOUT_SECONDS": "3",
    }
