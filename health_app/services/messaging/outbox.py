"""The durable outbox: messages are rows first, and a delivery step sends them.

Writing a row happens in the caller's transaction, so a message exists exactly when the
change that causes it was committed (a cancelled booking leaves no confirmation behind).

Delivery claims due rows in batches and leases them: one transaction selects them with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (on SQLite the transaction begins IMMEDIATE, so
claims are serial), re-checks that each is still worth sending, marks the rest `sending`
until `lease_until`, and commits before any network I/O. Results are written back only by
the lease holder; a lease that expires (its process died) is claimed again. Several
processes delivering at once therefore never send one row twice, short of a crash
between the provider accepting a message and our commit: then the deterministic
Message-ID lets mail systems recognise the repeat.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Integer,
    Select,
    bindparam,
    literal_column,
    select,
    update,
)
from sqlmodel import Session, col

from health_app.config import Settings, get_settings
from health_app.db import keep_on_rollback, mark_outbox_due, writer
from health_app.models import (
    Appointment,
    AppointmentStatus,
    Channel,
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
        lease_until=None,
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


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    kind: str
    to: str
    subject: str
    body: str
    ics: str
    attempts: int  # including this one
    lease_until: datetime
    appointment_id: int | None = None
    user_id: int | None = None
    join_url: str = ""  # the visit's link, put in place of JOIN_LINK_PENDING

    def with_text(self, subject: str, body: str, ics: str, attempts: int) -> Claimed:
        link = self.join_url
        return replace(
            self,
            subject=subject,
            body=body.replace(JOIN_LINK_PENDING, link) if link else body,
            ics=ics.replace(JOIN_LINK_PENDING, link) if link else ics,
            attempts=attempts,
        )


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
_A = Appointment.__table__  # type: ignore[attr-defined]
_U = User.__table__  # type: ignore[attr-defined]
_TEXT = (_O.c.subject, _O.c.body, _O.c.attachment, _O.c.attempts)


@lru_cache(maxsize=2)
def _claim_query(*, expired: bool) -> Select[*tuple[Any, ...]]:
    """Due rows with what the decision needs (binds: now, limit).

    Core, not ORM, and built once: this is the hot path.
    """
    o = _O.alias("due")
    a, u = _A.c, _U.c
    stmt = select(
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
        a.updated_at.label("appt_updated_at"),
        u.email,
        u.phone,
        u.notify_email,
        u.notify_sms,
        u.deactivated_at,
    ).select_from(
        o.outerjoin(_A, a.id == o.c.appointment_id).outerjoin(_U, u.id == o.c.recipient_user_id)
    )
    # Status as a literal, not a bound parameter: SQLite uses a partial index only when the
    # query's WHERE visibly implies the index's.
    if expired:
        stmt = stmt.where(
            o.c.status == literal_column("'sending'"), o.c.lease_until <= bindparam("now")
        ).order_by(o.c.lease_until)
    else:
        stmt = stmt.where(
            o.c.status == literal_column("'pending'"), o.c.next_attempt_at <= bindparam("now")
        ).order_by(o.c.next_attempt_at)
    # Only the outbox rows are locked; rows another sender holds are passed over, not waited on.
    limit = bindparam("limit", type_=Integer)
    return stmt.limit(limit).with_for_update(of=o, skip_locked=True)


_LEASE_VALUES = dict(
    status=OutboxStatus.SENDING, lease_until=bindparam("lease_until"), attempts=_O.c.attempts + 1
)


@lru_cache(maxsize=2)
def _lease_returning(*, expired: bool) -> Any:
    """PostgreSQL, one round trip: lock, re-read the visit and lease in a single statement."""
    c = _claim_query(expired=expired).subquery("c")
    return update(_O).where(_O.c.id == c.c.id).values(**_LEASE_VALUES).returning(*c.c, *_TEXT)


def _lease(conn: Connection, now: datetime, lease_until: datetime, limit: int) -> list[Any]:
    """Lease up to `limit` due rows; each row: the _claim_query columns, then _TEXT.

    On SQLite _TEXT comes back empty (None): the caller reads it after committing, so the
    write lock is held no longer than the decision needs.
    """
    rows: list[Any] = []
    for expired in (True, False):
        if len(rows) >= limit:
            break
        binds = {"now": now, "limit": limit - len(rows), "lease_until": lease_until}
        if conn.dialect.name == "postgresql":
            rows += conn.execute(_lease_returning(expired=expired), binds).all()
            continue
        # SQLite: the transaction began IMMEDIATE, so nobody else claims meanwhile.
        found = conn.execute(_claim_query(expired=expired), binds).all()
        if not found:
            continue
        ids = [r[0] for r in found]
        conn.execute(update(_O).where(_O.c.id.in_(ids)).values(**_LEASE_VALUES), binds)
        rows += [(*r, *(None,) * len(_TEXT)) for r in found]
    return rows


def _join_link(
    conn: Connection,
    settings: Settings,
    *,
    appointment_id: int,
    join_url: str,
    updated_at: datetime,
    now: datetime,
) -> str | None:
    """The link a video visit's message carries: None to hold the message back while the
    Teams link is being made; after JOIN_WAIT the visit gets a room of our own."""
    if join_url:
        return join_url
    if now - updated_at < JOIN_WAIT:
        return None
    conn.execute(
        update(_A)
        .where(_A.c.id == appointment_id, _A.c.join_url == "")
        .values(join_url=new_room_url(settings))
    )
    return str(conn.execute(select(_A.c.join_url).where(_A.c.id == appointment_id)).scalar_one())


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
            appt_updated_at,
            email,
            phone,
            notify_email,
            notify_sms,
            deactivated_at,
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
                    if deactivated_at is not None:
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
                        updated_at=_aware(appt_updated_at, now),
                        now=now,
                    )
                    if found is None:
                        held.append(message_id)
                        continue
                    link = found
            if reason:
                skipped.setdefault(reason, []).append(message_id)
            else:
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
                        link,
                    )
                )
        for reason, ids in skipped.items():
            conn.execute(
                update(_O)
                .where(_O.c.id.in_(ids))
                .values(
                    status=OutboxStatus.SKIPPED,
                    lease_until=None,
                    last_error=reason,
                    attempts=_O.c.attempts - 1,  # nothing was attempted
                )
            )
        if held:
            conn.execute(
                update(_O)
                .where(_O.c.id.in_(held))
                .values(
                    status=OutboxStatus.PENDING,
                    lease_until=None,
                    next_attempt_at=now + JOIN_RETRY,
                    attempts=_O.c.attempts - 1,
                    last_error=WAITING_FOR_LINK,
                )
            )
    if claimed and claimed[0].body is None:
        with engine.connect() as conn:
            text_of = {
                r[0]: r[1:]
                for r in conn.execute(
                    select(_O.c.id, *_TEXT).where(_O.c.id.in_([c.id for c in claimed]))
                ).all()
            }
        claimed = [c.with_text(*text_of[c.id]) for c in claimed]
    else:
        claimed = [c.with_text(c.subject, c.body, c.ics, c.attempts) for c in claimed]
    return claimed, sum(len(ids) for ids in skipped.values())


def _aware(at: datetime, now: datetime) -> datetime:
    """SQLite hands timestamps back without their zone (they are stored in UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=now.tzinfo)


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


_OWNED = (
    (col(OutboxMessage.id) == bindparam("b_id"))
    & (col(OutboxMessage.status) == OutboxStatus.SENDING)
    & (col(OutboxMessage.lease_until) == bindparam("b_lease"))
)


def _write_back(
    engine: Engine,
    *,
    sent: list[dict[str, object]],
    retry: list[dict[str, object]],
    failed: list[dict[str, object]],
    given_back: list[dict[str, object]],
) -> None:
    """Record results, only where this sender still holds the lease."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    statements = (
        (
            sent,
            dict(
                status=OutboxStatus.SENT,
                sent_at=bindparam("b_at"),
                provider_message_id=bindparam("b_provider"),
                body=bindparam("b_body"),
                lease_until=None,
                last_error="",
            ),
        ),
        (
            retry,
            dict(
                status=OutboxStatus.PENDING,
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
                lease_until=None,
            ),
        ),
        (
            failed,
            dict(status=OutboxStatus.FAILED, last_error=bindparam("b_error"), lease_until=None),
        ),
        (
            given_back,
            dict(
                status=OutboxStatus.PENDING,
                attempts=table.c.attempts - 1,
                lease_until=None,
            ),
        ),
    )
    with Session(writer(engine)) as session:
        conn = session.connection()
        for params, values in statements:
            if params:
                conn.execute(update(table).where(_OWNED).values(**values), params)
        session.commit()


def send_claimed(
    engine: Engine, senders: Senders, claimed: Sequence[Claimed], *, now: datetime
) -> DeliveryReport:
    report = DeliveryReport()
    deadline = time.monotonic() + senders.settings.outbox_lease_seconds / 2
    sent: list[dict[str, object]] = []
    retry: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    given_back: list[dict[str, object]] = []

    def flush() -> None:
        _write_back(engine, sent=sent, retry=retry, failed=failed, given_back=given_back)
        for bucket in (sent, retry, failed, given_back):
            bucket.clear()

    for c in claimed:
        key: dict[str, object] = {"b_id": c.id, "b_lease": c.lease_until}
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
