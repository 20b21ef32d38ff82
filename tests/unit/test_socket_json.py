"""The event socket's updates: the JSON Reflex wrote, written by orjson."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from enum import StrEnum

import reflex.app
from reflex.state import StateUpdate
from reflex_base.utils import format

from health_app import socket_json


class Status(StrEnum):
    OPEN = "open"


def test_updates_are_the_json_reflex_wrote() -> None:
    socket_json.install()
    ours = reflex.app._sio_dumps

    payloads = [
        [
            "event",
            StateUpdate(
                delta={
                    "state.find": {
                        "rows_rx_state_": [{"name": "Dr. Zoë Ng", "next": ["Mon 9:00 EST"]}] * 3,
                        "total_rx_state_": 3,
                        "loading_rx_state_": False,
                        "status_rx_state_": Status.OPEN,
                        "day_rx_state_": date(2026, 12, 3),
                        "at_rx_state_": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
                        "by_id_rx_state_": {7: "seven"},
                        "nothing_rx_state_": None,
                    }
                }
            ),
        ],
        ["event", StateUpdate()],  # empty fields are left out, as Reflex leaves them
        ["event", {"big": 2**70}],  # beyond orjson's integers: Reflex's encoder writes it
    ]
    for payload in payloads:
        written = ours(payload, separators=(",", ":"))
        assert isinstance(written, str)
        assert json.loads(written) == json.loads(format.json_dumps(payload)), payload
    assert "Zoë" in ours(payloads[0])  # not escaped to \\u, as Reflex's ensure_ascii=False
    assert json.loads(ours({"x": math.nan})) == {"x": None}  # NaN is not JSON


def test_installing_twice_keeps_one_wrapper() -> None:
    socket_json.install()
    first = reflex.app._sio_dumps
    socket_json.install()
    assert reflex.app._sio_dumps is first and getattr(first, "_health_app_orjson", False)
