"""Admin actions: doctor applications and account activation. Every call re-checks the actor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from health_app import routes
from health_app.config import Settings
from health_app.db import require_id
from health_app.models import (
    ApprovalStatus,
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    Outcome,
    Role,
    User,
)
from health_app.services import audit
from health_app.services.access import require_admin
from health_app.services.accounts import emails
from health_app.services.accounts.passwords import check_password, hash_password
from health_app.services.accounts.registration import link
from health_app.services.accounts.sessions import revoke_user_sessions
from health_app.services.errors import DomainError, NotFound, ValidationFailed
from health_app.services.messaging import outbox
from health_app.services.people import display_name
from health_app.services.validation import FieldError, clean_email, clean_long_text, clean_name
from health_app.services.views import Actor, DoctorApplicationView, Page, UserAdminView

PAGE_SIZE = 20


def list_doctor_applications(
    session: Session, *, actor: Actor, status: str, page: int, now: datetime
) -> Page[DoctorApplicationView]:
    require_admin(session, actor, object_type="user", action="admin.list_applications", now=now)
    if status not in {s.value for s in ApprovalStatus}:
        status = ApprovalStatus.PENDING
    page = max(1, page)
    base = (
        select(User, DoctorProfile)
        .join(DoctorProfile, col(DoctorProfile.user_id) == col(User.id))
        .where(DoctorProfile.approval_status == status)
    )
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(
        base.order_by(col(User.created_at)).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    ids = [u.id for u, _ in rows]
    ctypes: dict[int, list[str]] = {}
    langs: dict[int, list[str]] = {}
    for d_id, code in session.exec(
        select(DoctorConsultationType.doctor_id, DoctorConsultationType.code).where(
            col(DoctorConsultationType.doctor_id).in_(ids)
        )
    ):
        ctypes.setdefault(d_id, []).append(code)
    for d_id, code in session.exec(
        select(DoctorLanguage.doctor_id, DoctorLanguage.code).where(
            col(DoctorLanguage.doctor_id).in_(ids)
        )
    ):
        langs.setdefault(d_id, []).append(code)
    items = tuple(
        DoctorApplicationView(
            user_id=d.user_id,
            name=display_name(u),
            email=u.email,
            email_confirmed=u.email_verified_at is not None,
            specialty=d.specialty,
            qualifications=d.qualifications,
            clinic_name=d.clinic_name,
            clinic_city=d.clinic_city,
            languages=tuple(sorted(langs.get(d.user_id, []))),
            consultation_types=tuple(sorted(ctypes.get(d.user_id, []))),
            applied_at=u.created_at,
            licence_number=d.licence_number,
            status=d.approval_status,
            rejection_reason=d.rejection_reason,
        )
        for u, d in rows
    )
    return Page(items=items, total=total, page=page, page_size=PAGE_SIZE)


def _doctor_for_review(
    session: Session, actor: Actor, doctor_id: int, action: str, now: datetime
) -> tuple[User, DoctorProfile]:
    require_admin(session, actor, object_type="user", action=action, now=now, object_id=doctor_id)
    user = session.get(User, doctor_id)
    profile = session.get(DoctorProfile, doctor_id)
    if user is None or profile is None:
        raise NotFound("That application no longer exists.")
    return user, profile


def approve_doctor(
    session: Session, *, actor: Actor, doctor_id: int, settings: Settings, now: datetime
) -> None:
    user, profile = _doctor_for_review(session, actor, doctor_id, "admin.approve_doctor", now)
    _approve(
        session,
        user=user,
        profile=profile,
        reviewer_id=actor.user_id,
        settings=settings,
        now=now,
        detail="",
    )


def _approve(
    session: Session,
    *,
    user: User,
    profile: DoctorProfile,
    reviewer_id: int | None,
    settings: Settings,
    now: datetime,
    detail: str,
) -> None:
    """Approve, tell the doctor, audit; the one path for the admin page and the CLI."""
    if profile.approval_status == ApprovalStatus.APPROVED:
        raise DomainError(f"{user.email} is already approved.")
    profile.approval_status, profile.reviewed_at = ApprovalStatus.APPROVED, now
    profile.reviewed_by_id, profile.rejection_reason = reviewer_id, ""
    session.add(profile)
    text = emails.doctor_approved(user.last_name, link(settings, routes.LOGIN))
    outbox.enqueue_email(session, kind="account.doctor_approved", to=user.email, text=text, now=now)
    audit.record(
        session,
        action="admin.approve_doctor",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=reviewer_id,
        object_type="user",
        object_id=user.id,
        detail=detail,
    )


def reject_doctor(
    session: Session, *, actor: Actor, doctor_id: int, reason: str, now: datetime
) -> None:
    user, profile = _doctor_for_review(session, actor, doctor_id, "admin.reject_doctor", now)
    try:
        reason = clean_long_text(reason, label="Reason", max_len=1000)
    except FieldError as exc:
        raise ValidationFailed({"reason": str(exc)}) from exc
    if profile.approval_status == ApprovalStatus.REJECTED:
        raise DomainError("This application is already rejected.")
    profile.approval_status, profile.reviewed_at, profile.reviewed_by_id = (
        ApprovalStatus.REJECTED,
        now,
        actor.user_id,
    )
    profile.rejection_reason = reason
    session.add(profile)
    # An approved doctor who is later rejected must not keep working in an open session.
    revoke_user_sessions(session, user_id=require_id(user.id), reason="rejected", now=now)
    text = emails.doctor_rejected(user.last_name, reason)
    outbox.enqueue_email(
        session,
        kind="account.doctor_rejected",
        to=user.email,
        text=text,
        now=now,
    )
    audit.record(
        session,
        action="admin.reject_doctor",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="user",
        object_id=user.id,
    )


def list_users(
    session: Session, *, actor: Actor, query: str, role: str, page: int, now: datetime
) -> Page[UserAdminView]:
    require_admin(session, actor, object_type="user", action="admin.list_users", now=now)
    page = max(1, page)
    stmt = select(User)
    q = (query or "").strip().lower()[:100]
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                func.lower(User.email).like(like),
                func.lower(User.first_name).like(like),
                func.lower(User.last_name).like(like),
                func.lower(User.preferred_name).like(like),
            )
        )
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    users = session.exec(
        stmt.order_by(col(User.last_name), col(User.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    items = tuple(
        UserAdminView(
            user_id=require_id(u.id),
            name=display_name(u),
            email=u.email,
            role=u.role,
            active=u.deactivated_at is None,
            email_confirmed=u.email_verified_at is not None,
            created_at=u.created_at,
        )
        for u in users
    )
    return Page(items=items, total=total, page=page, page_size=PAGE_SIZE)


def set_user_active(
    session: Session, *, actor: Actor, user_id: int, active: bool, now: datetime
) -> None:
    """Deactivate (ends every session at once) or reactivate an account."""
    action = "admin.reactivate_user" if active else "admin.deactivate_user"
    require_admin(session, actor, object_type="user", action=action, now=now, object_id=user_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That account no longer exists.")
    if user.id == actor.user_id:
        raise DomainError("You cannot deactivate your own account.")
    if active == (user.deactivated_at is None):
        raise DomainError(
            "This account is already active." if active else "This account is already deactivated."
        )
    user.deactivated_at, user.updated_at = (None if active else now), now
    session.add(user)
    if not active:
        revoke_user_sessions(session, user_id=user_id, reason="deactivated", now=now)
        text = emails.account_deactivated(display_name(user))
        outbox.enqueue_email(
            session,
            kind="account.deactivated",
            to=user.email,
            text=text,
            now=now,
        )
    audit.record(
        session,
        action=action,
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="user",
        object_id=user_id,
        subject_id=user_id,
    )


def create_admin(
    session: Session, *, email: str, password: str, first_name: str, last_name: str, now: datetime
) -> int:
    """For the CLI: an active, confirmed admin account."""
    errors: dict[str, str] = {}
    for field, fn in (
        ("email", lambda: clean_email(email)),
        ("password", lambda: check_password(password)),
        ("first_name", lambda: clean_name(first_name, label="First name")),
        ("last_name", lambda: clean_name(last_name, label="Last name")),
    ):
        try:
            fn()
        except FieldError as exc:
            errors[field] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    address = clean_email(email)
    if session.exec(select(User.id).where(User.email == address)).first() is not None:
        raise DomainError(f"An account with the email {address} already exists.")
    user = User(
        email=address,
        password_hash=hash_password(password),
        role=Role.ADMIN,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email_verified_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        action="admin.create",
        outcome=Outcome.SUCCESS,
        now=now,
        object_type="user",
        object_id=user.id,
        detail="created from the command line",
    )
    return require_id(user.id)


def approve_doctor_by_email(
    session: Session, *, email: str, settings: Settings, now: datetime
) -> None:
    """For the CLI, run by an operator on the server: approval without an admin session."""
    address = clean_email(email)
    user = session.exec(select(User).where(User.email == address)).first()
    profile = session.get(DoctorProfile, user.id) if user else None
    if user is None or profile is None:
        raise DomainError(f"No doctor account with the email {address}.")
    _approve(
        session,
        user=user,
        profile=profile,
        reviewer_id=None,
        settings=settings,
        now=now,
        detail="approved from the command line",
    )
