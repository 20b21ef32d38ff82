"""Microsoft 365 against the local identity platform and Graph stand-in, through the real
MSAL and httpx clients, on SQLite and PostgreSQL.

Connecting runs the authorization-code flow with PKCE the way a browser would (the consent
page's form, the redirect's query); calendar work goes through the outbox exactly as the
scheduler sends it. The clock is the real one here: MSAL and the stand-in's tokens live in
real time.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import (
    Appointment,
    AuditEvent,
    CalendarEvent,
    Channel,
    ConnectionStatus,
    DevMailboxMessage,
    MicrosoftConnection,
    OutboxMessage,
    Slot,
    SlotStatus,
)
from health_app.services.errors import DomainError
from health_app.services.jobs.scheduler import make_senders
from health_app.services.messaging.outbox import DeliveryReport, deliver_due
from health_app.services.microsoft import busy_times, connections
from health_app.services.microsoft.connections import ConnectRefused
from health_app.services.scheduling import booking, search
from health_app.services.views import Actor
from tests.integration.microsoft_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    RunningStandIn,
    StandIn,
)
from tests.services.scheduling_helpers import people, request

REDIRECT = "http://127.0.0.1:3000/_auth/microsoft/callback"
DOCTOR_MS = "amir.khan@clinic.example"
PATIENT_MS = "jane.doe@contoso.example"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    server = RunningStandIn(Path(tmp_path_factory.mktemp("microsoft")))
    server.state.add_account(DOCTOR_MS, "Amir Khan (Clinic)")
    server.state.add_account(PATIENT_MS, "Jane Doe")
    yield server.state
    server.stop()


@pytest.fixture
def standin(running: StandIn, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    # requests would prefer these over MSAL's `verify`.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    running.reset()
    return running


@pytest.fixture
def ms(settings: Settings, standin: StandIn) -> Settings:
    return replace(
        settings,
        booking_attempts_per_hour=1000,
        max_future_appointments=1000,
        microsoft_client_id=CLIENT_ID,
        microsoft_client_secret=CLIENT_SECRET,
        microsoft_authority_host=standin.base,
        microsoft_graph_base_url=f"{standin.base}/v1.0",
        microsoft_token_keys=("test-token-key-" + "k" * 32,),
        microsoft_ca_bundle=str(standin.ca_path),
        microsoft_timeout_seconds=2,
    )


@pytest.fixture
def clock() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Ctx(NamedTuple):
    engine: Engine
    session: Session
    ms: Settings
    standin: StandIn
    cast_: tuple[Actor, Actor]
    clock: datetime


@pytest.fixture
def cast_(session: Session, ms: Settings, clock: datetime) -> tuple[Actor, Actor]:
    doctors, patients = people(session, ms, clock, doctors=1, patients=2)
    return doctors[0], patients[0]


def _trust(standin: StandIn) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(standin.ca_path))


@contextmanager
def _browser_quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture
def ctx(
    engine: Engine,
    session: Session,
    ms: Settings,
    standin: StandIn,
    cast_: tuple[Actor, Actor],
    clock: datetime,
) -> Ctx:
    """Everything a test here uses, in one argument."""
    return Ctx(engine, session, ms, standin, cast_, clock)


def consent(standin: StandIn, auth_uri: str, *, decision: str = "accept") -> dict[str, str]:
    """What the browser does at Microsoft: the consent form, then the redirect's query.
    (The browser's own HTTP logging is muted: it sees the code, our server must not log it.)"""
    with _browser_quiet(), httpx.Client(verify=_trust(standin)) as client:
        page = client.get(auth_uri)
        assert page.status_code == 200, page.text
        query = dict(parse_qsl(urlsplit(auth_uri).query))
        tenant = urlsplit(auth_uri).path.split("/")[1]
        answer = client.post(
            f"{standin.base}/{tenant}/oauth2/v2.0/consent", data={**query, "decision": decision}
        )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return dict(parse_qsl(urlsplit(location).query))


def connect(
    session: Session, ms: Settings, standin: StandIn, actor: Actor, email: str, now: datetime
) -> connections.MicrosoftView:
    standin.next_login = email
    auth_uri = connections.begin_connect(
        session, actor=actor, settings=ms, now=now, redirect_uri=REDIRECT
    )
    session.commit()
    answer = consent(standin, auth_uri)
    view = connections.finish_connect(session, actor=actor, settings=ms, now=now, answer=answer)
    session.commit()
    return view


def deliver(engine: Engine, ms: Settings, now: datetime) -> DeliveryReport:
    return deliver_due(engine, make_senders(ms, engine), now=now)


def open_and_book(
    session: Session,
    ms: Settings,
    doctor: Actor,
    patient: Actor,
    now: datetime,
    *,
    days: int = 2,
    fmt: str = "video",
) -> int:
    from health_app.services.scheduling import availability

    day = (now + timedelta(days=days)).astimezone(ms.clinic_zone).date()
    availability.open_range(
        session,
        actor=doctor,
        first=day,
        last=day,
        start=datetime.strptime("09:00", "%H:%M").time(),
        end=datetime.strptime("12:00", "%H:%M").time(),
        minutes=30,
        now=now,
    )
    session.commit()
    slot = session.exec(
        select(Slot)
        .where(Slot.doctor_id == doctor.user_id, Slot.status == SlotStatus.OPEN)
        .order_by(col(Slot.starts_at))
    ).first()
    assert slot is not None and slot.id is not None
    view = booking.book_appointment(
        session, actor=patient, request=request(slot.id, format=fmt), settings=ms, now=now
    )
    session.commit()
    return view.id


def fresh(session: Session) -> None:
    session.commit()
    session.expire_all()


def calendar_rows(session: Session, appointment_id: int) -> list[OutboxMessage]:
    fresh(session)
    return list(
        session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.appointment_id == appointment_id,
                OutboxMessage.channel == Channel.CALENDAR,
            )
            .order_by(col(OutboxMessage.id))
        )
    )


# --- connecting --------------------------------------------------------------------------


def test_connecting_shows_the_account_and_keeps_the_tokens_sealed(
    session: Session, ms: Settings, standin: StandIn, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    doctor, _ = cast_
    before = connections.get_connection(session, actor=doctor, settings=ms)
    assert before.available and before.status == "none"
    view = connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    assert view.connected and view.teams
    assert (view.display_name, view.email) == ("Amir Khan (Clinic)", DOCTOR_MS)
    assert "authorization_code" in standin.grants
    row = session.get(MicrosoftConnection, doctor.user_id)
    assert row is not None and row.token_cache
    # Nothing the stand-in handed out is readable in the database.
    for secret in standin.issued:
        assert secret not in row.token_cache
    assert "refresh_token" not in row.token_cache
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "microsoft.connect")).all()
    assert [a.outcome for a in audit] == ["success"]


def test_a_patient_gets_calendar_access_only(
    session: Session, ms: Settings, standin: StandIn, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    _, patient = cast_
    standin.next_login = PATIENT_MS
    auth_uri = connections.begin_connect(
        session, actor=patient, settings=ms, now=clock, redirect_uri=REDIRECT
    )
    scopes = dict(parse_qsl(urlsplit(auth_uri).query))["scope"].split()
    assert "Calendars.ReadWrite" in scopes and "offline_access" in scopes
    assert "OnlineMeetings.ReadWrite" not in scopes
    query = dict(parse_qsl(urlsplit(auth_uri).query))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]


def test_a_changed_state_or_someone_elses_flow_is_refused(
    session: Session, ms: Settings, standin: StandIn, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    doctor, patient = cast_
    standin.next_login = DOCTOR_MS
    auth_uri = connections.begin_connect(
        session, actor=doctor, settings=ms, now=clock, redirect_uri=REDIRECT
    )
    session.commit()
    answer = consent(standin, auth_uri)
    with pytest.raises(ConnectRefused) as refused:
        connections.finish_connect(
            session, actor=doctor, settings=ms, now=clock, answer={**answer, "state": "forged"}
        )
    assert refused.value.code == "refused"
    session.rollback()
    # The patient's browser cannot finish the doctor's sign-in either.
    with pytest.raises(ConnectRefused):
        connections.finish_connect(session, actor=patient, settings=ms, now=clock, answer=answer)
    session.rollback()
    assert session.get(MicrosoftConnection, doctor.user_id) is None
    assert session.get(MicrosoftConnection, patient.user_id) is None
    denied = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "microsoft.connect", AuditEvent.outcome == "denied"
        )
    ).all()
    assert len(denied) == 2


@pytest.mark.parametrize(
    "flaw", ["wrong_audience", "wrong_issuer", "expired", "wrong_nonce", "wrong_tenant"]
)
def test_an_id_token_that_is_not_ours_is_refused(ctx: Ctx, flaw: str) -> None:
    _engine, session, ms, standin, cast_, clock = ctx
    doctor, _ = cast_
    if flaw == "wrong_tenant":
        ms = replace(ms, microsoft_tenant="72f988bf-86f1-41af-91ab-2d7cd011db47")
    standin.id_token_flaw = flaw
    with pytest.raises(ConnectRefused) as refused:
        connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    assert refused.value.code == "refused"
    session.rollback()
    assert session.get(MicrosoftConnection, doctor.user_id) is None


def test_declining_the_permissions_says_so(
    session: Session, ms: Settings, standin: StandIn, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    doctor, _ = cast_
    auth_uri = connections.begin_connect(
        session, actor=doctor, settings=ms, now=clock, redirect_uri=REDIRECT
    )
    session.commit()
    answer = consent(standin, auth_uri, decision="cancel")
    with pytest.raises(ConnectRefused) as refused:
        connections.finish_connect(session, actor=doctor, settings=ms, now=clock, answer=answer)
    assert refused.value.code == "declined"
    assert "not granted" in refused.value.message


def test_microsoft_unreachable_says_so_and_changes_nothing(
    session: Session, ms: Settings, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    _, patient = cast_
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{sock.getsockname()[1]}"
    down = replace(ms, microsoft_authority_host=closed)
    with pytest.raises(ConnectRefused) as refused:
        connections.begin_connect(
            session, actor=patient, settings=down, now=clock, redirect_uri=REDIRECT
        )
    assert refused.value.code == "unavailable"
    assert "try again" in refused.value.message.lower()


def test_disconnecting_erases_the_tokens_and_keeps_the_record(
    session: Session, ms: Settings, standin: StandIn, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    doctor, _ = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    connections.disconnect(session, actor=doctor, settings=ms, now=clock)
    session.commit()
    row = session.get(MicrosoftConnection, doctor.user_id)
    assert row is not None and row.status == ConnectionStatus.DISCONNECTED
    assert row.token_cache == "" and row.disconnected_at is not None
    assert connections.get_connection(session, actor=doctor, settings=ms).status == "disconnected"
    with pytest.raises(DomainError):
        connections.disconnect(session, actor=doctor, settings=ms, now=clock)


def test_without_an_app_registration_nothing_is_offered_and_booking_works(
    session: Session, settings: Settings, cast_: tuple[Actor, Actor], clock: datetime
) -> None:
    doctor, patient = cast_
    plain = replace(settings, booking_attempts_per_hour=1000)
    assert not connections.get_connection(session, actor=patient, settings=plain).available
    with pytest.raises(ConnectRefused) as refused:
        connections.begin_connect(
            session, actor=patient, settings=plain, now=clock, redirect_uri=REDIRECT
        )
    assert refused.value.code == "not_set_up"
    appointment_id = open_and_book(session, plain, doctor, patient, clock)
    assert calendar_rows(session, appointment_id) == []
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.join_url.startswith(plain.video_room_base_url)


# --- calendar events ---------------------------------------------------------------------


def test_a_booking_puts_the_visit_in_both_calendars_with_a_teams_meeting(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    appointment_id = open_and_book(session, ms, doctor, patient, clock)
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.join_url == ""  # the Teams link is on its way
    report = deliver(engine, ms, clock)
    assert report.failed == 0, report.errors
    fresh(session)
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.join_url.startswith("https://teams.microsoft.com/")
    (doctor_event,) = standin.events_of(DOCTOR_MS)
    (patient_event,) = standin.events_of(PATIENT_MS)
    assert doctor_event.body["isOnlineMeeting"] is True
    assert doctor_event.join_url == appt.join_url
    assert patient_event.body["location"]["displayName"] == appt.join_url
    assert doctor_event.body["start"]["timeZone"] == ms.clinic_timezone
    local = appt.starts_at.astimezone(ms.clinic_zone).strftime("%Y-%m-%dT%H:%M:%S")
    assert patient_event.body["start"]["dateTime"] == local
    patient_user = session.get(MicrosoftConnection, patient.user_id)
    assert patient_user is not None
    attendees = [a["emailAddress"]["address"] for a in doctor_event.body["attendees"]]
    assert len(attendees) == 1 and attendees[0] != ""
    # No clinical detail leaves for Outlook.
    for event in (doctor_event, patient_event):
        assert "Sore throat" not in str(event.body)
        assert "general" not in event.body["subject"].lower()
    # The emails carry the Teams link, not a placeholder.
    fresh(session)
    mails = session.exec(
        select(DevMailboxMessage).where(col(DevMailboxMessage.subject).contains("Visit booked"))
    ).all()
    assert mails and all(appt.join_url in m.body and "{{" not in m.body for m in mails)
    assert all(appt.join_url in m.attachment for m in mails)
    events = session.exec(select(CalendarEvent)).all()
    assert {e.user_id for e in events} == {doctor.user_id, patient.user_id}


def test_a_move_updates_the_events_and_a_cancel_deletes_them(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    appointment_id = open_and_book(session, ms, doctor, patient, clock)
    deliver(engine, ms, clock)
    (before,) = standin.events_of(PATIENT_MS)
    start_before = before.body["start"]["dateTime"]
    later = session.exec(
        select(Slot)
        .where(Slot.doctor_id == doctor.user_id, Slot.status == SlotStatus.OPEN)
        .order_by(col(Slot.starts_at).desc())
    ).first()
    assert later is not None and later.id is not None
    booking.reschedule_appointment(
        session,
        actor=patient,
        appointment_id=appointment_id,
        new_slot_id=later.id,
        settings=ms,
        now=clock,
    )
    session.commit()
    report = deliver(engine, ms, clock)
    assert report.failed == 0, report.errors
    (after,) = standin.events_of(PATIENT_MS)
    assert after.id == before.id and after.body["start"]["dateTime"] != start_before
    assert len(standin.events_of(DOCTOR_MS)) == 1
    assert len(standin.graph_calls("PATCH")) == 2
    booking.cancel_appointment(
        session,
        actor=patient,
        appointment_id=appointment_id,
        reason="Feeling better",
        now=clock,
        settings=ms,
    )
    session.commit()
    report = deliver(engine, ms, clock)
    assert report.failed == 0, report.errors
    assert standin.events_of(PATIENT_MS) == [] and standin.events_of(DOCTOR_MS) == []
    fresh(session)
    assert {e.status for e in session.exec(select(CalendarEvent)).all()} == {"deleted"}


def test_a_401_refreshes_the_token_once_and_succeeds(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    standin.grants.clear()
    standin.expire_access_tokens()  # Graph now answers 401 to the cached token
    open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    report = deliver(engine, ms, clock)
    assert report.failed == 0 and report.retried == 0, report.errors
    assert standin.grants == ["refresh_token"]
    assert [c[2] for c in standin.graph_calls("POST")] == [401, 201]
    assert len(standin.events_of(PATIENT_MS)) == 1


def test_a_refused_refresh_asks_the_person_to_reconnect_and_booking_still_works(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    standin.expire_access_tokens()
    standin.refresh_refused = True
    appointment_id = open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    report = deliver(engine, ms, clock)
    assert report.failed == 1
    (row,) = calendar_rows(session, appointment_id)
    assert row.status == "failed" and "reconnect" in row.last_error
    view = connections.get_connection(session, actor=patient, settings=ms)
    assert view.status == "needs_reconnect"
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.status == "booked"
    # Reconnecting sends the waiting work.
    standin.refresh_refused = False
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    report = deliver(engine, ms, clock)
    assert report.failed == 0, report.errors
    assert len(standin.events_of(PATIENT_MS)) == 1
    (row,) = calendar_rows(session, appointment_id)
    assert row.status == "sent"


def test_a_429_waits_for_retry_after(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    appointment_id = open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    standin.fail_next(429, retry_after="600")
    report = deliver(engine, ms, clock)
    assert report.retried == 1
    (row,) = calendar_rows(session, appointment_id)
    assert row.status == "pending"
    waited = row.next_attempt_at.replace(tzinfo=UTC) - clock
    assert waited >= timedelta(seconds=600)
    assert deliver(engine, ms, clock + timedelta(seconds=300)).sent == 0
    assert deliver(engine, ms, clock + timedelta(seconds=601)).sent == 1
    assert len(standin.events_of(PATIENT_MS)) == 1


def test_graph_down_leaves_a_retry_and_the_booking_intact(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    standin.fail_next(503, times=2)
    appointment_id = open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    first = deliver(engine, ms, clock)
    assert first.retried == 1 and first.failed == 0
    (row,) = calendar_rows(session, appointment_id)
    assert row.status == "pending" and "503" in row.last_error
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.status == "booked"
    later = clock + timedelta(hours=1)
    deliver(engine, ms, later)  # the second 503
    assert deliver(engine, ms, later + timedelta(hours=1)).sent == 1
    assert len(standin.events_of(PATIENT_MS)) == 1


def test_a_lost_answer_never_makes_a_second_event(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    appointment_id = open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    standin.drop_next_create_answer = True  # stored at Microsoft, answer lost on the way
    assert deliver(engine, ms, clock).retried == 1
    assert deliver(engine, ms, clock + timedelta(hours=1)).sent == 1
    assert len(standin.events_of(PATIENT_MS)) == 1
    assert len(standin.graph_calls("POST")) == 2
    (row,) = calendar_rows(session, appointment_id)
    assert row.provider_message_id == standin.events_of(PATIENT_MS)[0].id


def test_teams_down_gives_the_visit_a_room_of_its_own_after_a_short_wait(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    standin.fail_next(503, times=50)
    appointment_id = open_and_book(session, ms, doctor, patient, clock)
    deliver(engine, ms, clock)
    fresh(session)
    held = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.appointment_id == appointment_id,
            OutboxMessage.channel == Channel.EMAIL,
            OutboxMessage.kind == "appointment.booked",
        )
    ).all()
    assert held and all(m.status == "pending" for m in held)
    deliver(engine, ms, clock + timedelta(minutes=6))
    fresh(session)
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.join_url.startswith(ms.video_room_base_url)
    mails = session.exec(
        select(DevMailboxMessage).where(col(DevMailboxMessage.subject).contains("Visit booked"))
    ).all()
    assert len(mails) == 2 and all(appt.join_url in m.body for m in mails)


def test_no_token_or_code_reaches_a_log_line(ctx: Ctx, caplog: pytest.LogCaptureFixture) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    caplog.set_level(logging.DEBUG)
    doctor, patient = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    connect(session, ms, standin, patient, PATIENT_MS, clock)
    standin.expire_access_tokens()
    open_and_book(session, ms, doctor, patient, clock)
    deliver(engine, ms, clock)
    standin.refresh_refused = True
    standin.expire_access_tokens()
    busy_times.refresh_due(engine, ms, now=clock)
    assert standin.issued
    text = caplog.text
    for secret in [*standin.issued, CLIENT_SECRET]:
        assert secret not in text


# --- Outlook busy times ------------------------------------------------------------------


def test_an_outlook_meeting_blocks_the_slot_it_overlaps_and_reopens_when_gone(ctx: Ctx) -> None:
    engine, session, ms, standin, cast_, clock = ctx
    doctor, patient = cast_
    connect(session, ms, standin, doctor, DOCTOR_MS, clock)
    appointment_id = open_and_book(session, ms, doctor, patient, clock, fmt="phone")
    deliver(engine, ms, clock)  # our own visit event must not block anything
    slots = session.exec(
        select(Slot).where(Slot.doctor_id == doctor.user_id).order_by(col(Slot.starts_at))
    ).all()
    target = slots[2]
    meeting = standin.add_outlook_event(
        DOCTOR_MS, target.starts_at + timedelta(minutes=10), target.ends_at + timedelta(minutes=5)
    )
    report = busy_times.refresh_due(engine, ms, now=clock)
    assert report.doctors == 1 and report.errors == 0
    fresh(session)
    status = {
        s.id: s.status for s in session.exec(select(Slot).where(Slot.doctor_id == doctor.user_id))
    }
    assert status[target.id] == SlotStatus.BLOCKED
    assert status[slots[3].id] == SlotStatus.BLOCKED  # the meeting runs into the next one
    assert status[slots[1].id] == SlotStatus.OPEN
    assert status[slots[0].id] == SlotStatus.BOOKED
    appt = session.get(Appointment, appointment_id)
    assert appt is not None and appt.status == "booked"
    # A patient cannot book over the meeting.
    other = people_patient(session, patient)
    with pytest.raises(DomainError):
        assert target.id is not None
        booking.book_appointment(
            session, actor=other, request=request(target.id, format="phone"), settings=ms, now=clock
        )
    session.rollback()
    day = target.starts_at.astimezone(ms.clinic_zone).date()
    offered = search.free_times(session, doctor_id=doctor.user_id, day=day, now=clock)
    assert offered and all(f.slot_id != target.id for f in offered)
    # Not read again before the interval; after it, the meeting's removal reopens the slots.
    with standin.lock:
        del standin.events[meeting.id]
    assert busy_times.refresh_due(engine, ms, now=clock + timedelta(minutes=1)).doctors == 0
    assert busy_times.refresh_due(engine, ms, now=clock + timedelta(minutes=6)).doctors == 1
    fresh(session)
    assert session.get(Slot, target.id).status == SlotStatus.OPEN  # type: ignore[union-attr]


def people_patient(session: Session, patient: Actor) -> Actor:
    """Another patient than `patient`."""
    from health_app.models import Role, User
    from tests.services.scheduling_helpers import actor_for

    other = session.exec(
        select(User).where(User.role == Role.PATIENT, User.id != patient.user_id)
    ).first()
    assert other is not None
    return actor_for(other)
