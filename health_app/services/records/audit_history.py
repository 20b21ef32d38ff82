"""Reading the audit trail: everything for admins, accesses to their own record for patients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from health_app.db import require_id
from health_app.models import AuditEvent, Role, User
from health_app.services import audit
from health_app.services.access import require_role
from health_app.services.people import display_name
from health_app.services.views import Actor, Page

PAGE_SIZE = 25
# What each recorded action means, in the words the audit pages show (codes stay in the
# rows, for filtering and for anyone reading the database).
ACTION_WORDS = {
    "account.change_password": "changed their password",
    "account.confirm_email": "confirmed their email address",
    "account.register": "registered",
    "account.reset_requested": "asked for a password reset",
    "admin.approve_doctor": "approved a doctor's application",
    "admin.create": "created an administrator",
    "admin.deactivate_user": "deactivated an account",
    "admin.list_applications": "looked at doctor applications",
    "admin.list_users": "looked at the user list",
    "admin.reactivate_user": "reactivated an account",
    "admin.reject_doctor": "rejected a doctor's application",
    "appointment.book": "booked a visit",
    "appointment.book_attempt": "tried to book a visit",
    "appointment.cancel": "cancelled a visit",
    "appointment.list": "listed visits",
    "appointment.read": "opened a visit",
    "appointment.reschedule": "moved a visit",
    "audit.my_record": "looked at who opened their record",
    "audit.read": "read the audit log",
    "auth.failure_alert": "was warned of failed logins",
    "auth.login": "logged in",
    "auth.logout": "logged out",
    "availability.cancel_range": "withdrew open times",
    "availability.open_range": "opened times",
    "availability.open_slot": "opened a time",
    "availability.preview_template": "checked new weekly hours",
    "availability.read": "looked at their availability",
    "availability.save_template": "saved weekly hours",
    "availability.time_off": "took time off",
    "dashboard.read": "opened the dashboard",
    "export.history": "exported visit history",
    "file.delete": "deleted a file",
    "file.download": "downloaded a file",
    "file.hide": "hid a file",
    "file.integrity": "found a damaged file",
    "file.list": "listed the files of a visit",
    "file.preview": "previewed a file",
    "file.purge": "removed a deleted file for good",
    "file.removed_list": "looked at removed files",
    "file.restore": "restored a file",
    "file.upload": "uploaded a file",
    "outbox.failed.list": "looked at failed messages",
    "outbox.retry": "sent a failed message again",
    "page.role": "opened a page not meant for their role",
    "profile.email_change_cancelled": "cancelled an email change",
    "profile.email_change_requested": "asked to change their email",
    "profile.email_changed": "changed their email",
    "profile.notifications": "changed notification settings",
    "profile.pharmacy": "chose a pharmacy",
    "profile.photo": "changed their photo",
    "profile.read": "opened a profile",
    "profile.update": "changed a profile",
    "visit.close": "closed a visit",
    "visit.messages.read": "read what was sent about a visit",
    "visit.notes": "wrote visit notes",
    "visit.prescribe": "wrote a prescription",
    "visit.read": "opened a visit record",
}
OUTCOME_WORDS = {"success": "done", "failure": "failed", "denied": "refused"}


def action_words(code: str) -> str:
    return ACTION_WORDS.get(code, code.replace(".", " ").replace("_", " "))


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
    action: str  # in words
    subject: str  # the person concerned: the patient, or the account acted on
    object: str
    outcome: str  # in words
    detail: str


@dataclass(frozen=True)
class AccessRow:
    """Who did what to the patient's record: repeated opens of one thing in one row."""

    actor: str
    action: str
    object: str
    times: int
    first_at: datetime
    last_at: datetime


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
) -> Page[AccessRow]:
    """Who read or changed the signed-in patient's visits and profile (other people only),
    one row per person, action and thing, with how many times and when last."""
    require_role(session, actor, Role.PATIENT, action="audit.my_record", now=now)
    grouped = (
        sa_select(
            col(AuditEvent.actor_id),
            col(AuditEvent.action),
            col(AuditEvent.object_type),
            col(AuditEvent.object_id),
            func.count().label("times"),
            func.min(AuditEvent.at).label("first_at"),
            func.max(AuditEvent.at).label("last_at"),
        )
        .where(
            col(AuditEvent.subject_id) == actor.user_id,
            col(AuditEvent.actor_id) != actor.user_id,
            col(AuditEvent.action).in_(_RECORD_ACTIONS),
            col(AuditEvent.outcome) == "success",
        )
        .group_by(
            col(AuditEvent.actor_id),
            col(AuditEvent.action),
            col(AuditEvent.object_type),
            col(AuditEvent.object_id),
        )
    )
    page = max(1, page)
    total = session.exec(select(func.count()).select_from(grouped.subquery())).one()
    rows = session.execute(
        grouped.order_by(func.max(AuditEvent.at).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    names = _names(session, {r[0] for r in rows})
    items = tuple(
        AccessRow(
            actor=names.get(actor_id, "Someone") if actor_id else "Someone",
            action=action_words(action),
            object=_thing(object_type, object_id),
            times=int(times),
            first_at=first_at,
            last_at=last_at,
        )
        for actor_id, action, object_type, object_id, times, first_at, last_at in rows
    )
    return Page(items=items, total=total, page=page, page_size=PAGE_SIZE)


_THINGS = {"appointment": "visit", "visit_file": "file", "user": "account"}


def _thing(object_type: str, object_id: str) -> str:
    kind = _THINGS.get(object_type, object_type.replace("_", " "))
    return f"{kind} {object_id}".strip()


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    return {
        require_id(u.id): f"{display_name(u)} ({u.role})"
        for u in session.exec(select(User).where(col(User.id).in_(wanted)))
    }


def _page(session: Session, stmt, page: int) -> Page[AuditRow]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    events = session.exec(
        stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    # The account acted on (an approved doctor, a deactivated user) is the row's subject.
    acted_on = {
        int(e.object_id) for e in events if e.object_type == "user" and e.object_id.isdigit()
    }
    names = _names(
        session, {e.actor_id for e in events} | {e.subject_id for e in events} | acted_on
    )

    def subject(e: AuditEvent) -> str:
        if e.subject_id:
            return names.get(e.subject_id, "")
        if e.object_type == "user" and e.object_id.isdigit() and int(e.object_id) != e.actor_id:
            return names.get(int(e.object_id), "")
        return ""

    rows = tuple(
        AuditRow(
            at=e.at,
            actor=names.get(e.actor_id, "anonymous") if e.actor_id else "anonymous",
            action=action_words(e.action),
            subject=subject(e),
            object=_thing(e.object_type, e.object_id),
            outcome=OUTCOME_WORDS.get(e.outcome) or e.outcome,
            detail=e.detail,
        )
        for e in events
    )
    return Page(items=rows, total=total, page=page, page_size=PAGE_SIZE)
