from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, DoctorProfile, OutboxMessage, PatientProfile, User
from health_app.services.accounts import registration, sessions
from health_app.services.errors import DomainError, TokenInvalid, ValidationFailed
from tests.factories import (
    PASSWORD,
    doctor_form,
    last_link,
    make_admin,
    patient_form,
    register_confirmed_patient,
)


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_patient_registers_confirms_and_logs_in(
    session: Session, settings: Settings, now: datetime
) -> None:
    form = patient_form(email="Jane.Doe@Example.com", health_card_number="1234 567 897 ab")
    registration.register_patient(session, form=form, settings=settings, now=now)
    session.commit()
    user = session.exec(select(User).where(User.email == "jane.doe@example.com")).one()
    assert user.email_verified_at is None
    assert session.get(PatientProfile, user.id).health_card_number == "1234-567-897-AB"
    with pytest.raises(DomainError, match="confirm your email"):
        sessions.login(
            session, email=form.email, password=PASSWORD, client="c", settings=settings, now=now
        )

    token = last_link(session, settings, "jane.doe@example.com", "/confirm?token=")
    result = registration.confirm_email(session, token=token, settings=settings, now=now)
    session.commit()
    assert result.role == "patient" and not result.awaiting_approval
    login = sessions.login(
        session,
        email=" JANE.DOE@example.com",
        password=PASSWORD,
        client="c",
        settings=settings,
        now=now,
    )
    assert login.actor.role == "patient" and len(login.token) >= 43


def test_every_bad_field_is_reported_and_nothing_is_stored(
    session: Session, settings: Settings, now: datetime
) -> None:
    form = patient_form(
        email="jane@example.com",
        email_confirm="jain@example.com",
        password="short",
        date_of_birth="2030-01-01",
        health_card_number="1234-567-890-AB",
        health_card_expiry="2020-01-01",
        phone="12",
        postal_code="99999",
        first_name="",
    )
    with pytest.raises(ValidationFailed) as err:
        registration.register_patient(session, form=form, settings=settings, now=now)
    assert set(err.value.field_errors) == {
        "email",
        "password",
        "date_of_birth",
        "health_card_number",
        "health_card_expiry",
        "phone",
        "postal_code",
        "first_name",
    }
    session.rollback()
    assert _count(session, User) == 0 and _count(session, OutboxMessage) == 0


def test_duplicate_email_looks_like_success_and_tells_the_owner(
    session: Session, settings: Settings, now: datetime
) -> None:
    register_confirmed_patient(session, settings, now, email="owner@example.com")
    registration.register_patient(
        session, form=patient_form(email="owner@example.com"), settings=settings, now=now
    )
    session.commit()
    assert _count(session, User) == 1
    newest = session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert newest.recipient == "owner@example.com"
    assert "account already exists" in newest.body


def test_duplicate_health_card_creates_nothing_and_warns_the_card_holder(
    session: Session, settings: Settings, now: datetime
) -> None:
    holder = register_confirmed_patient(session, settings, now, email="holder@example.com")
    card = session.get(PatientProfile, holder.id).health_card_number
    registration.register_patient(
        session,
        form=patient_form(email="other@example.com", health_card_number=card),
        settings=settings,
        now=now,
    )
    session.commit()
    assert session.exec(select(User).where(User.email == "other@example.com")).first() is None
    recipients = {
        m.recipient
        for m in session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind.in_(["account.registration_failed", "account.card_reused"])
            )
        )
    }
    assert recipients == {"other@example.com", "holder@example.com"}


def test_health_card_uniqueness_is_a_database_constraint(
    session: Session, settings: Settings, now: datetime
) -> None:
    holder = register_confirmed_patient(session, settings, now)
    card = session.get(PatientProfile, holder.id).health_card_number
    other = register_confirmed_patient(session, settings, now)
    profile = session.get(PatientProfile, other.id)
    profile.health_card_number = card
    session.add(profile)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        session.commit()


def test_confirmation_link_is_single_use_and_expires(
    session: Session, settings: Settings, now: datetime
) -> None:
    form = patient_form()
    registration.register_patient(session, form=form, settings=settings, now=now)
    session.commit()
    token = last_link(session, settings, form.email, "/confirm?token=")
    late = now + timedelta(hours=settings.confirm_token_hours, seconds=1)
    with pytest.raises(TokenInvalid) as err:
        registration.confirm_email(session, token=token, settings=settings, now=late)
    assert err.value.reason == "expired"
    session.rollback()
    registration.confirm_email(session, token=token, settings=settings, now=now)
    session.commit()
    with pytest.raises(TokenInvalid) as err:
        registration.confirm_email(session, token=token, settings=settings, now=now)
    assert err.value.reason == "used"
    with pytest.raises(TokenInvalid) as err:
        registration.confirm_email(session, token="made-up", settings=settings, now=now)
    assert err.value.reason == "unknown"


def test_resend_confirmation_replaces_the_old_link(
    session: Session, settings: Settings, now: datetime
) -> None:
    form = patient_form()
    registration.register_patient(session, form=form, settings=settings, now=now)
    session.commit()
    first = last_link(session, settings, form.email, "/confirm?token=")
    registration.resend_confirmation(session, email=form.email, settings=settings, now=now)
    registration.resend_confirmation(
        session, email="nobody@example.com", settings=settings, now=now
    )
    session.commit()
    second = last_link(session, settings, form.email, "/confirm?token=")
    assert first != second
    with pytest.raises(TokenInvalid):
        registration.confirm_email(session, token=first, settings=settings, now=now)
    registration.confirm_email(session, token=second, settings=settings, now=now)


def test_doctor_needs_confirmation_and_approval(
    session: Session, settings: Settings, now: datetime
) -> None:
    make_admin(session, now)
    form = doctor_form(email="dr@example.com")
    registration.apply_doctor(session, form=form, settings=settings, now=now)
    session.commit()
    token = last_link(session, settings, "dr@example.com", "/confirm?token=")
    result = registration.confirm_email(session, token=token, settings=settings, now=now)
    session.commit()
    assert result.awaiting_approval
    assert (
        session.exec(select(OutboxMessage).where(OutboxMessage.kind == "admin.new_application"))
        .one()
        .recipient
        == "admin@example.com"
    )
    with pytest.raises(DomainError, match="waiting for an administrator"):
        sessions.login(
            session,
            email="dr@example.com",
            password=PASSWORD,
            client="c",
            settings=settings,
            now=now,
        )
    doctor = session.exec(select(User).where(User.email == "dr@example.com")).one()
    assert session.get(DoctorProfile, doctor.id).approval_status == "pending"


def test_doctor_application_checks_chips_against_the_shipped_lists(
    session: Session, settings: Settings, now: datetime
) -> None:
    form = doctor_form(
        consultation_types=["acne", "brain-surgery"], languages=[], specialty="Astrology"
    )
    with pytest.raises(ValidationFailed) as err:
        registration.apply_doctor(session, form=form, settings=settings, now=now)
    assert {"consultation_types", "languages", "specialty"} <= set(err.value.field_errors)


def test_password_reset_is_single_use_and_ends_sessions(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    login = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    )
    session.commit()
    registration.request_password_reset(session, email=user.email, settings=settings, now=now)
    registration.request_password_reset(
        session, email="ghost@example.com", settings=settings, now=now
    )
    session.commit()
    token = last_link(session, settings, user.email, "/reset-password?token=")
    with pytest.raises(ValidationFailed):
        registration.reset_password(
            session,
            token=token,
            password="brand new secret phrase",
            password_confirm="different",
            now=now,
        )
    session.rollback()
    registration.reset_password(
        session,
        token=token,
        password="brand new secret phrase",
        password_confirm="brand new secret phrase",
        now=now,
    )
    session.commit()
    assert sessions.resolve_session(session, token=login.token, settings=settings, now=now) is None
    with pytest.raises(TokenInvalid):
        registration.reset_password(
            session,
            token=token,
            password="another new secret phrase",
            password_confirm="another new secret phrase",
            now=now,
        )
    session.rollback()
    sessions.login(
        session,
        email=user.email,
        password="brand new secret phrase",
        client="c",
        settings=settings,
        now=now,
    )
    # An unknown address gets the same kind of email (same work, same timing), which says
    # that no account uses it and carries no reset link.
    ghost = session.exec(
        select(OutboxMessage).where(OutboxMessage.recipient == "ghost@example.com")
    ).one()
    assert ghost.kind == "account.reset_password"
    assert "no account" in ghost.body and "/reset-password?token=" not in ghost.body


def test_reset_link_expires(session: Session, settings: Settings, now: datetime) -> None:
    user = register_confirmed_patient(session, settings, now)
    registration.request_password_reset(session, email=user.email, settings=settings, now=now)
    session.commit()
    token = last_link(session, settings, user.email, "/reset-password?token=")
    with pytest.raises(TokenInvalid, match="expired"):
        registration.reset_password(
            session,
            token=token,
            password="brand new secret phrase",
            password_confirm="brand new secret phrase",
            now=now + timedelta(minutes=settings.reset_token_minutes + 1),
        )


def test_audit_log_is_append_only(
    engine: Engine, session: Session, settings: Settings, now: datetime
) -> None:
    register_confirmed_patient(session, settings, now)
    assert _count(session, AuditEvent) >= 2
    for statement in ("UPDATE audit_event SET outcome = 'x'", "DELETE FROM audit_event"):
        with engine.connect() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(statement))
            conn.commit()


def test_no_secret_reaches_the_audit_log(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    login = sessions.login(
        session, email=user.email, password=PASSWORD, client="c", settings=settings, now=now
    )
    session.commit()
    dump = " ".join(
        f"{e.action} {e.detail} {e.object_id} {e.client}" for e in session.exec(select(AuditEvent))
    )
    assert PASSWORD not in dump and login.token not in dump
