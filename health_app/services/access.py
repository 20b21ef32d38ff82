"""Who may touch what: the permission checks every service starts with.

Each check either returns the record the actor may use or raises "not found", never
"forbidden", so a refusal tells a prober nothing about what exists. Every refusal leaves
an audit row that survives the unit of work's rollback.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from health_app.models import Appointment, DoctorProfile, Role
from health_app.services import audit
from health_app.services.views import Actor


def require_role(
    session: Session,
    actor: Actor | None,
    role: Role,
    *,
    action: str,
    now: datetime,
    object_type: str = "",
    object_id: object = "",
) -> Actor:
    """The actor when they have `role`; anyone else is refused."""
    if actor is None or actor.role != role:
        raise audit.deny(
            session,
            actor=actor,
            action=action,
            now=now,
            object_type=object_type,
            object_id=object_id,
        )
    return actor


def require_admin(
    session: Session,
    actor: Actor | None,
    *,
    action: str,
    now: datetime,
    object_type: str = "",
    object_id: object = "",
) -> Actor:
    return require_role(
        session,
        actor,
        Role.ADMIN,
        action=action,
        now=now,
        object_type=object_type,
        object_id=object_id,
    )


def require_own_doctor(
    session: Session, actor: Actor, *, action: str, now: datetime, object_type: str = ""
) -> DoctorProfile:
    """The actor's own doctor profile; patients, admins and strangers are refused."""
    profile = session.get(DoctorProfile, actor.user_id) if actor.role == Role.DOCTOR else None
    if profile is None:
        raise audit.deny(session, actor=actor, action=action, now=now, object_type=object_type)
    return profile


def access_appointment(
    session: Session, *, actor: Actor, appointment_id: int, action: str, now: datetime
) -> Appointment:
    """The visit if the actor is its patient or its doctor; otherwise "not found"."""
    appt = session.get(Appointment, appointment_id)
    if appt is None or actor.user_id not in (appt.patient_id, appt.doctor_id):
        raise audit.deny(
            session,
            actor=actor,
            action=action,
            now=now,
            object_type="appointment",
            object_id=appointment_id,
            message="That visit was not found.",
        )
    return appt
