"""The signed-in person's own profile, password, email and notification preferences."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypedDict

from sqlmodel import Session, select

from health_app import routes
from health_app.config import Settings
from health_app.db import reads_only, require_id, waits_beyond_database
from health_app.models import (
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    EmailToken,
    Outcome,
    PatientProfile,
    Role,
    TokenPurpose,
    User,
)
from health_app.services import audit
from health_app.services.accounts import emails
from health_app.services.accounts.passwords import check_password, hash_password, verify_password
from health_app.services.accounts.person_fields import (
    clean_patient_details,
    clean_person,
    clean_practice,
)
from health_app.services.accounts.registration import (
    consume_email_token,
    issue_email_token,
    link,
    set_doctor_chips,
    tell_owner_already_registered,
)
from health_app.services.accounts.sessions import revoke_user_sessions
from health_app.services.errors import DomainError, NotFound, TokenInvalid, ValidationFailed
from health_app.services.maps import geocoding
from health_app.services.messaging import outbox
from health_app.services.microsoft import connections
from health_app.services.microsoft.connections import MicrosoftView
from health_app.services.people import display_name
from health_app.services.validation import (
    Collector,
    clean_email,
    clean_phone,
    clean_text,
)
from health_app.services.views import Actor


@dataclass(frozen=True)
class ProfileUpdate:
    """Raw form input; fields that do not apply to the actor's role are ignored."""

    first_name: str
    preferred_name: str
    last_name: str
    phone: str
    date_of_birth: str = ""
    address_line: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""
    health_card_number: str = ""
    health_card_expiry: str = ""
    qualifications: str = ""
    specialty: str = ""
    clinic_name: str = ""
    clinic_address_line: str = ""
    clinic_city: str = ""
    clinic_province: str = ""
    clinic_postal_code: str = ""
    consultation_types: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pharmacy:
    name: str
    address: str
    phone: str


@dataclass(frozen=True)
class ProfileView:
    """The owner's own profile: every editable field."""

    user_id: int
    role: str
    email: str
    pending_email: str
    first_name: str
    preferred_name: str
    last_name: str
    phone: str
    notify_email: bool
    notify_sms: bool
    # Patient fields ("" / None for other roles).
    date_of_birth: date | None = None
    address_line: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""
    health_card_number: str = ""
    health_card_expiry: date | None = None
    # Doctor fields.
    qualifications: str = ""
    specialty: str = ""
    consultation_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    clinic_name: str = ""
    clinic_address_line: str = ""
    clinic_city: str = ""
    clinic_province: str = ""
    clinic_postal_code: str = ""
    photo_blob: str = ""
    # Patients: the pharmacy that receives prescriptions (None while none is chosen).
    pharmacy: Pharmacy | None = None


class _AccountFields(TypedDict):
    """The ProfileView fields every role has."""

    user_id: int
    role: str
    email: str
    pending_email: str
    first_name: str
    preferred_name: str
    last_name: str
    phone: str
    notify_email: bool
    notify_sms: bool


def _own_user(session: Session, actor: Actor) -> User:
    user = session.get(User, actor.user_id)
    if user is None or user.deactivated_at is not None:
        raise NotFound("Your account could not be found.")
    return user


def get_profile(session: Session, *, actor: Actor, now: datetime) -> ProfileView:
    user = _own_user(session, actor)
    audit.record(
        session,
        action="profile.read",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
    )
    base = _AccountFields(
        user_id=require_id(user.id),
        role=user.role,
        email=user.email,
        pending_email=user.pending_email or "",
        first_name=user.first_name,
        preferred_name=user.preferred_name,
        last_name=user.last_name,
        phone=user.phone,
        notify_email=user.notify_email,
        notify_sms=user.notify_sms,
    )
    if user.role == Role.PATIENT:
        p = session.get(PatientProfile, user.id)
        if p is not None:
            return ProfileView(
                **base,
                date_of_birth=p.date_of_birth,
                address_line=p.address_line,
                city=p.city,
                province=p.province,
                postal_code=p.postal_code,
                health_card_number=p.health_card_number,
                health_card_expiry=p.health_card_expiry,
                pharmacy=_pharmacy(p),
            )
    elif user.role == Role.DOCTOR:
        d = session.get(DoctorProfile, user.id)
        if d is not None:
            ctypes = session.exec(
                select(DoctorConsultationType.code).where(
                    DoctorConsultationType.doctor_id == user.id
                )
            ).all()
            langs = session.exec(
                select(DoctorLanguage.code).where(DoctorLanguage.doctor_id == user.id)
            ).all()
            return ProfileView(
                **base,
                qualifications=d.qualifications,
                specialty=d.specialty,
                consultation_types=tuple(sorted(ctypes)),
                languages=tuple(sorted(langs)),
                clinic_name=d.clinic_name,
                clinic_address_line=d.clinic_address_line,
                clinic_city=d.clinic_city,
                clinic_province=d.clinic_province,
                clinic_postal_code=d.clinic_postal_code,
                photo_blob=d.photo_blob,
            )
    return ProfileView(**base)


@dataclass(frozen=True)
class ProfilePage:
    """Everything the profile page shows, read in one unit of work."""

    profile: ProfileView
    microsoft: MicrosoftView
    # Where the person's home (a doctor: the clinic) is on the map; None for admins.
    location: geocoding.LocationView | None


@reads_only
def get_profile_page(
    session: Session, *, actor: Actor, settings: Settings, now: datetime
) -> ProfilePage:
    profile = get_profile(session, actor=actor, now=now)
    model = {Role.PATIENT: PatientProfile, Role.DOCTOR: DoctorProfile}.get(Role(profile.role))
    located = session.get(model, actor.user_id) if model is not None else None
    return ProfilePage(
        profile=profile,
        microsoft=connections.get_connection(session, actor=actor, settings=settings),
        location=geocoding.location_view(located) if located is not None else None,
    )


@waits_beyond_database()  # Google Maps (the home address)
def update_profile(
    session: Session, *, actor: Actor, form: ProfileUpdate, settings: Settings, now: datetime
) -> None:
    """Save every field or none: all problems come back together as ValidationFailed."""
    user = _own_user(session, actor)
    today = now.astimezone(settings.clinic_zone).date()
    c = Collector()
    person = clean_person(c, form)
    if not person["phone"] and user.notify_sms and "phone" not in c.errors:
        c.add("phone", "Text messages are on: keep a phone number, or turn them off first.")
    changed = []
    if user.role == Role.PATIENT:
        p = session.get(PatientProfile, user.id)
        assert p is not None
        details = clean_patient_details(c, form, settings=settings, today=today)
        card = details["health_card_number"]
        if card and card != p.health_card_number:
            other = session.exec(
                select(PatientProfile.user_id).where(PatientProfile.health_card_number == card)
            ).first()
            if other is not None:
                # The person is signed in and owns a card; saying it is taken is fair here.
                c.add(
                    "health_card_number",
                    "This health card is linked to another account. Please contact the clinic.",
                )
        c.raise_if_any()
        changed += _apply(p, details)
        if {"address_line", "city", "postal_code", "province"} & set(changed):
            geocoding.address_changed(p)  # looked up again in the background
        session.add(p)
    elif user.role == Role.DOCTOR:
        d = session.get(DoctorProfile, user.id)
        assert d is not None
        practice, ctypes, langs = clean_practice(c, form, settings=settings)
        c.raise_if_any()
        changed += _apply(d, practice)
        clinic = {"clinic_address_line", "clinic_city", "clinic_postal_code", "clinic_province"}
        if clinic & set(changed):
            geocoding.address_changed(d)
        session.add(d)
        set_doctor_chips(session, doctor_id=d.user_id, ctypes=ctypes, langs=langs)
    else:
        c.raise_if_any()
    changed += _apply(user, person)
    user.updated_at = now
    session.add(user)
    audit.record(
        session,
        action="profile.update",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail=_changed_detail(changed),
    )


def _changed_detail(changed: list[str]) -> str:
    return "fields: " + ", ".join(sorted(changed)) if changed else "no change"


def _apply(row: object, values: dict[str, Any]) -> list[str]:
    """Set the values that differ; returns the names of the changed columns."""
    changed = [key for key, value in values.items() if getattr(row, key) != value]
    for key in changed:
        setattr(row, key, values[key])
    return changed


def set_notification_preferences(
    session: Session, *, actor: Actor, email_on: bool, sms_on: bool, now: datetime
) -> None:
    user = _own_user(session, actor)
    if not (email_on or sms_on):
        raise ValidationFailed(
            {"notifications": "Keep at least one way to reach you: email or text."}
        )
    if sms_on and not user.phone:
        raise ValidationFailed(
            {"notifications": "Add a mobile phone number to your profile first."}
        )
    user.notify_email, user.notify_sms, user.updated_at = bool(email_on), bool(sms_on), now
    session.add(user)
    audit.record(
        session,
        action="profile.notifications",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail=f"email={'on' if email_on else 'off'} sms={'on' if sms_on else 'off'}",
    )


@reads_only
def get_pharmacy(session: Session, *, actor: Actor) -> Pharmacy | None:
    """The patient's chosen pharmacy, or None while none is chosen."""
    user = _own_user(session, actor)
    p = session.get(PatientProfile, user.id) if user.role == Role.PATIENT else None
    return _pharmacy(p) if p is not None else None


def _pharmacy(p: PatientProfile) -> Pharmacy | None:
    if not p.pharmacy_name:
        return None
    return Pharmacy(name=p.pharmacy_name, address=p.pharmacy_address, phone=p.pharmacy_phone)


def set_pharmacy(
    session: Session, *, actor: Actor, name: str, address: str, phone: str, now: datetime
) -> None:
    """Choose the pharmacy that receives prescriptions; all three empty clears the choice."""
    user = _own_user(session, actor)
    p = session.get(PatientProfile, user.id) if user.role == Role.PATIENT else None
    if p is None:
        raise audit.deny(session, actor=actor, action="profile.pharmacy", now=now)
    c = Collector()
    clearing = not (name.strip() or address.strip() or phone.strip())
    values = {
        "pharmacy_name": c.check(
            "pharmacy_name",
            clean_text,
            name,
            label="Pharmacy name",
            max_len=200,
            required=not clearing,
        ),
        "pharmacy_address": c.check(
            "pharmacy_address", clean_text, address, label="Address", max_len=300, required=False
        ),
        "pharmacy_phone": c.check("pharmacy_phone", clean_phone, phone),
    }
    c.raise_if_any()
    changed = _apply(p, values)
    if changed:
        p.pharmacy_place_id = ""  # typed by hand: no longer the place picked on the map
    session.add(p)
    audit.record(
        session,
        action="profile.pharmacy",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail="cleared" if clearing else _changed_detail(changed),
    )


@waits_beyond_database()  # password hashing
def change_password(
    session: Session, *, actor: Actor, current: str, new: str, new_confirm: str, now: datetime
) -> None:
    """Ends every other session of the account; the current one stays signed in."""
    user = _own_user(session, actor)
    c = Collector()
    if not verify_password(current, user.password_hash):
        c.add("current_password", "Your current password is not correct.")
    c.check(
        "new_password",
        check_password,
        new,
        context_words=(user.first_name, user.last_name, user.email.split("@")[0]),
    )
    if new != new_confirm:
        c.add("new_password_confirm", "The two passwords do not match.")
    if not c.errors and new == current:
        c.add("new_password", "Choose a password different from the current one.")
    if c.errors:
        audit.record(
            session,
            action="account.change_password",
            outcome=Outcome.FAILURE,
            now=now,
            actor_id=user.id,
            object_type="user",
            object_id=user.id,
            survives_rollback=True,
        )
    c.raise_if_any()
    user.password_hash, user.password_changed_at, user.updated_at = hash_password(new), now, now
    session.add(user)
    revoke_user_sessions(
        session,
        user_id=require_id(user.id),
        reason="password_changed",
        now=now,
        keep_session_id=actor.session_id,
    )
    outbox.enqueue_email(
        session,
        kind="account.password_changed",
        to=user.email,
        text=emails.password_changed(display_name(user)),
        now=now,
    )
    audit.record(
        session,
        action="account.change_password",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
    )


@waits_beyond_database()  # password hashing
def request_email_change(
    session: Session,
    *,
    actor: Actor,
    new_email: str,
    password: str,
    settings: Settings,
    now: datetime,
) -> None:
    """Send a link to the new address; the login changes only when it is opened."""
    user = _own_user(session, actor)
    c = Collector()
    address = c.check("new_email", clean_email, new_email)
    if not verify_password(password, user.password_hash):
        c.add("email_password", "Your password is not correct.")
    if address and address == user.email:
        c.add("new_email", "This is already your email address.")
    c.raise_if_any()
    taken = session.exec(
        select(User.id).where(
            (User.email == address) | (User.pending_email == address), User.id != user.id
        )
    ).first()
    user.pending_email, user.updated_at = address, now
    session.add(user)
    audit.record(
        session,
        action="profile.email_change_requested",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
    )
    if taken is not None:
        # Same visible answer; the link simply never arrives, and the owner there is told.
        tell_owner_already_registered(session, email=address, settings=settings, now=now)
        return
    hours = settings.change_email_token_hours
    raw = issue_email_token(
        session,
        user=user,
        purpose=TokenPurpose.CHANGE_EMAIL,
        lifetime=timedelta(hours=hours),
        now=now,
        new_email=address,
    )
    outbox.enqueue_email(
        session,
        kind="account.confirm_new_email",
        to=address,
        now=now,
        text=(
            emails.confirm_new_email(
                display_name(user),
                link(settings, f"{routes.CONFIRM_EMAIL_CHANGE}?token={raw}"),
                hours,
            )
        ),
    )
    outbox.enqueue_email(
        session,
        kind="account.email_change_requested",
        to=user.email,
        now=now,
        text=emails.email_change_requested(display_name(user), address),
    )


def cancel_email_change(session: Session, *, actor: Actor, now: datetime) -> None:
    user = _own_user(session, actor)
    if not user.pending_email:
        raise DomainError("There is no pending email change.")
    for tok in session.exec(
        select(EmailToken).where(
            EmailToken.user_id == user.id, EmailToken.purpose == TokenPurpose.CHANGE_EMAIL
        )
    ):
        tok.used_at = tok.used_at or now
        session.add(tok)
    user.pending_email, user.updated_at = None, now
    session.add(user)
    audit.record(
        session,
        action="profile.email_change_cancelled",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
    )


def confirm_email_change(session: Session, *, token: str, now: datetime) -> str:
    """Switch the login to the new address; returns it."""
    row, user = consume_email_token(
        session, token=token, purpose=TokenPurpose.CHANGE_EMAIL, now=now
    )
    if not row.new_email or user.pending_email != row.new_email:
        raise TokenInvalid("used", "This email change was cancelled or replaced.")
    clash = session.exec(select(User.id).where(User.email == row.new_email)).first()
    if clash is not None:
        raise TokenInvalid("used", "This address is already in use by another account.")
    old = user.email
    user.email, user.pending_email, user.updated_at = row.new_email, None, now
    user.email_verified_at = user.email_verified_at or now
    session.add(user)
    audit.record(
        session,
        action="profile.email_changed",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail=f"from {old.split('@')[-1]} domain",
    )
    return user.email
