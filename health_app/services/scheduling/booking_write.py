"""The booking write path: a patient books an open time, in a handful of statements.

When a popular doctor opens a day, hundreds of patients book in the same seconds, on the
same worker threads that serve every page. So this one path is SQLAlchemy Core statements
built once (bind parameters only), not ORM objects, and on PostgreSQL it is six round
trips in all:

1. BEGIN (the driver's);
2. the scheduling guard's two advisory locks, the doctor's then the patient's (guard.py);
3. every fact the decision needs, read under those locks in one row: the slot, both
   people, the doctor's standing and consultation types, the patient's attempts in the
   last hour and upcoming visits, overlapping visits of either, Microsoft connections;
4. one statement that takes the slot if it is still open, inserts the visit and both
   audit rows (the attempt and the booking), returning the visit's id;
5. the outbox rows (confirmations, reminders, calendar work) in one multi-row insert;
6. COMMIT (the caller's unit of work).

SQLite runs the same steps as separate statements inside its BEGIN IMMEDIATE (no locks
needed, writers are serial). The rules are those of every booking path: a lost race is
SlotTaken, never an error; the partial unique indexes and exclusion constraints stay the
safety net; the attempt is audited even when the booking then fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from health_app.config import Settings
from health_app.db import mark_outbox_due, write_on_rollback
from health_app.models import (
    Appointment,
    AppointmentStatus,
    ApprovalStatus,
    AuditEvent,
    DoctorConsultationType,
    DoctorProfile,
    MicrosoftConnection,
    OutboxMessage,
    Outcome,
    Slot,
    User,
    VisitFormat,
)
from health_app.services.catalogue import consultation_types
from health_app.services.errors import DomainError, Throttled, ValidationFailed
from health_app.services.messaging import notifications
from health_app.services.microsoft import calendar_sync
from health_app.services.scheduling.guard import SlotTaken, conflicts_as_taken
from health_app.services.scheduling.time_rules import MAX_SLOT_MINUTES
from health_app.services.scheduling.video_room import new_room_url
from health_app.services.validation import FieldError, clean_long_text
from health_app.services.views import Actor

_S = Slot.__table__  # type: ignore[attr-defined]
_A = Appointment.__table__  # type: ignore[attr-defined]
_U = User.__table__  # type: ignore[attr-defined]
_DP = DoctorProfile.__table__  # type: ignore[attr-defined]
_DCT = DoctorConsultationType.__table__  # type: ignore[attr-defined]
_AE = AuditEvent.__table__  # type: ignore[attr-defined]
_MC = MicrosoftConnection.__table__  # type: ignore[attr-defined]
_O = OutboxMessage.__table__  # type: ignore[attr-defined]

ATTEMPT = "appointment.book_attempt"
BOOK = "appointment.book"
_BOOKED = literal_column("'booked'")  # literals, so SQLite sees its partial indexes apply
_PERSON = ("first_name", "last_name", "preferred_name", "email", "phone")
_PERSON += ("notify_email", "notify_sms", "deactivated_at")


def _at(name: str) -> Any:
    return bindparam(name, type_=_A.c.starts_at.type)


@lru_cache(maxsize=1)
def _lock_statement() -> Any:
    """PostgreSQL: the guard's locks, doctor first (the slot's), then patient; no row when
    the slot does not exist. The target list is evaluated left to right."""
    return select(
        func.pg_advisory_xact_lock(literal(1), _S.c.doctor_id),
        func.pg_advisory_xact_lock(literal(2), bindparam("patient", type_=Integer)),
    ).where(_S.c.id == bindparam("slot", type_=Integer))


def _overlapping(who: Any, starts: Any, ends: Any, dialect: str) -> Any:
    # No visit is longer than the longest slot, so an overlapping one starts less than that
    # before ours: the index range read stays a few rows, however many visits came before.
    if dialect == "postgresql":
        earliest = starts - literal_column(f"interval '{MAX_SLOT_MINUTES} minutes'")
    else:  # stored as ISO text; datetime()'s shorter form compares as slightly earlier
        earliest = func.datetime(starts, literal(f"-{MAX_SLOT_MINUTES} minutes"))
    return exists().where(
        _A.c.status == _BOOKED,
        who,
        _A.c.starts_at > earliest,
        _A.c.starts_at < ends,
        _A.c.ends_at > starts,
    )


@lru_cache(maxsize=2)
def _facts_statement(dialect: str) -> Any:
    """One row (binds: slot, patient, ctype, now, since), or none when the slot is gone."""
    s, du, pu = _S.alias("s"), _U.alias("du"), _U.alias("pu")
    dp, mcd, mcp = _DP.alias("dp"), _MC.alias("mcd"), _MC.alias("mcp")
    patient = bindparam("patient", type_=Integer)
    attempts = (
        select(func.count())
        .select_from(_AE)
        .where(
            _AE.c.actor_id == patient,
            _AE.c.action == literal_column(f"'{ATTEMPT}'"),
            _AE.c.at > _at("since"),
        )
        .scalar_subquery()
    )
    upcoming = (
        select(func.count())
        .select_from(_A)
        .where(_A.c.patient_id == patient, _A.c.status == _BOOKED, _A.c.starts_at > _at("now"))
        .scalar_subquery()
    )
    doctor_is, patient_is = _A.c.doctor_id == s.c.doctor_id, _A.c.patient_id == patient
    offers = exists().where(
        _DCT.c.doctor_id == s.c.doctor_id, _DCT.c.code == bindparam("ctype", type_=String)
    )
    return (
        select(
            s.c.doctor_id,
            s.c.starts_at,
            s.c.ends_at,
            s.c.status,
            dp.c.approval_status,
            dp.c.time_zone,
            *(du.c[name].label(f"d_{name}") for name in _PERSON),
            *(pu.c[name].label(f"p_{name}") for name in _PERSON),
            attempts.label("attempts"),
            upcoming.label("upcoming"),
            offers.label("offers"),
            _overlapping(doctor_is, s.c.starts_at, s.c.ends_at, dialect).label("doctor_busy"),
            _overlapping(patient_is, s.c.starts_at, s.c.ends_at, dialect).label("patient_busy"),
            mcd.c.status.label("d_microsoft"),
            mcd.c.can_meet.label("d_can_meet"),
            mcp.c.status.label("p_microsoft"),
        )
        .select_from(
            s.join(du, du.c.id == s.c.doctor_id)
            .join(pu, pu.c.id == patient)
            .outerjoin(dp, dp.c.user_id == s.c.doctor_id)
            .outerjoin(mcd, mcd.c.user_id == s.c.doctor_id)
            .outerjoin(mcp, mcp.c.user_id == patient)
        )
        .where(s.c.id == bindparam("slot", type_=Integer))
    )


@lru_cache(maxsize=1)
def _attempts_statement() -> Any:
    """The throttle's count alone, for a slot that does not exist."""
    return (
        select(func.count())
        .select_from(_AE)
        .where(
            _AE.c.actor_id == bindparam("patient", type_=Integer),
            _AE.c.action == literal_column(f"'{ATTEMPT}'"),
            _AE.c.at > _at("since"),
        )
    )


def _take_slot() -> Any:
    return (
        update(_S)
        .where(
            _S.c.id == bindparam("slot", type_=Integer),
            _S.c.status == literal_column("'open'"),
            _S.c.starts_at > _at("now"),
        )
        .values(status=_BOOKED)
    )


_VISIT_COLUMNS = (
    "doctor_id",
    "patient_id",
    "slot_id",
    "starts_at",
    "ends_at",
    "status",
    "format",
    "consultation_type",
    "reason",
    "join_url",
    "created_at",
    "updated_at",
    "cancelled_at",
    "cancelled_by_id",
    "cancel_reason",
    "revision",
)
_AUDIT_COLUMNS = ("at", "actor_id", "action", "object_type", "object_id", "subject_id")
_AUDIT_COLUMNS += ("outcome", "detail", "client")


def _visit_values(taken: Any) -> list[Any]:
    """The new visit's columns, in _VISIT_COLUMNS order, from the taken slot's row."""
    return [
        taken.c.doctor_id,
        bindparam("patient", type_=Integer),
        taken.c.id,
        taken.c.starts_at,
        taken.c.ends_at,
        _BOOKED,
        bindparam("format", type_=String),
        bindparam("ctype", type_=String),
        bindparam("reason", type_=String),
        bindparam("join_url", type_=String),
        _at("now"),
        _at("now"),
        literal(None, type_=_A.c.cancelled_at.type),
        literal(None, type_=Integer),
        literal(""),
        literal(0),
    ]


def _audit_select(action: str, object_type: str, object_id: Any) -> Any:
    patient = bindparam("patient", type_=Integer)
    return select(
        _at("now"),
        patient,
        literal(action),
        literal(object_type),
        object_id,
        patient if object_type else literal(None, type_=Integer),
        literal(Outcome.SUCCESS.value),
        literal(""),
        literal(""),
    )


@lru_cache(maxsize=1)
def _write_statement_pg() -> Any:
    """PostgreSQL, one statement: take the slot if still open, insert the visit and both
    audit rows; returns the visit's id and revision (no row: the slot was taken)."""
    taken = (
        _take_slot().returning(_S.c.id, _S.c.doctor_id, _S.c.starts_at, _S.c.ends_at).cte("taken")
    )
    visit = (
        insert(_A)
        .from_select(_VISIT_COLUMNS, select(*_visit_values(taken)))
        .returning(_A.c.id, _A.c.revision)
        .cte("visit")
    )
    audited = insert(_AE).from_select(
        _AUDIT_COLUMNS,
        union_all(
            _audit_select(ATTEMPT, "", literal("")),
            _audit_select(BOOK, "appointment", cast(visit.c.id, String)).select_from(visit),
        ),
    )
    return select(visit.c.id, visit.c.revision).add_cte(audited.cte("audited"))


@lru_cache(maxsize=1)
def _write_statements_sqlite() -> tuple[Any, Any, Any]:
    taken = _take_slot().returning(_S.c.doctor_id, _S.c.starts_at, _S.c.ends_at)
    visit = insert(_A).returning(_A.c.id, _A.c.revision)
    return taken, visit, insert(_AE)


# --- the path ------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenVisit:
    """The visit as this path wrote it: the booking's answer is made from it, not re-read."""

    id: int
    revision: int
    doctor_id: int
    patient_id: int
    starts_at: datetime
    ends_at: datetime
    format: str
    consultation_type: str
    reason: str
    join_url: str
    status: str = AppointmentStatus.BOOKED.value
    cancel_reason: str = ""


@dataclass(frozen=True)
class Booked:
    """What the booking's answer needs, as written (nothing is read back)."""

    appointment: WrittenVisit
    doctor: Any  # the facts row's doctor columns, as a Contact
    patient: Any
    time_zone: str


@dataclass(frozen=True)
class _Contact:
    first_name: str
    last_name: str
    preferred_name: str
    phone: str


def _contact(row: Any, prefix: str) -> _Contact:
    return _Contact(
        first_name=row[f"{prefix}first_name"],
        last_name=row[f"{prefix}last_name"],
        preferred_name=row[f"{prefix}preferred_name"],
        phone=row[f"{prefix}phone"],
    )


def book(
    session: Session,
    *,
    actor: Actor,
    slot_id: int,
    visit_format: str,
    consultation_type: str,
    reason_text: str,
    settings: Settings,
    now: datetime,
) -> Booked:
    """Book `slot_id` for the patient `actor` (the caller checked the role) and write
    everything the booking makes; the caller's unit of work commits."""
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    binds: dict[str, Any] = {
        "slot": slot_id,
        "patient": actor.user_id,
        "ctype": consultation_type,
        "now": now,
        "since": now - timedelta(hours=1),
    }
    if postgres and conn.execute(_lock_statement(), binds).first() is None:
        _no_such_slot(session, conn, binds, settings=settings, now=now)
    found = conn.execute(_facts_statement(conn.dialect.name), binds).mappings().first()
    if found is None:
        _no_such_slot(session, conn, binds, settings=settings, now=now)
    if found["attempts"] >= settings.booking_attempts_per_hour:
        raise Throttled(3600)
    attempt = _audit_row(ATTEMPT, actor.user_id, now)
    write_on_rollback(session, AuditEvent, attempt)

    errors: dict[str, str] = {}
    if visit_format not in {f.value for f in VisitFormat}:
        errors["format"] = "Choose phone or video."
    elif visit_format == VisitFormat.PHONE and not found["p_phone"]:
        errors["format"] = "Add a phone number to your profile to book a phone visit."
    try:
        reason = clean_long_text(reason_text, label="Reason for the visit", max_len=2000)
    except FieldError as exc:
        errors["reason"], reason = str(exc), ""
    if found["d_deactivated_at"] is not None or found["approval_status"] != ApprovalStatus.APPROVED:
        raise SlotTaken()  # a withdrawn or deactivated doctor's times are as good as taken
    if not found["offers"] or consultation_type not in consultation_types():
        errors["consultation_type"] = "Choose one of the doctor's consultation types."
    if errors:
        raise ValidationFailed(errors)
    if found["upcoming"] >= settings.max_future_appointments:
        raise DomainError(
            f"You can hold at most {settings.max_future_appointments} upcoming visits. "
            "Cancel one you no longer need to book another."
        )
    if found["status"] != "open" or _aware(found["starts_at"], now) <= now:
        raise SlotTaken()
    if found["doctor_busy"]:
        raise SlotTaken()
    if found["patient_busy"]:
        raise DomainError("You already have a visit at that time. Choose another time.")

    doctor_id = int(found["doctor_id"])
    teams_coming = calendar_sync.teams_link_coming(
        visit_format=visit_format, status=found["d_microsoft"], can_meet=found["d_can_meet"]
    )
    join_url = (
        new_room_url(settings) if visit_format == VisitFormat.VIDEO and not teams_coming else ""
    )
    binds.update(format=visit_format, reason=reason, join_url=join_url)
    with conflicts_as_taken():
        if postgres:
            written = conn.execute(_write_statement_pg(), binds).mappings().first()
            if written is None:
                raise SlotTaken()
            appointment_id, revision = int(written["id"]), int(written["revision"])
        else:
            take, add_visit, add_audit = _write_statements_sqlite()
            if conn.execute(take, binds).first() is None:
                raise SlotTaken()
            values = dict(
                doctor_id=doctor_id,
                patient_id=actor.user_id,
                slot_id=slot_id,
                starts_at=found["starts_at"],
                ends_at=found["ends_at"],
                status=AppointmentStatus.BOOKED.value,
                format=visit_format,
                consultation_type=consultation_type,
                reason=reason,
                join_url=join_url,
                created_at=now,
                updated_at=now,
                cancelled_at=None,
                cancelled_by_id=None,
                cancel_reason="",
                revision=0,
            )
            added = conn.execute(add_visit, values).mappings().one()
            appointment_id, revision = int(added["id"]), int(added["revision"])
            booked = _audit_row(BOOK, actor.user_id, now, appointment_id=appointment_id)
            conn.execute(add_audit, [attempt, booked])
    appointment = WrittenVisit(
        id=appointment_id,
        revision=revision,
        doctor_id=doctor_id,
        patient_id=actor.user_id,
        starts_at=_aware(found["starts_at"], now),
        ends_at=_aware(found["ends_at"], now),
        format=visit_format,
        consultation_type=consultation_type,
        reason=reason,
        join_url=join_url,
    )
    rows = _messages(found, appointment, settings=settings, now=now)
    if rows:
        # executemany: one prepared INSERT, its rows pipelined in one round trip (psycopg)
        conn.execute(insert(_O), rows)
        mark_outbox_due(session)
    # An ORM copy of the slot loaded earlier in this unit of work would say "open".
    held = session.identity_map.get(identity_key(Slot, slot_id))
    if held is not None:
        session.expire(held)
    return Booked(appointment, _contact(found, "d_"), _contact(found, "p_"), found["time_zone"])


def _audit_row(
    action: str, patient_id: int, now: datetime, *, appointment_id: int | None = None
) -> dict[str, Any]:
    return dict(
        at=now,
        actor_id=patient_id,
        action=action,
        object_type="appointment" if appointment_id is not None else "",
        object_id=str(appointment_id) if appointment_id is not None else "",
        subject_id=patient_id if appointment_id is not None else None,
        outcome=Outcome.SUCCESS.value,
        detail="",
        client="",
    )


def _no_such_slot(
    session: Session, conn: Connection, binds: dict[str, Any], *, settings: Settings, now: datetime
) -> NoReturn:
    """The slot is gone (or never was): throttled first, as any attempt, then taken."""
    if (
        conn.execute(_attempts_statement(), binds).scalar_one()
        >= settings.booking_attempts_per_hour
    ):
        raise Throttled(3600)
    write_on_rollback(session, AuditEvent, _audit_row(ATTEMPT, binds["patient"], now))
    raise SlotTaken()


def _aware(at: datetime, now: datetime) -> datetime:
    """SQLite hands timestamps back without their zone (they are stored in UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=now.tzinfo)


def _person(found: Any, prefix: str, *, user_id: int, role: str, zone: str) -> notifications.Person:
    return notifications.Person(
        user_id=user_id,
        role=role,
        name=found[f"{prefix}preferred_name"] or found[f"{prefix}first_name"],
        email=found[f"{prefix}email"],
        phone=found[f"{prefix}phone"],
        notify_email=bool(found[f"{prefix}notify_email"]),
        notify_sms=bool(found[f"{prefix}notify_sms"]),
        zone=ZoneInfo(zone),
    )


def _messages(
    found: Any, appt: WrittenVisit, *, settings: Settings, now: datetime
) -> list[dict[str, Any]]:
    """The outbox rows, from the facts already read (notifications.visit_booked reads them
    through the ORM for the same rows)."""
    visit = notifications.visit_of(
        appointment_id=appt.id,
        revision=appt.revision,
        starts_at=appt.starts_at,
        ends_at=appt.ends_at,
        visit_format=appt.format,
        join_url=appt.join_url,
        doctor=_contact(found, "d_"),
        patient=_contact(found, "p_"),
    )
    connected = [
        user_id
        for user_id, status in (
            (appt.doctor_id, found["d_microsoft"]),
            (appt.patient_id, found["p_microsoft"]),
        )
        if calendar_sync.has_calendar(status)
    ]
    return notifications.booked_rows(
        visit=visit,
        patient=_person(
            found, "p_", user_id=appt.patient_id, role="patient", zone=settings.clinic_timezone
        ),
        doctor=_person(found, "d_", user_id=appt.doctor_id, role="doctor", zone=found["time_zone"]),
        calendar_user_ids=connected,
        settings=settings,
        now=now,
    )
