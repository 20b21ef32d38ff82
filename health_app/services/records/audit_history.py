"""Reading the audit trail: everything for admins, accesses to their own record for patients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.models import AuditEvent, Role, User
from health_app.services import audit
from health_app.services.access import require_role
from health_app.services.people import display_name
from health_app.services.views import Actor, Page

PAGE_SIZE = 25
# What a patient is shown about their own record: reads and changes by others.
_RECORD_ACTIONS = (
    "visit.read",
    "visit.notes",
    "visit.prescribe",
    "visit.close",
    "profile.read",
    "profile.update",
    "appointment.cancel",
    "appointment.reschedule",
    "visit.messages.read",
    # Files on the patient's visits: who listed, opened, added, removed or restored them.
    "file.list",
    "file.preview",
    "file.download",
    "file.upload",
    "file.delete",
    "file.hide",
    "file.restore",
)


@dataclass(frozen=True)
class AuditFilter:
    user: str = ""  # email or name fragment of the actor
    patient: str = ""  # email or name fragment of the subject
    action: str = ""  # prefix, e.g. "visit." or "auth.login"
    first: date | None = None
    last: date | None = None


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    subject: str
    object: str
    outcome: str
    detail: str


def _people_like(fragment: str):
    like = f"%{fragment.strip().lower()[:100]}%"
    return select(User.id).where(
        func.lower(User.email).like(like)
        | func.lower(User.first_name + " " + User.last_name).like(like)
    )


def list_events(
    session: Session, *, actor: Actor, query: AuditFilter, page: int, now: datetime
) -> Page[AuditRow]:
    """Admins only; newest first, filtered and paginated in SQL."""
    require_role(session, actor, Role.ADMIN, action="audit.read", now=now)
    stmt = select(AuditEvent)
    if query.user.strip():
        stmt = stmt.where(col(AuditEvent.actor_id).in_(_people_like(query.user)))
    if query.patient.strip():
        stmt = stmt.where(col(AuditEvent.subject_id).in_(_people_like(query.patient)))
    if query.action.strip():
        stmt = stmt.where(col(AuditEvent.action).startswith(query.action.strip()[:64]))
    if query.first:
        stmt = stmt.where(col(AuditEvent.at) >= datetime.combine(query.first, time(0), tzinfo=UTC))
    if query.last:
        stmt = stmt.where(
            col(AuditEvent.at)
            < datetime.combine(query.last + timedelta(days=1), time(0), tzinfo=UTC)
        )
    page = max(1, page)
    result = _page(session, stmt, page)
    audit.record(
        session,
        action="audit.read",
        outcome="success",
        now=now,
        actor_id=actor.user_id,
        detail="audit log page",
    )
    return result


def list_record_access(
    session: Session, *, actor: Actor, page: int, now: datetime
) -> Page[AuditRow]:
    """Who read or changed the signed-in patient's visits and profile (other people only)."""
    require_role(session, actor, Role.PATIENT, action="audit.my_record", now=now)
    stmt = select(AuditEvent).where(
        AuditEvent.subject_id == actor.user_id,
        col(AuditEvent.actor_id) != actor.user_id,
        col(AuditEvent.action).in_(_RECORD_ACTIONS),
    )
    return _page(session, stmt, max(1, page))


def _page(session: Session, stmt, page: int) -> Page[AuditRow]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    events = session.exec(
        stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ids = {e.actor_id for e in events} | {e.subject_id for e in events}
    names = {
        u.id: f"{display_name(u)} ({u.role})"
        for u in session.exec(
            select(User).where(col(User.id).in_([i for i in ids if i is not None]))
        )
    }
    rows = tuple(
        AuditRow(
            at=e.at,
            actor=names.get(e.actor_id, "anonymous") if e.actor_id else "anonymous",
            action=e.action,
            subject=names.get(e.subject_id, "") if e.subject_id else "",
            object=f"{e.object_type} {e.object_id}".strip(),
            outcome=e.outcome,
            detail=e.detail,
        )
        for e in events
    )
    return Page(items=rows, total=total, page=page, page_size=PAGE_SIZE)
