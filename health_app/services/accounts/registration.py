"""Accounts: registration, doctor applications, email links, passwords.

Anonymous callers never learn whether an email or health card is registered: every
anonymous flow answers the same way and explains itself by email to the address owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from health_app import routes
from health_app.config import Settings
from health_app.db import require_id, waits_beyond_database
from health_app.models import (
    ApprovalStatus,
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
from health_app.services.accounts import emails, rate_limits
from health_app.services.accounts.passwords import check_password, hash_password
from health_app.services.accounts.person_fields import (
    clean_patient_details,
    clean_person,
    clean_practice,
)
from health_app.services.accounts.sessions import revoke_user_sessions
from health_app.services.accounts.tokens import new_token, token_hash
from health_app.services.errors import TokenInvalid
from health_app.services.maps import geocoding
from health_app.services.messaging import outbox
from health_app.services.people import display_name
from health_app.services.validation import (
    Collector,
    FieldError,
    clean_email,
    clean_email_pair,
    clean_licence_number,
)
from health_app.services.views import ConfirmResult


@dataclass(frozen=True)
class PatientRegistration:
    """Raw form input, as typed."""

    email: str
    email_confirm: str
    password: str
    first_name: str
    preferred_name: str
    last_name: str
    date_of_birth: str
    phone: str
    address_line: str
    city: str
    province: str
    postal_code: str
    health_card_number: str
    health_card_expiry: str


@dataclass(frozen=True)
class DoctorApplication:
    email: str
    email_confirm: str
    password: str
    first_name: str
    preferred_name: str
    last_name: str
    phone: str
    qualifications: str
    specialty: str
    clinic_name: str
    clinic_address_line: str
    clinic_city: str
    clinic_province: str
    clinic_postal_code: str
    licence_number: str = ""
    consultation_types: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


def link(settings: Settings, path: str) -> str:
    return f"{settings.public_base_url}{path}"


def issue_email_token(
    session: Session,
    *,
    user: User,
    purpose: TokenPurpose,
    lifetime: timedelta,
    now: datetime,
    new_email: str | None = None,
    keep: int = 0,
) -> str:
    """A new single-use link token. Older unused tokens of the same purpose stop working,
    except the `keep` newest: a person who asked twice may open either email."""
    older = session.exec(
        select(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == purpose,
            col(EmailToken.used_at).is_(None),
        )
        .order_by(col(EmailToken.created_at).desc(), col(EmailToken.id).desc())
    ).all()
    for old in older[keep:]:
        old.used_at = now
        session.add(old)
    raw = new_token()
    session.add(
        EmailToken(
            token_hash=token_hash(raw),
            user_id=require_id(user.id),
            purpose=purpose,
            new_email=new_email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return raw


def consume_email_token(
    session: Session, *, token: str, purpose: TokenPurpose, now: datetime
) -> tuple[EmailToken, User]:
    """Check and use up a link token, or raise TokenInvalid saying why."""
    row = session.exec(
        select(EmailToken).where(
            EmailToken.token_hash == token_hash(token or ""), EmailToken.purpose == purpose
        )
    ).first()
    if row is None:
        raise TokenInvalid("unknown", "This link is not valid. Please ask for a new one.")
    if row.used_at is not None:
        raise TokenInvalid("used", "This link was already used. Please ask for a new one.")
    if row.expires_at <= now:
        raise TokenInvalid("expired", "This link has expired. Please ask for a new one.")
    user = session.get(User, row.user_id)
    if user is None or user.deactivated_at is not None:
        raise TokenInvalid("unknown", "This link is not valid. Please ask for a new one.")
    row.used_at = now
    session.add(row)
    return row, user


def _common_person_fields(
    c: Collector, form: PatientRegistration | DoctorApplication
) -> dict[str, str]:
    return {
        "email": c.check("email", clean_email_pair, form.email, form.email_confirm),
        **clean_person(c, form),
    }


def _check_new_password(c: Collector, password: str, email: str | None, names: list[str]) -> None:
    words = tuple(w for w in [*(names or []), (email or "").split("@")[0]] if w)
    c.check("password", check_password, password, context_words=words)


def _new_user(*, role: Role, fields: dict[str, str], password_hash: str, now: datetime) -> User:
    return User(
        email=fields["email"],
        password_hash=password_hash,
        role=role,
        first_name=fields["first_name"],
        preferred_name=fields["preferred_name"],
        last_name=fields["last_name"],
        phone=fields["phone"],
        notify_email=True,
        notify_sms=False,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )


def _existing_user(session: Session, email: str) -> User | None:
    return session.exec(
        select(User).where((User.email == email) | (User.pending_email == email))
    ).first()


def tell_owner_already_registered(
    session: Session, *, email: str, settings: Settings, now: datetime
) -> None:
    """Explain to the owner of `email` that an account exists (instead of telling the caller)."""
    text = emails.already_registered(
        link(settings, routes.LOGIN), link(settings, routes.FORGOT_PASSWORD)
    )
    outbox.enqueue_email(session, kind="account.already_registered", to=email, text=text, now=now)


def _refuse_duplicate_registration(
    session: Session, *, email: str, settings: Settings, now: datetime, client: str
) -> None:
    tell_owner_already_registered(session, email=email, settings=settings, now=now)
    audit.record(
        session,
        action="account.register",
        outcome=Outcome.FAILURE,
        now=now,
        detail="email already registered",
        client=client,
    )


PATIENT_STEPS: tuple[tuple[str, ...], ...] = (
    ("first_name", "preferred_name", "last_name", "date_of_birth", "phone"),
    ("address_line", "city", "province", "postal_code", "health_card_number", "health_card_expiry"),
    ("email", "password"),
)


def _clean_patient(
    form: PatientRegistration, *, settings: Settings, now: datetime
) -> tuple[Collector, dict[str, Any]]:
    today = now.astimezone(settings.clinic_zone).date()
    c = Collector()
    values: dict[str, Any] = _common_person_fields(c, form)
    _check_new_password(c, form.password, values["email"], [form.first_name, form.last_name])
    values.update(clean_patient_details(c, form, settings=settings, today=today))
    return c, values


def check_patient_step(
    form: PatientRegistration, *, step: int, settings: Settings, now: datetime
) -> dict[str, str]:
    """Errors for the fields of registration steps 1..step (for a multi-step form)."""
    c, _ = _clean_patient(form, settings=settings, now=now)
    fields = {f for s in PATIENT_STEPS[:step] for f in s}
    return {k: v for k, v in c.errors.items() if k in fields}


@waits_beyond_database()  # password hashing, Google Maps
def register_patient(
    session: Session,
    *,
    form: PatientRegistration,
    settings: Settings,
    now: datetime,
    client: str = "",
) -> None:
    """Create an unconfirmed patient and email the activation link.

    Raises ValidationFailed with every field's problem. A duplicate email or health card
    gives the same answer as success; the explanation goes to the address by email.
    """
    c, fields = _clean_patient(form, settings=settings, now=now)
    c.raise_if_any()
    card = fields["health_card_number"]
    # Hashed before anything is looked up, on every path: an answer that came faster for a
    # known address would tell who has an account.
    password_hash = hash_password(form.password)

    if _existing_user(session, fields["email"]) is not None:
        _refuse_duplicate_registration(
            session, email=fields["email"], settings=settings, now=now, client=client
        )
        return
    card_holder = session.exec(
        select(User)
        .join(PatientProfile, col(PatientProfile.user_id) == col(User.id))
        .where(PatientProfile.health_card_number == card)
    ).first()
    if card_holder is not None:
        outbox.enqueue_email(
            session,
            kind="account.registration_failed",
            to=fields["email"],
            text=emails.registration_not_completed(link(settings, routes.FORGOT_PASSWORD)),
            now=now,
        )
        outbox.enqueue_email(
            session,
            kind="account.card_reused",
            to=card_holder.email,
            text=emails.card_used_again(display_name(card_holder)),
            now=now,
        )
        audit.record(
            session,
            action="account.register",
            outcome=Outcome.FAILURE,
            now=now,
            subject_id=card_holder.id,
            detail="health card already registered",
            client=client,
        )
        return

    user = _new_user(role=Role.PATIENT, fields=fields, password_hash=password_hash, now=now)
    session.add(user)
    session.flush()
    session.add(
        PatientProfile(
            user_id=require_id(user.id),
            date_of_birth=fields["date_of_birth"],
            address_line=fields["address_line"],
            city=fields["city"],
            province=fields["province"],
            postal_code=fields["postal_code"],
            health_card_number=card,
            health_card_expiry=fields["health_card_expiry"],
            geo_status=geocoding.PENDING,  # looked up by the scheduler, not in this request
        )
    )
    _send_confirmation(session, user=user, settings=settings, now=now)
    audit.record(
        session,
        action="account.register",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        subject_id=user.id,
        detail="patient",
        client=client,
    )


@waits_beyond_database()  # password hashing, Google Maps
def apply_doctor(
    session: Session,
    *,
    form: DoctorApplication,
    settings: Settings,
    now: datetime,
    client: str = "",
) -> None:
    """Create an unconfirmed, unapproved doctor. Same anonymity rules as patients."""
    c = Collector()
    fields = _common_person_fields(c, form)
    _check_new_password(c, form.password, fields["email"], [form.first_name, form.last_name])
    practice, ctypes, langs = clean_practice(c, form, settings=settings)
    licence = c.check("licence_number", clean_licence_number, form.licence_number)
    c.raise_if_any()
    password_hash = hash_password(form.password)  # on every path, as for patients

    if _existing_user(session, fields["email"]) is not None:
        _refuse_duplicate_registration(
            session, email=fields["email"], settings=settings, now=now, client=client
        )
        return
    user = _new_user(role=Role.DOCTOR, fields=fields, password_hash=password_hash, now=now)
    session.add(user)
    session.flush()
    assert user.id is not None
    session.add(
        DoctorProfile(
            user_id=user.id,
            **practice,
            licence_number=licence,
            time_zone=settings.clinic_timezone,
            approval_status=ApprovalStatus.PENDING,
            geo_status=geocoding.PENDING,
        )
    )
    session.flush()
    set_doctor_chips(session, doctor_id=user.id, ctypes=ctypes, langs=langs)
    _send_confirmation(session, user=user, settings=settings, now=now)
    audit.record(
        session,
        action="account.register",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
        detail="doctor",
        client=client,
    )


def set_doctor_chips(
    session: Session, *, doctor_id: int, ctypes: list[str], langs: list[str]
) -> None:
    """Replace a doctor's consultation types and languages."""
    for model in (DoctorConsultationType, DoctorLanguage):
        for row in session.exec(select(model).where(model.doctor_id == doctor_id)):
            session.delete(row)
    session.flush()
    session.add_all(DoctorConsultationType(doctor_id=doctor_id, code=c) for c in ctypes)
    session.add_all(DoctorLanguage(doctor_id=doctor_id, code=c) for c in langs)


def _send_confirmation(session: Session, *, user: User, settings: Settings, now: datetime) -> None:
    raw = issue_email_token(
        session,
        user=user,
        purpose=TokenPurpose.CONFIRM_EMAIL,
        lifetime=timedelta(hours=settings.confirm_token_hours),
        now=now,
    )
    text = emails.confirm_email(
        display_name(user),
        link(settings, f"{routes.CONFIRM}?token={raw}"),
        settings.confirm_token_hours,
    )
    outbox.enqueue_email(session, kind="account.confirm", to=user.email, text=text, now=now)


def resend_confirmation(
    session: Session, *, email: str, settings: Settings, now: datetime, client: str = ""
) -> None:
    """Send a fresh activation link if the address has an unconfirmed account; silent otherwise.
    Limited per address and per client, like reset emails."""
    try:
        address = clean_email(email)
    except FieldError:
        return
    _limit_email_requests(
        session, kind="confirm", address=address, client=client, settings=settings, now=now
    )
    user = session.exec(select(User).where(User.email == address)).first()
    if user is None or user.email_verified_at is not None or user.deactivated_at is not None:
        return
    _send_confirmation(session, user=user, settings=settings, now=now)


def confirm_email(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> ConfirmResult:
    row, user = consume_email_token(
        session, token=token, purpose=TokenPurpose.CONFIRM_EMAIL, now=now
    )
    del row
    user.email_verified_at = now
    user.updated_at = now
    session.add(user)
    audit.record(
        session,
        action="account.confirm_email",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
    )
    if user.role != Role.DOCTOR:
        return ConfirmResult(role=user.role, awaiting_approval=False)
    profile = session.get(DoctorProfile, user.id)
    awaiting = profile is not None and profile.approval_status == ApprovalStatus.PENDING
    if awaiting:
        outbox.enqueue_email(
            session,
            kind="account.application_received",
            to=user.email,
            text=emails.doctor_application_received(user.last_name),
            now=now,
        )
        admins = session.exec(
            select(User).where(User.role == Role.ADMIN, col(User.deactivated_at).is_(None))
        ).all()
        for admin in admins:
            outbox.enqueue_email(
                session,
                kind="admin.new_application",
                to=admin.email,
                text=emails.new_doctor_application(
                    display_name(user), link(settings, routes.ADMIN_APPLICATIONS)
                ),
                now=now,
            )
    return ConfirmResult(role=user.role, awaiting_approval=awaiting)


# Reset links of one account that stay valid together: asking again never kills the link
# that is already on its way.
RESET_LINKS_KEPT = 3


def _limit_email_requests(
    session: Session, *, kind: str, address: str, client: str, settings: Settings, now: datetime
) -> None:
    rate_limits.limit(
        session,
        kind=kind,
        limits={
            "address": (address, settings.email_requests_per_address_per_hour),
            "client": (client or "unknown", settings.email_requests_per_client_per_hour),
        },
        now=now,
    )


def request_password_reset(
    session: Session, *, email: str, settings: Settings, now: datetime, client: str = ""
) -> None:
    """Email a reset link; the caller always shows the same answer.

    Known and unknown addresses cost the same work and both get an email (an unknown one
    is told that no account uses it), so neither the answer nor its timing says which
    addresses have accounts. Limited per address and per client.
    """
    try:
        address = clean_email(email)
    except FieldError:
        return
    _limit_email_requests(
        session, kind="reset", address=address, client=client, settings=settings, now=now
    )
    user = session.exec(select(User).where(User.email == address)).first()
    if user is None or user.deactivated_at is not None:
        text = emails.reset_without_account(link(settings, routes.REGISTER))
        outbox.enqueue_email(session, kind="account.reset_password", to=address, text=text, now=now)
        return
    raw = issue_email_token(
        session,
        user=user,
        purpose=TokenPurpose.RESET_PASSWORD,
        lifetime=timedelta(minutes=settings.reset_token_minutes),
        now=now,
        keep=RESET_LINKS_KEPT - 1,
    )
    text = emails.reset_password(
        link(settings, f"{routes.RESET_PASSWORD}?token={raw}"), settings.reset_token_minutes
    )
    outbox.enqueue_email(session, kind="account.reset_password", to=user.email, text=text, now=now)
    audit.record(
        session,
        action="account.reset_requested",
        outcome=Outcome.SUCCESS,
        now=now,
        object_type="user",
        object_id=user.id,
    )


@waits_beyond_database()  # password hashing
def reset_password(
    session: Session, *, token: str, password: str, password_confirm: str, now: datetime
) -> None:
    """Set a new password from a reset link; every session of the account ends."""
    c = Collector()
    c.check("password", check_password, password)
    if password != password_confirm:
        c.add("password_confirm", "The two passwords do not match.")
    c.raise_if_any()
    _, user = consume_email_token(
        session, token=token, purpose=TokenPurpose.RESET_PASSWORD, now=now
    )
    _set_password(session, user=user, password=password, now=now)
    # Following the link proves the address, so an unconfirmed account is confirmed now.
    user.email_verified_at = user.email_verified_at or now
    revoke_user_sessions(session, user_id=require_id(user.id), reason="password_reset", now=now)
    outbox.enqueue_email(
        session,
        kind="account.password_changed",
        to=user.email,
        text=emails.password_changed(display_name(user)),
        now=now,
    )
    audit.record(
        session,
        action="account.reset_password",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=user.id,
        object_type="user",
        object_id=user.id,
    )


def _set_password(session: Session, *, user: User, password: str, now: datetime) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.updated_at = now
    session.add(user)
