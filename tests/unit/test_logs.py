"""Log lines: JSON with request and event ids, scrubbed of personal data and secrets."""

from __future__ import annotations

import json
import logging
import random
import warnings

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from health_app import logs
from health_app.event_figures import (
    WINDOW_SECONDS,
    WorkerFigures,
    _decode,
    _encode,
    _EventClock,
    combine,
    p95,
)
from health_app.http_request_ids import RequestIds
from health_app.services.validation import health_card_from_digits


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ("login failed for jane.doe+clinic@example.org", "login failed for [email]"),
        (f"card {health_card_from_digits('700000001', 'AB')} refused", "card [card] refused"),
        ("card 7000000017 refused", "card [card] refused"),
        ("text to +14165550123 failed", "text to [phone] failed"),
        ("GET /confirm?token=abc123def HTTP/1.1", "GET /confirm?token=[redacted] HTTP/1.1"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer [redacted]"),
        ("id token eyJhbGciOiJSUzI1.eyJzdWIiOiIxMjM0.sig", "id token [token]"),
        ("visit 42 booked in 11.5 ms", "visit 42 booked in 11.5 ms"),
    ],
)
def test_personal_data_and_secrets_are_scrubbed(said: str, kept: str) -> None:
    assert logs.scrub(said) == kept


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("no account for jane@example.org")
        except ValueError:
            import sys

            info = sys.exc_info()
    return logging.LogRecord("health_app.test", logging.ERROR, __file__, 1, message, args, info)


def test_a_json_line_names_its_request_and_event_and_hides_what_an_error_quotes() -> None:
    rid, eid, name = (
        logs.request_id.set("req-12345678"),
        logs.event_id.set("ev1"),
        logs.event_name.set("book"),
    )
    try:
        record = _record("booking by %s", "a@b.org", exc=True)
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.request_id.reset(rid)
        logs.event_id.reset(eid)
        logs.event_name.reset(name)
    assert line["message"] == "booking by [email]"
    assert (line["request_id"], line["event_id"], line["event"]) == ("req-12345678", "ev1", "book")
    assert line["level"] == "error" and line["error"] == "ValueError"
    assert "jane@example.org" not in line["traceback"] and "[email]" in line["traceback"]
    assert {"time", "logger", "worker"} <= set(line)


def test_configure_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        monkeypatch.setenv("DEV_MODE", "false")
        logs.configure_from_environment()
        ours = [h for h in root.handlers if isinstance(h, logs._OurHandler)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.JsonFormatter)
        monkeypatch.setenv("LOG_FORMAT", "text")
        logs.configure_from_environment()  # again: still one handler of ours
        ours = [h for h in root.handlers if isinstance(h, logs._OurHandler)]
        assert len(ours) == 1 and isinstance(ours[0].formatter, logs.TextFormatter)
        monkeypatch.setenv("LOG_FORMAT", "xml")
        with pytest.raises(ValueError, match="LOG_FORMAT must be"):
            logs.configure_from_environment()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(logs.request_id.get())


def test_each_request_gets_an_id_in_its_header_lines_and_one_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with warnings.catch_warnings():  # starlette would rather have httpx2, which is not here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = RequestIds(Starlette(routes=[Route("/confirm", _echo)]))
    with TestClient(app) as client, caplog.at_level(logging.INFO, "health_app.access"):
        answer = client.get("/confirm?token=secret-value&email=jane@example.org")
        given = client.get("/confirm", headers={"X-Request-ID": "front-door-0123456789"})
        bogus = client.get("/confirm", headers={"X-Request-ID": "bad id\nwith newline"})
    rid = answer.headers["x-request-id"]
    assert len(rid) == 32 and answer.text == rid  # handlers see the same id
    assert given.headers["x-request-id"] == "front-door-0123456789"  # a proxy's id is kept
    assert bogus.headers["x-request-id"] != "bad id\nwith newline"
    access = [r.getMessage() for r in caplog.records if r.name == "health_app.access"]
    assert len(access) == 3 and access[0].startswith("GET /confirm 200 ")
    assert all("secret-value" not in a and "jane" not in a for a in access)


def _worker(connected: int, durations: list[float]) -> WorkerFigures:
    clock = _EventClock()
    for ms in durations:
        clock.record(ms, now=1000.0)
    return clock.summary(connected, now=1000.0)


def test_figures_of_several_workers_add_up() -> None:
    combined = combine([_worker(3, [10.0] * 100), _worker(2, [90.0] * 20)])
    assert (combined.workers, combined.connected, combined.events_per_minute) == (2, 5, 120)
    assert combined.p95_ms == pytest.approx(90.0, rel=0.05)
    assert combined.p95_ms is not None and combined.p95_ms >= 90.0  # never reported low


def test_a_busy_worker_weighs_as_many_events_as_it_answered() -> None:
    # 2,000 quick events on one worker, 50 slow ones on the other: the slow ones are the
    # slowest 2.4 %, so the p95 is a quick one (a sample per worker would say slow).
    combined = combine([_worker(1, [4.0] * 2000), _worker(1, [700.0] * 50)])
    assert combined.p95_ms == pytest.approx(4.0, rel=0.05)


def test_the_p95_of_the_buckets_is_within_five_percent_of_the_exact_one() -> None:
    rng = random.Random(7)
    for _ in range(20):
        durations = [rng.lognormvariate(1.5, 1.2) for _ in range(rng.randint(1, 3000))]
        exact = sorted(durations)[min(len(durations) - 1, int(0.95 * len(durations)))]
        found = p95(_worker(0, durations).durations)
        assert found is not None and exact <= found <= exact * 1.05 + 1e-9


def test_the_clock_keeps_a_minute_in_bounded_memory_whatever_the_load() -> None:
    clock = _EventClock()
    for i in range(120_000):  # 1,000 events/s for two minutes
        clock.record(1.0 + (i % 500) / 10, now=5000.0 + i / 1000)
    figures = clock.summary(0, now=5119.9)
    assert figures.events == 60_000  # the last minute only
    assert len(clock._seconds) == WINDOW_SECONDS
    assert all(len(counts) < 100 for _, counts in clock._seconds)  # buckets, not events
    assert clock.summary(0, now=5300.0).events == 0  # and all of it forgotten when idle


def test_figures_of_an_idle_worker_have_no_percentile() -> None:
    assert combine([WorkerFigures(0)]).p95_ms is None


def test_a_summary_goes_through_redis_unchanged_and_an_older_one_is_skipped() -> None:
    figures = _worker(4, [0.05, 3.0, 3.1, 250.0])
    assert _decode(_encode(figures)) == figures
    assert _decode('{"connected": 1, "events": 2, "ms": [3.0, 4.0]}') is None
    assert _decode("not json") is None
