"""The event socket's updates written as JSON by orjson.

Every event sends the tab at least one update (its delta), encoded by Reflex with Python's
json module and Reflex's serializers: about 55 us for a search's ten doctor cards (4 KB),
3 % of a worker's CPU under benchmarks/bench_load.py (py-spy). orjson writes the same
JSON in about 6 us. Whatever orjson does not write itself (dataclasses such as Reflex's
StateUpdate, dates, subclasses of str and int) goes to Reflex's serializers, as before,
and a payload orjson refuses (an integer beyond 64 bits) is written by Reflex's encoder.
One difference: a NaN is written as null (Reflex wrote NaN, which the browser's JSON
parser refuses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import reflex.app
from reflex_base.utils.serializers import serialize

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_NON_STR_KEYS
)


def _make_dumps(reflex_dumps: Callable[..., str]) -> Callable[..., str]:
    def dumps(obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj, default=serialize, option=_OPTIONS).decode()
        except orjson.JSONEncodeError:
            return reflex_dumps(obj, **kwargs)

    dumps._health_app_orjson = True  # type: ignore[attr-defined]
    return dumps


def install() -> None:
    """Before the app is made: its Socket.IO server takes Reflex's `_sio_dumps` then."""
    current = reflex.app._sio_dumps
    if getattr(current, "_health_app_orjson", False):
        return
    reflex.app._sio_dumps = _make_dumps(current)
