"""What we tell people about their visits, and when: rows for the outbox.

Called inside the transaction of the change (book, cancel, reschedule, range cancel), so
the messages exist exactly when the change does. Text is short, rendered in the
recipient's time zone (a doctor's profile zone; patients use the clinic's), and carries no
clinical detail: no reason for the visit, no consultation type. Each person's preferences
(email, SMS) decide the channels; SMS needs a phone number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from health_app import routes
from health_app.config import Settings
from health_app.db import mark_outbox_due, require_id
from health_app.models import (
    Appointment,
    Channel,
    DoctorProfile,
    OutboxMessage,
    User,
    VisitFormat,
)
from health_app.services.messaging import ics, outbox
from health_app.services.microsoft import calendar_sync
from health_app.services.people import Contact, display_name

SIGNATURE = "\n\n- Health App\n"


@dataclass(frozen=True)
class Person:
    user_id: int
    role: str  # "patient" or "doctor"
    name: str  # how we greet them
    email: str
    phone: str
    notify_email: bool
    notify_sms: bool
    zone: ZoneInfo

    def channels(self) -> list[tuple[str, str]]:
        out = []
        if self.notify_email and self.email:
            out.append((Channel.EMAIL.value, self.email))
        if self.notify_sms and self.phone:
            out.append((Channel.SMS.value, self.phone))
        return out


@dataclass(frozen=True)
class Visit:
    """The facts every message may mention."""

    id: int
    revision: int
    starts_at: datetime
    ends_at: datetime
    format: str
    join_url: str
    doctor_name: str  # "Dr. Amir Khan"
    doctor_last: str
    patient_name: str
    patient_phone: str


def visit_of(
    *,
    appointment_id: int,
    revision: int,
    starts_at: datetime,
    ends_at: datetime,
    visit_format: str,
    join_url: str,
    doctor: Contact,
    patient: Contact,
) -> Visit:
    pending = outbox.JOIN_LINK_PENDING if visit_format == VisitFormat.VIDEO else ""
    return Visit(
        id=appointment_id,
        revision=revision,
        starts_at=starts_at,
        ends_at=ends_at,
        format=visit_format,
        # A Teams link still being made: the outbox puts it in when the message goes.
        join_url=join_url or pending,
        doctor_name=f"Dr. {display_name(doctor)}",
        doctor_last=doctor.last_name,
        patient_name=display_name(patient),
        patient_phone=patient.phone,
    )


def _people(
    session: Session, appt: Appointment, settings: Settings
) -> tuple[Visit, Person, Person]:
    patient = session.get(User, appt.patient_id)
    doctor = session.get(User, appt.doctor_id)
    profile = session.get(DoctorProfile, appt.doctor_id)
    assert patient is not None and doctor is not None and profile is not None
    visit = visit_of(
        appointment_id=require_id(appt.id),
        revision=appt.revision,
        starts_at=appt.starts_at,
        ends_at=appt.ends_at,
        visit_format=appt.format,
        join_url=appt.join_url,
        doctor=doctor,
        patient=patient,
    )

    def person(user: User, role: str, zone: str) -> Person:
        return Person(
            user_id=require_id(user.id),
            role=role,
            name=user.preferred_name or user.first_name,
            email=user.email,
            phone=user.phone,
            notify_email=user.notify_email,
            notify_sms=user.notify_sms,
            zone=ZoneInfo(zone),
        )

    # Patients have no zone of their own yet: the clinic's is theirs.
    return (
        visit,
        person(patient, "patient", settings.clinic_timezone),
        person(doctor, "doctor", profile.time_zone),
    )


# --- rendering -----------------------------------------------------------------------


# A booking says its time a dozen times (two people, confirmations and reminders, email
# and SMS): formatted once per instant and zone.
@lru_cache(maxsize=4096)
def when_long(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} {local.tzname()}"


@lru_cache(maxsize=4096)
def when_short(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M} {local.tzname()}"


def offset_label(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "24 hours" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def _other(visit: Visit, person: Person) -> str:
    return visit.doctor_name if person.role == "patient" else visit.patient_name


def _how(visit: Visit, person: Person) -> str:
    """The join link, or who calls whom."""
    if visit.format == VisitFormat.VIDEO:
        return f"Join: {visit.join_url}"
    number = visit.patient_phone or "the number on file"
    if person.role == "patient":
        return f"Dr. {visit.doctor_last} will call you at {number}."
    return f"You call {visit.patient_name} at {number}."


def _link(settings: Settings, visit: Visit) -> str:
    return f"{settings.public_base_url}{routes.VISIT}?id={visit.id}"


@lru_cache(maxsize=8)
def _domain(mail_from: str) -> str:
    return parseaddr(mail_from)[1].rpartition("@")[2] or "health-app.local"


def visit_ics(
    visit: Visit, person: Person, settings: Settings, *, now: datetime, cancelled: bool = False
) -> str:
    """An iCalendar file for the visit, as this person should see it."""
    domain = _domain(settings.mail_from)
    link = _link(settings, visit)
    return ics.calendar(
        [
            ("VERSION", "2.0"),
            ("PRODID", "-//Health App//Visits//EN"),
            ("METHOD", "CANCEL" if cancelled else "PUBLISH"),
        ],
        [
            ("UID", ics.text(f"appointment-{visit.id}@{domain}")),
            # Calendar apps replace an event when the sequence grows: a move, then a cancel.
            ("SEQUENCE", str(visit.revision + (1 if cancelled else 0))),
            ("DTSTAMP", ics.utc_stamp(now)),
            ("DTSTART", ics.utc_stamp(visit.starts_at)),
            ("DTEND", ics.utc_stamp(visit.ends_at)),
            (
                "SUMMARY",
                ics.text(f"{visit.format.capitalize()} visit with {_other(visit, person)}"),
            ),
            (
                "LOCATION",
                ics.text(visit.join_url if visit.format == VisitFormat.VIDEO else "Phone call"),
            ),
            ("DESCRIPTION", ics.text(f"{_how(visit, person)}\nDetails: {link}")),
            ("URL", link),
            ("STATUS", "CANCELLED" if cancelled else "CONFIRMED"),
        ],
    )


@dataclass(frozen=True)
class Text:
    subject: str
    body: str  # email body
    sms: str


def booked_text(visit: Visit, person: Person, settings: Settings) -> Text:
    when = when_long(visit.starts_at, person.zone)
    lead = (
        f"Your {visit.format} visit with {visit.doctor_name} is booked for {when}."
        if person.role == "patient"
        else f"A {visit.format} visit with {visit.patient_name} was booked for {when}."
    )
    return Text(
        subject=f"Visit booked: {when_short(visit.starts_at, person.zone)}",
        body=(
            f"Hello {person.name},\n\n{lead}\n\n{_how(visit, person)}\n\n"
            "The attached calendar file adds it to your calendar. "
            f"See or cancel the visit: {_link(settings, visit)}{SIGNATURE}"
        ),
        sms=(
            f"Health App: {visit.format} visit with {_other(visit, person)} booked for "
            f"{when_short(visit.starts_at, person.zone)}. {_how(visit, person)}"
        ),
    )


def cancelled_text(
    visit: Visit, person: Person, settings: Settings, *, by: str, reason: str
) -> Text:
    when = when_long(visit.starts_at, person.zone)
    again = (
        f"\n\nYou can book another time: {settings.public_base_url}{routes.FIND_DOCTOR}"
        if person.role == "patient"
        else ""
    )
    return Text(
        subject=f"Visit cancelled: {when_short(visit.starts_at, person.zone)}",
        body=(
            f"Hello {person.name},\n\nYour visit with {_other(visit, person)} on {when} "
            f"was cancelled by {by}.\n\nReason: {reason}{again}{SIGNATURE}"
        ),
        sms=(
            f"Health App: your visit with {_other(visit, person)} on "
            f"{when_short(visit.starts_at, person.zone)} was cancelled by {by}. "
            f"Reason: {reason[:80]}"
        ),
    )


def rescheduled_text(
    visit: Visit, person: Person, settings: Settings, *, old_starts_at: datetime
) -> Text:
    old, new = when_long(old_starts_at, person.zone), when_long(visit.starts_at, person.zone)
    return Text(
        subject=f"Visit moved to {when_short(visit.starts_at, person.zone)}",
        body=(
            f"Hello {person.name},\n\nYour visit with {_other(visit, person)} on {old} "
            f"now takes place on {new}.\n\n{_how(visit, person)}\n\n"
            "The attached calendar file updates your calendar. "
            f"See the visit: {_link(settings, visit)}{SIGNATURE}"
        ),
        sms=(
            f"Health App: your visit with {_other(visit, person)} moved to "
            f"{when_short(visit.starts_at, person.zone)}. {_how(visit, person)}"
        ),
    )


def reminder_text(visit: Visit, person: Person, settings: Settings, *, minutes: int) -> Text:
    when = when_long(visit.starts_at, person.zone)
    return Text(
        subject=f"Reminder: visit in {offset_label(minutes)}, "
        f"{when_short(visit.starts_at, person.zone)}",
        body=(
            f"Hello {person.name},\n\nA reminder: your {visit.format} visit with "
            f"{_other(visit, person)} starts {when}.\n\n{_how(visit, person)}\n\n"
            f"See the visit: {_link(settings, visit)}{SIGNATURE}"
        ),
        sms=(
            f"Health App reminder: {visit.format} visit with {_other(visit, person)} "
            f"{when_short(visit.starts_at, person.zone)}. {_how(visit, person)}"
        ),
    )


# --- writing the rows ----------------------------------------------------------------


def _rows(
    *,
    visit: Visit,
    person: Person,
    kind: str,
    text: Text,
    now: datetime,
    due_at: datetime | None = None,
    ics: str = "",
) -> list[dict[str, Any]]:
    """One outbox row per channel the person chose."""
    return [
        outbox.message_row(
            kind=kind,
            channel=channel,
            to=address,
            subject=text.subject if channel == Channel.EMAIL else "",
            body=text.body if channel == Channel.EMAIL else text.sms,
            now=now,
            due_at=due_at,
            user_id=person.user_id,
            appointment_id=visit.id,
            visit_revision=visit.revision,
            ics=ics if channel == Channel.EMAIL else "",
        )
        for channel, address in person.channels()
    ]


def _add(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    session.add_all([OutboxMessage(**row) for row in rows])
    if any(row["due_at"] <= now for row in rows):
        mark_outbox_due(session)


def _reminder_rows(
    *, visit: Visit, people: tuple[Person, ...], settings: Settings, now: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for minutes in settings.reminder_offsets_minutes:
        due = visit.starts_at - timedelta(minutes=minutes)
        if due <= now:
            continue  # booked too late for this one; the confirmation says it all
        for person in people:
            rows += _rows(
                visit=visit,
                person=person,
                kind=outbox.reminder_kind(minutes),
                text=reminder_text(visit, person, settings, minutes=minutes),
                now=now,
                due_at=due,
            )
    return rows


def booked_rows(
    *,
    visit: Visit,
    patient: Person,
    doctor: Person,
    calendar_user_ids: list[int],
    settings: Settings,
    now: datetime,
) -> list[dict[str, Any]]:
    """Every outbox row a new booking makes: confirmations with an .ics to both people,
    their reminders, and calendar work for each connected person (doctor first)."""
    rows: list[dict[str, Any]] = []
    for person in (patient, doctor):
        rows += _rows(
            visit=visit,
            person=person,
            kind=outbox.BOOKED,
            text=booked_text(visit, person, settings),
            now=now,
            ics=visit_ics(visit, person, settings, now=now),
        )
    rows += _reminder_rows(visit=visit, people=(patient, doctor), settings=settings, now=now)
    rows += [
        calendar_sync.calendar_row(
            appointment_id=visit.id,
            revision=visit.revision,
            user_id=user_id,
            kind=calendar_sync.CREATE,
            now=now,
        )
        for user_id in calendar_user_ids
    ]
    return rows


def visit_booked(session: Session, *, appt: Appointment, settings: Settings, now: datetime) -> None:
    """Confirmations with an .ics to both people, their reminders and calendar work."""
    session.flush()
    visit, patient, doctor = _people(session, appt, settings)
    connected = calendar_sync.connected_people(session, (appt.doctor_id, appt.patient_id))
    _add(
        session,
        booked_rows(
            visit=visit,
            patient=patient,
            doctor=doctor,
            calendar_user_ids=connected,
            settings=settings,
            now=now,
        ),
        now,
    )


def visit_cancelled(
    session: Session,
    *,
    appt: Appointment,
    settings: Settings,
    now: datetime,
    by_doctor: bool,
    reason: str,
    tell_doctor: bool = True,
) -> None:
    """Withdraw what has not gone yet, and tell people why (a range cancel tells the patient)."""
    session.flush()
    outbox.withdraw_pending(session, appointment_id=require_id(appt.id), reason="visit cancelled")
    visit, patient, doctor = _people(session, appt, settings)
    for person in (patient, doctor) if tell_doctor else (patient,):
        if by_doctor:
            by = "your doctor" if person.role == "patient" else "you"
        else:
            by = "the patient" if person.role == "doctor" else "you"
        rows = _rows(
            visit=visit,
            person=person,
            kind=outbox.CANCELLED,
            text=cancelled_text(visit, person, settings, by=by, reason=reason),
            now=now,
            ics=visit_ics(visit, person, settings, now=now, cancelled=True),
        )
        _add(session, rows, now)
    calendar_sync.visit_changed(session, appt=appt, kind=calendar_sync.DELETE, now=now)


def visit_rescheduled(
    session: Session,
    *,
    appt: Appointment,
    old_starts_at: datetime,
    settings: Settings,
    now: datetime,
) -> None:
    """The visit's revision has grown: old reminders go, new ones come, both people are told."""
    session.flush()
    outbox.withdraw_pending(
        session,
        appointment_id=require_id(appt.id),
        reason="visit moved",
        before_revision=appt.revision,
    )
    visit, patient, doctor = _people(session, appt, settings)
    for person in (patient, doctor):
        rows = _rows(
            visit=visit,
            person=person,
            kind=outbox.RESCHEDULED,
            text=rescheduled_text(visit, person, settings, old_starts_at=old_starts_at),
            now=now,
            ics=visit_ics(visit, person, settings, now=now),
        )
        _add(session, rows, now)
    _add(
        session,
        _reminder_rows(visit=visit, people=(patient, doctor), settings=settings, now=now),
        now,
    )
    calendar_sync.visit_changed(session, appt=appt, kind=calendar_sync.UPDATE, now=now)
