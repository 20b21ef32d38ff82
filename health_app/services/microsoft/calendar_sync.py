"""Visits in Outlook: outbox rows written with the booking, a sender that makes each
connected person's calendar match the visit.

A booking, move or cancel writes one `calendar` outbox row per connected person in its own
transaction (`visit_changed`); the outbox claims and sends it like an email, never inside
the booking. Sending does not replay the row's verb blindly but reconciles: it reads the
visit and the event we made (`CalendarEvent`) and creates, updates or deletes so the
calendar shows the visit as it is now. Rows arriving late or out of order (a move before
the create went out, a cancel while the create was in flight) therefore end in the right
state, and a repeated create is never a second event: the stored event id is checked
first, and Graph's `transactionId` catches a create whose answer was lost.

Video visits with a connected doctor get a Teams meeting: the doctor's event is created as
an online meeting and its join link becomes the visit's link. Until then the visit's link
is empty; messages and the patient's event that need it wait for it (at most
`outbox.JOIN_WAIT`, then a video room of our own is used, so nobody is left without a link).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from health_app import routes
from health_app.config import Settings
from health_app.db import mark_outbox_due, require_id, writer
from health_app.models import (
    Appointment,
    AppointmentStatus,
    CalendarEvent,
    CalendarEventStatus,
    Channel,
    ConnectionStatus,
    MicrosoftConnection,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
    VisitFormat,
)
from health_app.services.messaging import outbox
from health_app.services.messaging.mailer import PermanentSendError, TransientSendError
from health_app.services.microsoft import tokens
from health_app.services.microsoft.graph import Graph, NotFound, http_client
from health_app.services.people import display_name
from health_app.services.scheduling.video_room import new_room_url

log = logging.getLogger(__name__)

CREATE = "calendar.create"
UPDATE = "calendar.update"
DELETE = "calendar.delete"
KINDS = (CREATE, UPDATE, DELETE)
_TXN = uuid.UUID("5b0c53e4-7f7e-4d8e-9b1c-6a0f2f0e4a13")


# --- writing rows (inside the change's transaction) ----------------------------------


def connected_people(session: Session, user_ids: tuple[int, ...]) -> list[int]:
    """Those of `user_ids` with a Microsoft account (a broken one too: its rows wait as
    failed messages and go again when the person reconnects)."""
    rows = session.exec(
        select(MicrosoftConnection.user_id).where(
            col(MicrosoftConnection.user_id).in_(user_ids),
            MicrosoftConnection.status != ConnectionStatus.DISCONNECTED,
        )
    ).all()
    return [uid for uid in user_ids if uid in set(rows)]


def has_calendar(status: str | None) -> bool:
    """A person whose visits get calendar rows (`connected_people`'s rule, for a status
    already read): connected, or broken (its rows wait and go again on reconnecting)."""
    return status is not None and status != ConnectionStatus.DISCONNECTED


def teams_link_coming(*, visit_format: str, status: str | None, can_meet: bool | None) -> bool:
    """A video visit whose doctor's connected account will give it a Teams meeting
    (status and can_meet: the doctor's Microsoft connection, None when there is none)."""
    return (
        visit_format == VisitFormat.VIDEO
        and status == ConnectionStatus.CONNECTED
        and bool(can_meet)
    )


def calendar_row(
    *, appointment_id: int, revision: int, user_id: int, kind: str, now: datetime
) -> dict[str, Any]:
    """The outbox row of one person's calendar work on a visit (sent by CalendarSender)."""
    return outbox.message_row(
        kind=kind,
        channel=Channel.CALENDAR,
        to="Outlook calendar",
        subject="",
        body="",
        now=now,
        user_id=user_id,
        appointment_id=appointment_id,
        visit_revision=revision,
    )


def _enqueue(
    session: Session, *, appt: Appointment, user_id: int, kind: str, now: datetime
) -> None:
    row = calendar_row(
        appointment_id=require_id(appt.id),
        revision=appt.revision,
        user_id=user_id,
        kind=kind,
        now=now,
    )
    session.add(OutboxMessage(**row))
    mark_outbox_due(session)


def visit_changed(session: Session, *, appt: Appointment, kind: str, now: datetime) -> None:
    """One calendar row per connected person (doctor first: a Teams link comes from the
    doctor's event). Called by the notification writers of book, move and cancel."""
    assert appt.id is not None
    for user_id in connected_people(session, (appt.doctor_id, appt.patient_id)):
        _enqueue(session, appt=appt, user_id=user_id, kind=kind, now=now)


def catch_up(session: Session, *, user_id: int, now: datetime) -> int:
    """After (re)connecting: failed calendar work of this person goes again, and upcoming
    visits without an event get one. Returns the number of visits queued."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.recipient_user_id) == user_id,
            col(OutboxMessage.channel) == Channel.CALENDAR,
            col(OutboxMessage.status) == OutboxStatus.FAILED,
        )
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, last_error="")
    )
    mark_outbox_due(session)
    upcoming = session.exec(
        select(Appointment).where(
            (col(Appointment.patient_id) == user_id) | (col(Appointment.doctor_id) == user_id),
            Appointment.status == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) > now,
        )
    ).all()
    queued = 0
    for appt in upcoming:
        has_event = session.exec(
            select(CalendarEvent.id).where(
                CalendarEvent.appointment_id == appt.id, CalendarEvent.user_id == user_id
            )
        ).first()
        has_row = session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.appointment_id == appt.id,
                OutboxMessage.recipient_user_id == user_id,
                OutboxMessage.visit_revision == appt.revision,
                OutboxMessage.channel == Channel.CALENDAR,
                OutboxMessage.kind == CREATE,
            )
        ).first()
        if has_event is None and has_row is None:
            _enqueue(session, appt=appt, user_id=user_id, kind=CREATE, now=now)
            queued += 1
    return queued


def withdraw_for(session: Session, *, user_id: int, reason: str) -> None:
    """Pending calendar work of a person who disconnected: nothing can be sent any more."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.recipient_user_id) == user_id,
            col(OutboxMessage.channel) == Channel.CALENDAR,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.FAILED]),
            outbox.not_being_sent(),
        )
        .values(status=OutboxStatus.CANCELLED, last_error=reason[:500])
    )


# --- the visit's link ----------------------------------------------------------------


def join_url_or_wait(
    session: Session, *, appt: Appointment, settings: Settings, now: datetime
) -> str:
    """The visit's join link; while the Teams link is still coming, raise to wait a little,
    and after outbox.JOIN_WAIT give the visit a room of our own instead."""
    if appt.format != VisitFormat.VIDEO or appt.join_url:
        return appt.join_url
    # The same wait as the messages about the visit (outbox.JOIN_WAIT).
    if now - appt.updated_at < outbox.JOIN_WAIT:
        raise TransientSendError(
            outbox.WAITING_FOR_LINK, retry_after_seconds=outbox.JOIN_RETRY.total_seconds()
        )
    return set_join_url(session, appointment_id=appt.id or 0, url=new_room_url(settings))


def set_join_url(session: Session, *, appointment_id: int, url: str) -> str:
    """Give a pending visit its link (first writer wins); returns the link it has."""
    session.execute(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.join_url) == "")
        .values(join_url=url)
    )
    session.flush()
    current = session.exec(
        select(Appointment.join_url).where(Appointment.id == appointment_id)
    ).one()
    return str(current)


# --- sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    action: str  # "create", "update", "delete" or "" (nothing to do)
    body: dict[str, Any]
    event: CalendarEvent | None
    revision: int
    teams: bool  # the doctor's event of a video visit: make it a Teams meeting


def transaction_id(appointment_id: int, user_id: int) -> str:
    """Deterministic per visit and person: Graph recognises a repeated create by it."""
    return str(uuid.uuid5(_TXN, f"{appointment_id}:{user_id}"))


def event_body(
    *,
    appt: Appointment,
    person_role: str,
    other: User,
    join_url: str,
    teams: bool,
    settings: Settings,
) -> dict[str, Any]:
    """What the person's Outlook shows: no reason for the visit, no clinical detail."""
    zone = settings.clinic_zone
    other_name = (
        f"Dr. {display_name(other)}" if person_role == Role.PATIENT else display_name(other)
    )
    link = f"{settings.public_base_url}{routes.VISIT}?id={appt.id}"
    if appt.format == VisitFormat.VIDEO:
        how = "Join with the Teams link of this event." if teams else f"Join: {join_url}"
        location = "Microsoft Teams meeting" if teams else join_url
    else:
        how = "A phone visit: the doctor calls the patient."
        location = "Phone call"
    body: dict[str, Any] = {
        "subject": f"{appt.format.capitalize()} visit with {other_name}",
        "body": {"contentType": "text", "content": f"{how}\nDetails: {link}"},
        "start": {
            "dateTime": appt.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": settings.clinic_timezone,
        },
        "end": {
            "dateTime": appt.ends_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": settings.clinic_timezone,
        },
        "location": {"displayName": location},
        "attendees": [
            {
                "emailAddress": {"address": other.email, "name": other_name},
                "type": "required",
            }
        ],
        "showAs": "busy",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 15,
    }
    if teams:
        body["isOnlineMeeting"] = True
        body["onlineMeetingProvider"] = "teamsForBusiness"
    return body


class CalendarSender:
    """Sends `calendar` outbox rows: one reconcile of (visit, person) each."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._http = http_client(settings)

    def close(self) -> None:
        self._http.close()

    def send(self, *, appointment_id: int, user_id: int, now: datetime) -> str:
        """Returns the Graph event id (or what was done) for the outbox row."""
        if not self._settings.microsoft_enabled:
            raise PermanentSendError("Microsoft 365 is not set up on this server")
        graph = Graph(
            self._settings, tokens.source(self._engine, self._settings, user_id), client=self._http
        )
        done = "nothing to do"
        # A second pass catches a change that landed while the first one was in flight
        # (a cancel during the create): at most three, then the next row continues.
        for _ in range(3):
            plan = self._plan(appointment_id, user_id, now)
            if not plan.action:
                return done
            done = self._apply(graph, plan, appointment_id, user_id, now)
        return done

    def _plan(self, appointment_id: int, user_id: int, now: datetime) -> _Plan:
        with Session(writer(self._engine)) as session:
            appt = session.get(Appointment, appointment_id)
            conn = session.get(MicrosoftConnection, user_id)
            if appt is None or conn is None or conn.status == ConnectionStatus.DISCONNECTED:
                return _Plan("", {}, None, 0, False)
            if conn.status == ConnectionStatus.NEEDS_RECONNECT:
                raise PermanentSendError("Microsoft 365 needs reconnecting")
            event = session.exec(
                select(CalendarEvent).where(
                    CalendarEvent.appointment_id == appointment_id,
                    CalendarEvent.user_id == user_id,
                )
            ).first()
            if event is not None:
                session.expunge(event)
            if appt.status != AppointmentStatus.BOOKED:
                wanted = appt.status == AppointmentStatus.CANCELLED
                if wanted and event is not None and event.status == CalendarEventStatus.ACTIVE:
                    return _Plan("delete", {}, event, appt.revision, False)
                return _Plan("", {}, event, appt.revision, False)
            if event is not None and (
                event.status != CalendarEventStatus.ACTIVE or event.revision == appt.revision
            ):
                return _Plan("", {}, event, appt.revision, False)
            is_doctor = user_id == appt.doctor_id
            teams = is_doctor and appt.format == VisitFormat.VIDEO and conn.can_meet
            if teams and event is None and appt.join_url:
                teams = False  # the visit already has its link (Teams came too late)
            join_url = (
                ""
                if teams
                else join_url_or_wait(session, appt=appt, settings=self._settings, now=now)
            )
            session.commit()
            other = session.get(User, appt.patient_id if is_doctor else appt.doctor_id)
            assert other is not None
            body = event_body(
                appt=appt,
                person_role=Role.DOCTOR if is_doctor else Role.PATIENT,
                other=other,
                join_url=join_url,
                teams=teams or (event is not None and bool(event.join_url)),
                settings=self._settings,
            )
            if event is None:
                body["transactionId"] = transaction_id(appointment_id, user_id)
                return _Plan("create", body, None, appt.revision, teams)
            # A move changes the time (and the text that names it); the meeting stays.
            for key in ("isOnlineMeeting", "onlineMeetingProvider", "attendees"):
                body.pop(key, None)
            return _Plan("update", body, event, appt.revision, False)

    def _apply(
        self, graph: Graph, plan: _Plan, appointment_id: int, user_id: int, now: datetime
    ) -> str:
        if plan.action == "delete":
            assert plan.event is not None
            # Already gone from the calendar is the same result.
            with contextlib.suppress(NotFound):
                graph.delete_event(plan.event.graph_event_id)
            self._save_event(plan.event, status=CalendarEventStatus.DELETED, now=now)
            return plan.event.graph_event_id
        if plan.action == "update":
            assert plan.event is not None
            try:
                graph.update_event(plan.event.graph_event_id, plan.body)
            except NotFound:
                # Deleted by its owner in Outlook: their choice; we do not put it back.
                self._save_event(plan.event, status=CalendarEventStatus.GONE, now=now)
                return plan.event.graph_event_id
            self._save_event(plan.event, revision=plan.revision, now=now)
            return plan.event.graph_event_id
        made = graph.create_event(plan.body)
        with Session(writer(self._engine)) as session:
            session.add(
                CalendarEvent(
                    appointment_id=appointment_id,
                    user_id=user_id,
                    graph_event_id=made.id,
                    revision=plan.revision,
                    join_url=made.join_url if plan.teams else "",
                    created_at=now,
                    updated_at=now,
                )
            )
            try:
                session.flush()
            except IntegrityError:
                # Another sender made it at the same moment (Graph gave both the same event).
                session.rollback()
                return made.id
            if plan.teams:
                set_join_url(
                    session,
                    appointment_id=appointment_id,
                    url=made.join_url or new_room_url(self._settings),
                )
                outbox.release_waiting(session, appointment_id=appointment_id, now=now)
            session.commit()
        return made.id

    def _save_event(
        self,
        event: CalendarEvent,
        *,
        now: datetime,
        status: str | None = None,
        revision: int | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": now}
        if status is not None:
            values["status"] = status
        if revision is not None:
            values["revision"] = revision
        with Session(writer(self._engine)) as session:
            session.execute(
                update(CalendarEvent).where(col(CalendarEvent.id) == event.id).values(**values)
            )
            session.commit()
