"""The durable outbox: messages are rows first, and a delivery step sends them.

Writing a row happens in the caller's transaction, so a message exists exactly when the
change that causes it was committed (a cancelled booking leaves no confirmation behind).

Delivery claims due rows in batches: one short transaction (claims take turns) picks due
messages nobody holds, writes a narrow lease row for each (outbox_lease, until
`lease_until`), re-checks that each is still worth sending, marks the rest skipped, and
commits before any network I/O. The wide message row is written once, with the result,
only by the lease holder, which ends its lease in the same transaction; a lease that
expires (its process died) is taken over. Several processes delivering at once therefore
never send one row twice, short of a crash between the provider accepting a message and
our commit: then the deterministic Message-ID lets mail systems recognise the repeat.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Integer,
    Select,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col

from health_app.config import Settings, get_settings
from health_app.db import keep_on_rollback, mark_outbox_due, writer
from health_app.models import (
    Appointment,
    AppointmentStatus,
    Channel,
    OutboxLease,
    OutboxMessage,
    OutboxStatus,
    User,
    VisitFormat,
)
from health_app.services.messaging.mailer import (
    EmailText,
    Mailer,
    OutgoingEmail,
    PermanentSendError,
    TransientSendError,
    message_id_for,
)
from health_app.services.messaging.sms import OutgoingSms, SmsSender
from health_app.services.scheduling.video_room import new_room_url

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# How long a claim is exclusive is OUTBOX_LEASE_SECONDS. A sender stops taking rows from
# its batch after half of it, and gives the rest back, so a live sender never outlasts its
# own lease.
# Each result is written back as soon as it is known (one small UPDATE, far cheaper than
# the send): a sender killed mid-batch repeats at most the one message in flight, whose
# sender may have accepted it before our record could say so.
FLUSH_EVERY = 1
# Late reminders longer than this before the visit need this much time left to be useful
# (a "tomorrow" reminder 30 minutes before the visit only confuses); shorter ones are
# useful until the visit starts.
LATE_REMINDER_MARGIN = timedelta(hours=2)

BOOKED = "appointment.booked"
CANCELLED = "appointment.cancelled"
RESCHEDULED = "appointment.rescheduled"
REMINDER_PREFIX = "appointment.reminder."
# Written in place of a video visit's link while its Teams meeting is being made; the
# claim puts the link in (and holds the message back a little while there is none yet).
JOIN_LINK_PENDING = "{{join-link}}"
# How long a message waits for a Teams link before the visit gets a room of our own.
JOIN_WAIT = timedelta(minutes=5)
JOIN_RETRY = timedelta(seconds=20)
WAITING_FOR_LINK = "waiting for the Teams link"


def release_waiting(session: Session, *, appointment_id: int, now: datetime) -> None:
    """The visit has its link: messages that waited for it are due now."""
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.appointment_id) == appointment_id,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.last_error) == WAITING_FOR_LINK,
        )
        .values(next_attempt_at=now, last_error="")
    )
    mark_outbox_due(session)


_TOKEN = re.compile(r"([?&]token=)[A-Za-z0-9_\-.~%]+")


def reminder_kind(minutes: int) -> str:
    return f"{REMINDER_PREFIX}{minutes}"


@lru_cache(maxsize=64)
def reminder_offset(kind: str) -> timedelta | None:
    if not kind.startswith(REMINDER_PREFIX):
        return None
    return timedelta(minutes=int(kind.removeprefix(REMINDER_PREFIX)))


def redact_tokens(body: str) -> str:
    """Sent bodies keep no working links: a leaked outbox row opens no account."""
    return _TOKEN.sub(r"\1[redacted]", body)


# --- writing -------------------------------------------------------------------------


def message_row(
    *,
    kind: str,
    channel: str,
    to: str,
    subject: str,
    body: str,
    now: datetime,
    due_at: datetime | None = None,
    user_id: int | None = None,
    appointment_id: int | None = None,
    visit_revision: int = 0,
    ics: str = "",
) -> dict[str, Any]:
    """A new outbox row's columns: for the ORM (`enqueue`) and for multi-row Core inserts
    (the booking write path)."""
    due = due_at or now
    return dict(
        appointment_id=appointment_id,
        visit_revision=visit_revision,
        recipient_user_id=user_id,
        channel=channel,
        kind=kind,
        recipient=to,
        subject=subject[:200],
        body=body,
        attachment=ics,
        status=OutboxStatus.PENDING.value,
        due_at=due,
        next_attempt_at=due,
        attempts=0,
        provider_message_id="",
        created_at=now,
        sent_at=None,
        last_error="",
    )


def enqueue(
    session: Session,
    *,
    kind: str,
    channel: str,
    to: str,
    subject: str,
    body: str,
    now: datetime,
    due_at: datetime | None = None,
    user_id: int | None = None,
    appointment_id: int | None = None,
    visit_revision: int = 0,
    ics: str = "",
    survives_rollback: bool = False,
) -> None:
    """`survives_rollback`: sent even when the unit of work then fails (a security notice
    about a refused attempt)."""
    row = OutboxMessage(
        **message_row(
            kind=kind,
            channel=channel,
            to=to,
            subject=subject,
            body=body,
            now=now,
            due_at=due_at,
            user_id=user_id,
            appointment_id=appointment_id,
            visit_revision=visit_revision,
            ics=ics,
        )
    )
    if survives_rollback:
        keep_on_rollback(session, row)
    else:
        session.add(row)
    if row.due_at <= now:
        mark_outbox_due(session)


def enqueue_email(
    session: Session,
    *,
    kind: str,
    to: str,
    text: EmailText,
    now: datetime,
    user_id: int | None = None,
    survives_rollback: bool = False,
) -> None:
    """An account email (activation, reset, ...): always by email, whatever the preferences,
    because it carries a link and concerns the login itself."""
    enqueue(
        session,
        kind=kind,
        channel=Channel.EMAIL,
        to=to,
        subject=text.subject,
        body=text.body,
        now=now,
        user_id=user_id,
        survives_rollback=survives_rollback,
    )


def withdraw_pending(
    session: Session, *, appointment_id: int, reason: str, before_revision: int | None = None
) -> int:
    """Cancel what has not gone yet about a visit (reminders, a stale confirmation).

    With `before_revision`, only messages about earlier revisions (a reschedule); cancellation
    notices are never withdrawn.
    """
    stmt = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.appointment_id) == appointment_id,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.kind) != CANCELLED,
            not_being_sent(),
        )
        .values(status=OutboxStatus.CANCELLED, last_error=reason[:500])
    )
    if before_revision is not None:
        stmt = stmt.where(col(OutboxMessage.visit_revision) < before_revision)
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount or 0)


# --- claiming ------------------------------------------------------------------------


def verdict(
    *,
    kind: str,
    visit_revision: int,
    appt_status: str | None,
    appt_revision: int | None,
    starts_at: datetime | None,
    now: datetime,
) -> str:
    """Empty if the message should go now, else why it is skipped (re-checked at claim time)."""
    if appt_status is None or kind == CANCELLED:
        return ""  # account emails; a cancellation notice is always worth sending
    assert starts_at is not None
    if appt_status != AppointmentStatus.BOOKED:
        return "visit no longer booked"
    if appt_revision != visit_revision:
        return "visit was moved"
    offset = reminder_offset(kind)
    if offset is None:
        return "" if starts_at > now else "visit already started"
    margin = LATE_REMINDER_MARGIN if offset > LATE_REMINDER_MARGIN else timedelta(0)
    if starts_at - now <= margin:
        return "too late to be useful" if starts_at > now else "visit already started"
    return ""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    kind: str
    to: str
    subject: str
    body: str  # with the visit's link in place of JOIN_LINK_PENDING
    ics: str
    attempts: int  # including this one
    lease_until: datetime
    appointment_id: int | None = None
    user_id: int | None = None


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    given_back: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped
        self.given_back += other.given_back
        self.errors.extend(other.errors)


_O = OutboxMessage.__table__  # type: ignore[attr-defined]
_L = OutboxLease.__table__  # type: ignore[attr-defined]
_A = Appointment.__table__  # type: ignore[attr-defined]
_U = User.__table__  # type: ignore[attr-defined]
# "OUTCLAIM" as 8 bytes: claims take turns (see _lease), far from the other advisory keys.
CLAIM_LOCK_KEY = int.from_bytes(b"OUTCLAIM", "big") - 2**63


def not_being_sent() -> ColumnElement[bool]:
    """For changes to pending messages (withdrawals): leave alone those a sender holds,
    as a message being sent cannot be called back."""
    return ~exists().where(_L.c.message_id == OutboxMessage.id)


@lru_cache(maxsize=1)
def _claim_query() -> Select[*tuple[Any, ...]]:
    """Due messages nobody holds (or whose holder's lease ran out), with what the decision
    needs and the attempt number each would be (binds: now, limit).

    Core, not ORM, and built once: this is the hot path.
    """
    o, held, taken = _O.alias("due"), _L.alias("held"), _L.alias("taken")
    a, u = _A.c, _U.c
    # A lease that ran out counts the attempt it was for.
    attempts_so_far = func.coalesce(
        select(held.c.attempts).where(held.c.message_id == o.c.id).scalar_subquery(),
        o.c.attempts,
    )
    return (
        select(
            o.c.id,
            o.c.channel,
            o.c.kind,
            o.c.recipient,
            o.c.visit_revision,
            o.c.appointment_id,
            o.c.recipient_user_id,
            a.status.label("appt_status"),
            a.revision.label("appt_revision"),
            a.starts_at,
            a.format,
            a.join_url,
            # Compared here, not converted per row into Python: only the answer is needed.
            (a.updated_at <= bindparam("link_wait_over")).label("link_wait_over"),
            u.email,
            u.phone,
            u.notify_email,
            u.notify_sms,
            u.deactivated_at.is_not(None).label("deactivated"),
            o.c.subject,
            o.c.body,
            o.c.attachment,
            (attempts_so_far + 1).label("attempts"),
        )
        .select_from(
            o.outerjoin(_A, a.id == o.c.appointment_id).outerjoin(_U, u.id == o.c.recipient_user_id)
        )
        # Status as a literal, not a bound parameter: SQLite uses a partial index only when
        # the query's WHERE visibly implies the index's.
        .where(
            o.c.status == literal_column("'pending'"),
            o.c.next_attempt_at <= bindparam("now"),
            # NOT EXISTS, not an outer join filtered on NULL: PostgreSQL estimates an
            # anti-join well, and misjudged the other as one row (a nested loop over every
            # person for each due message, 100x slower).
            ~exists().where(taken.c.message_id == o.c.id, taken.c.lease_until > bindparam("now")),
        )
        .order_by(o.c.next_attempt_at)
        .limit(bindparam("limit", type_=Integer))
    )


def _upsert_lease(stmt: Any) -> Any:
    """Insert leases; a lease that ran out is taken over (and its attempt counted)."""
    return stmt.on_conflict_do_update(
        index_elements=[_L.c.message_id],
        set_={"lease_until": stmt.excluded.lease_until, "attempts": stmt.excluded.attempts},
        where=_L.c.lease_until <= bindparam("now"),
    )


@lru_cache(maxsize=1)
def _lease_returning() -> Any:
    """PostgreSQL, one statement: pick the due messages, lease them, return them."""
    due = _claim_query().cte("c")
    lease_until = bindparam("lease_until", type_=_L.c.lease_until.type)
    leased = (
        _upsert_lease(
            pg_insert(_L).from_select(
                ["message_id", "lease_until", "attempts"],
                select(due.c.id, lease_until, due.c.attempts),
            )
        )
        .returning(_L.c.message_id)
        .cte("leased")
    )
    return select(due).join(leased, leased.c.message_id == due.c.id)


def _lease(conn: Connection, now: datetime, lease_until: datetime, limit: int) -> list[Any]:
    """Lease up to `limit` due messages; each row: the _claim_query columns.

    Claims take turns: PostgreSQL, a transaction advisory lock, so each claim reads every
    lease committed before it (one reading older rows could otherwise lease a message that
    was claimed, sent and released meanwhile); SQLite, the transaction began IMMEDIATE.
    Senders' sends and write-backs do not wait on it, and a claim of 500 is milliseconds.
    """
    binds = {
        "now": now,
        "limit": limit,
        "lease_until": lease_until,
        "link_wait_over": now - JOIN_WAIT,
    }
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
        # A join returns rows in no set order: the batch goes out oldest message first.
        return sorted(conn.execute(_lease_returning(), binds).all(), key=itemgetter(0))
    rows = conn.execute(_claim_query(), binds).all()
    if rows:
        # The driver's own executemany: SQLAlchemy's would convert the same lease end once
        # per row (a third of a 500-row claim). Every lease here is new or has run out.
        column_type = _L.c.lease_until.type.dialect_impl(conn.dialect)
        until = column_type.bind_processor(conn.dialect)(lease_until)
        conn.exec_driver_sql(
            "INSERT INTO outbox_lease (message_id, lease_until, attempts) VALUES (?, ?, ?) "
            "ON CONFLICT (message_id) DO UPDATE "
            "SET lease_until = excluded.lease_until, attempts = excluded.attempts",
            [(r[0], until, r[-1]) for r in rows],
        )
    return list(rows)


def _join_link(
    conn: Connection,
    settings: Settings,
    *,
    appointment_id: int,
    join_url: str,
    wait_over: bool,
) -> str | None:
    """The link a video visit's message carries: None to hold the message back while the
    Teams link is being made; after JOIN_WAIT (`wait_over`: the visit was last changed that
    long ago) the visit gets a room of our own."""
    if join_url:
        return join_url
    if not wait_over:
        return None
    conn.execute(
        update(_A)
        .where(_A.c.id == appointment_id, _A.c.join_url == "")
        .values(join_url=new_room_url(settings))
    )
    return str(conn.execute(select(_A.c.join_url).where(_A.c.id == appointment_id)).scalar_one())


def _release(conn: Connection, ids: list[int], values: dict[str, Any]) -> None:
    """Messages leased by this claim but not sent: the message row updated, the lease gone."""
    attempts_before = select(_L.c.attempts - 1).where(_L.c.message_id == _O.c.id).scalar_subquery()
    conn.execute(update(_O).where(_O.c.id.in_(ids)).values(attempts=attempts_before, **values))
    conn.execute(delete(_L).where(_L.c.message_id.in_(ids)))


def claim_batch(
    engine: Engine, *, now: datetime, limit: int, settings: Settings | None = None
) -> tuple[list[Claimed], int]:
    """Lease up to `limit` due messages to this caller: (claimed, skipped as no longer useful).

    Everything due is leased, then each is re-checked against its visit and its person in
    the same transaction; those no longer worth sending are marked skipped instead, and
    those waiting for a Teams link are put back for a few seconds.
    """
    settings = settings or get_settings()
    lease_until = now + timedelta(seconds=settings.outbox_lease_seconds)
    claimed: list[Claimed] = []
    skipped: dict[str, list[int]] = {}
    held: list[int] = []
    with writer(engine).connect() as conn, conn.begin():
        for (
            message_id,
            channel,
            kind,
            to,
            visit_revision,
            appointment_id,
            user_id,
            appt_status,
            appt_revision,
            starts_at,
            visit_format,
            join_url,
            link_wait_over,
            email,
            phone,
            notify_email,
            notify_sms,
            deactivated,
            subject,
            body,
            ics,
            attempts,
        ) in _lease(conn, now, lease_until, limit):
            reason, link = "", ""
            # Calendar rows reconcile with the visit when sent (calendar_sync.py).
            if channel != Channel.CALENDAR:
                reason = verdict(
                    kind=kind,
                    visit_revision=visit_revision,
                    appt_status=appt_status,
                    appt_revision=appt_revision,
                    starts_at=starts_at,
                    now=now,
                )
                if not reason and appointment_id is not None and email is not None:
                    # Visit messages follow the person's current address and preferences.
                    if deactivated:
                        reason = "account deactivated"
                    elif channel == Channel.EMAIL:
                        to = email if notify_email else ""
                    else:
                        to = phone if notify_sms else ""
                    if not reason and not to:
                        reason = "channel turned off by the person"
                link = join_url or ""
                if not reason and visit_format == VisitFormat.VIDEO and kind != CANCELLED:
                    found = _join_link(
                        conn,
                        settings,
                        appointment_id=appointment_id,
                        join_url=link,
                        wait_over=bool(link_wait_over),
                    )
                    if found is None:
                        held.append(message_id)
                        continue
                    link = found
            if reason:
                skipped.setdefault(reason, []).append(message_id)
                continue
            if link:
                body = body.replace(JOIN_LINK_PENDING, link)
                ics = ics.replace(JOIN_LINK_PENDING, link)
            claimed.append(
                Claimed(
                    message_id,
                    channel,
                    kind,
                    to,
                    subject,
                    body,
                    ics,
                    attempts,
                    lease_until,
                    appointment_id,
                    user_id,
                )
            )
        for reason, ids in skipped.items():
            _release(conn, ids, {"status": OutboxStatus.SKIPPED, "last_error": reason})
        if held:
            _release(
                conn, held, {"next_attempt_at": now + JOIN_RETRY, "last_error": WAITING_FOR_LINK}
            )
    return claimed, sum(len(ids) for ids in skipped.values())


# --- sending -------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 1, 2, 4, 8, 16 minutes."""
    base = 60 * 2 ** max(0, attempts - 1)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not crypto)


class CalendarSender(Protocol):
    def send(self, *, appointment_id: int, user_id: int, now: datetime) -> str:
        """Make the person's calendar show the visit as it is; returns the event id."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Senders:
    mailer: Mailer
    sms: SmsSender
    settings: Settings
    calendar: CalendarSender | None = None

    def close(self) -> None:
        self.mailer.close()
        self.sms.close()
        if self.calendar is not None:
            self.calendar.close()


def _send_one(senders: Senders, c: Claimed, now: datetime) -> str:
    if c.channel == Channel.CALENDAR:
        if senders.calendar is None or c.appointment_id is None or c.user_id is None:
            raise PermanentSendError("calendar sync is not available")
        return senders.calendar.send(appointment_id=c.appointment_id, user_id=c.user_id, now=now)
    if c.channel == Channel.SMS:
        return senders.sms.send(OutgoingSms(to=c.to, body=c.body, outbox_id=c.id))
    return senders.mailer.send(
        OutgoingEmail(
            to=c.to,
            subject=c.subject,
            body=c.body,
            message_id=message_id_for(c.id, senders.settings),
            outbox_id=c.id,
            ics=c.ics,
        )
    )


_ATTEMPTS = bindparam("b_attempts", type_=Integer)
# What each result writes to the message row. Only "sent" is written whatever the row's
# status now: it was sent. The others leave a message withdrawn meanwhile withdrawn.
_RESULTS: dict[str, dict[str, Any]] = {
    "sent": dict(
        status=OutboxStatus.SENT,
        sent_at=bindparam("b_at"),
        provider_message_id=bindparam("b_provider"),
        body=bindparam("b_body"),
        attempts=_ATTEMPTS,
        last_error="",
    ),
    "retry": dict(
        next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"), attempts=_ATTEMPTS
    ),
    "failed": dict(status=OutboxStatus.FAILED, last_error=bindparam("b_error"), attempts=_ATTEMPTS),
    "given_back": dict(attempts=_ATTEMPTS - 1),  # nothing was attempted
}
_MINE = (_L.c.message_id == bindparam("b_id")) & (_L.c.lease_until == bindparam("b_lease"))


@lru_cache(maxsize=8)
def _result_statements(result: str, dialect: str) -> tuple[Any, ...]:
    """The statements recording one result, only where this sender still holds the lease,
    and ending it (binds: b_id, b_lease and the result's own)."""
    where = [] if result == "sent" else [_O.c.status == literal_column("'pending'")]
    values = _RESULTS[result]
    if dialect == "postgresql":
        ended = delete(_L).where(_MINE).returning(_L.c.message_id).cte("ended")
        ids = select(ended.c.message_id).scalar_subquery()
        return (update(_O).where(_O.c.id == ids, *where).values(**values),)
    mine = exists().where(_MINE)
    return (
        update(_O).where(_O.c.id == bindparam("b_id"), mine, *where).values(**values),
        delete(_L).where(_MINE),
    )


def _write_back(engine: Engine, results: dict[str, list[dict[str, object]]]) -> None:
    """Record results, only where this sender still holds the lease, in one transaction."""
    with writer(engine).connect() as conn, conn.begin():
        for result, params in results.items():
            if params:
                for stmt in _result_statements(result, conn.dialect.name):
                    conn.execute(stmt, params)


def send_claimed(
    engine: Engine, senders: Senders, claimed: Sequence[Claimed], *, now: datetime
) -> DeliveryReport:
    report = DeliveryReport()
    deadline = time.monotonic() + senders.settings.outbox_lease_seconds / 2
    sent: list[dict[str, object]] = []
    retry: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    given_back: list[dict[str, object]] = []
    results = {"sent": sent, "retry": retry, "failed": failed, "given_back": given_back}

    def flush() -> None:
        _write_back(engine, results)
        for bucket in results.values():
            bucket.clear()

    for c in claimed:
        key: dict[str, object] = {"b_id": c.id, "b_lease": c.lease_until, "b_attempts": c.attempts}
        if time.monotonic() > deadline:
            given_back.append(key)
            report.given_back += 1
            continue
        try:
            provider_id = _send_one(senders, c, now)
        except PermanentSendError as exc:
            failed.append({**key, "b_error": str(exc)[:500]})
            report.failed += 1
            report.errors.append(f"{c.id}: {exc}")
            log.warning("outbox message %s (%s) failed: %s", c.id, c.kind, exc)
        except Exception as exc:
            # TransientSendError, or a bug in a sender: never lose the message over it.
            if not isinstance(exc, TransientSendError):
                log.exception("outbox message %s (%s): unexpected sender error", c.id, c.kind)
            error = str(exc)[:500] or type(exc).__name__
            if c.attempts >= MAX_ATTEMPTS:
                failed.append({**key, "b_error": error})
                report.failed += 1
                log.warning("outbox message %s (%s) gave up: %s", c.id, c.kind, error)
            else:
                wait = backoff(c.attempts)
                retry_after = getattr(exc, "retry_after_seconds", None)
                if retry_after:
                    wait = max(wait, timedelta(seconds=retry_after))
                retry.append({**key, "b_error": error, "b_next": now + wait})
                report.retried += 1
            report.errors.append(f"{c.id}: {error}")
        else:
            sent.append(
                {
                    **key,
                    "b_at": now,
                    "b_provider": provider_id[:200],
                    "b_body": redact_tokens(c.body),
                }
            )
            report.sent += 1
        if len(sent) + len(retry) + len(failed) >= FLUSH_EVERY:
            flush()
    flush()
    return report


def deliver_due(
    engine: Engine,
    senders: Senders,
    *,
    now: datetime,
    batch_size: int | None = None,
    max_batches: int | None = None,
) -> DeliveryReport:
    """Send everything due, batch after batch, until nothing due is left."""
    limit = batch_size or senders.settings.outbox_batch_size
    report = DeliveryReport()
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            claimed, skipped = claim_batch(engine, now=now, limit=limit, settings=senders.settings)
            batches += 1
            report.skipped += skipped
            if claimed:
                report.add(send_claimed(engine, senders, claimed, now=now))
            # Calendar work may have given a visit its Teams link and released the messages
            # that waited for it: one more pass sends them now rather than at the next tick.
            calendar_done = any(c.channel == Channel.CALENDAR for c in claimed)
            if len(claimed) + skipped < limit and not calendar_done:
                break
    finally:
        senders.close()
    return report
