from datetime import datetime

import pytest
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, DoctorProfile, User
from health_app.services.accounts import admin, profiles, registration, sessions
from health_app.services.accounts.profiles import ProfileUpdate
from health_app.services.errors import DomainError, NotFound, TokenInvalid, ValidationFailed
from health_app.services.views import Actor
from tests.factories import (
    PASSWORD,
    approved_doctor,
    doctor_form,
    last_link,
    make_admin,
    register_confirmed_patient,
)


def _actor(session: Session, settings: Settings, now: datetime, user: User) -> Actor:
    return sessions.login(
        session, email=user.email, password=PASSWORD, client="t", settings=settings, now=now
    ).actor


def _pending_doctor(session: Session, settings: Settings, now: datetime) -> User:
    form = doctor_form()
    registration.apply_doctor(session, form=form, settings=settings, now=now)
    session.commit()
    registration.confirm_email(
        session,
        token=last_link(session, settings, form.email, "/confirm?token="),
        settings=settings,
        now=now,
    )
    session.commit()
    return session.exec(select(User).where(User.email == form.email)).one()


def test_admin_approves_and_rejects_applications(
    session: Session, settings: Settings, now: datetime
) -> None:
    boss = _actor(session, settings, now, make_admin(session, now))
    a, b = _pending_doctor(session, settings, now), _pending_doctor(session, settings, now)
    pending = admin.list_doctor_applications(session, actor=boss, status="pending", page=1, now=now)
    assert {v.user_id for v in pending.items} == {a.id, b.id}
    admin.approve_doctor(session, actor=boss, doctor_id=a.id, settings=settings, now=now)
    with pytest.raises(ValidationFailed):
        admin.reject_doctor(session, actor=boss, doctor_id=b.id, reason="  ", now=now)
    admin.reject_doctor(
        session,
        actor=boss,
        doctor_id=b.id,
        reason="Licence not found in the CPSO register",
        now=now,
    )
    session.commit()
    assert session.get(DoctorProfile, a.id).approval_status == "approved"
    assert session.get(DoctorProfile, b.id).rejection_reason.startswith("Licence")
    assert _actor(session, settings, now, a).role == "doctor"
    with pytest.raises(DomainError, match="not approved"):
        _actor(session, settings, now, b)


@pytest.mark.parametrize("call", ["list_apps", "approve", "reject", "list_users", "deactivate"])
def test_non_admins_are_denied_and_audited(
    session: Session, settings: Settings, now: datetime, call: str
) -> None:
    patient = register_confirmed_patient(session, settings, now)
    actor = _actor(session, settings, now, patient)
    doctor = _pending_doctor(session, settings, now)
    calls = {
        "list_apps": lambda: admin.list_doctor_applications(
            session, actor=actor, status="pending", page=1, now=now
        ),
        "approve": lambda: admin.approve_doctor(
            session, actor=actor, doctor_id=doctor.id, settings=settings, now=now
        ),
        "reject": lambda: admin.reject_doctor(
            session, actor=actor, doctor_id=doctor.id, reason="x", now=now
        ),
        "list_users": lambda: admin.list_users(
            session, actor=actor, query="", role="", page=1, now=now
        ),
        "deactivate": lambda: admin.set_user_active(
            session, actor=actor, user_id=doctor.id, active=False, now=now
        ),
    }
    with pytest.raises(NotFound):
        calls[call]()
    session.rollback()
    assert session.get(DoctorProfile, doctor.id).approval_status == "pending"
    assert session.get(User, doctor.id).deactivated_at is None
    denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert [d.actor_id for d in denied] == [patient.id]


def test_admin_cannot_deactivate_self(session: Session, settings: Settings, now: datetime) -> None:
    me = make_admin(session, now)
    with pytest.raises(DomainError, match="your own"):
        admin.set_user_active(
            session, actor=_actor(session, settings, now, me), user_id=me.id, active=False, now=now
        )


def test_list_users_searches_and_paginates(
    session: Session, settings: Settings, now: datetime
) -> None:
    boss = _actor(session, settings, now, make_admin(session, now))
    for _ in range(25):
        register_confirmed_patient(session, settings, now)
    page1 = admin.list_users(session, actor=boss, query="", role="patient", page=1, now=now)
    page2 = admin.list_users(session, actor=boss, query="", role="patient", page=2, now=now)
    assert page1.total == 25 and len(page1.items) == 20 and len(page2.items) == 5
    assert (
        admin.list_users(session, actor=boss, query="ADMIN@", role="", page=1, now=now).total == 1
    )


def _update(view, **over) -> ProfileUpdate:  # type: ignore[no-untyped-def]
    data = dict(
        first_name=view.first_name,
        preferred_name=view.preferred_name,
        last_name=view.last_name,
        phone=view.phone,
        date_of_birth=str(view.date_of_birth or ""),
        address_line=view.address_line,
        city=view.city,
        province=view.province,
        postal_code=view.postal_code,
        health_card_number=view.health_card_number,
        health_card_expiry=str(view.health_card_expiry or ""),
    )
    data.update(over)
    return ProfileUpdate(**data)


def test_profile_edit_validates_everything_and_changes_nothing_on_error(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    actor = _actor(session, settings, now, user)
    view = profiles.get_profile(session, actor=actor, now=now)
    with pytest.raises(ValidationFailed) as err:
        profiles.update_profile(
            session,
            actor=actor,
            form=_update(view, city="Ottawa", postal_code="bad"),
            settings=settings,
            now=now,
        )
    assert set(err.value.field_errors) == {"postal_code"}
    session.rollback()
    assert profiles.get_profile(session, actor=actor, now=now).city == "Toronto"
    profiles.update_profile(
        session,
        actor=actor,
        form=_update(view, city="Ottawa", preferred_name="<b>JJ</b>"),
        settings=settings,
        now=now,
    )
    session.commit()
    after = profiles.get_profile(session, actor=actor, now=now)
    assert after.city == "Ottawa" and after.preferred_name == "<b>JJ</b>"


def test_notification_preferences_rules(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now, phone="")
    actor = _actor(session, settings, now, user)
    with pytest.raises(ValidationFailed, match="highlighted"):
        profiles.set_notification_preferences(
            session, actor=actor, email_on=False, sms_on=False, now=now
        )
    with pytest.raises(ValidationFailed) as err:
        profiles.set_notification_preferences(
            session, actor=actor, email_on=True, sms_on=True, now=now
        )
    assert "phone" in err.value.field_errors["notifications"]
    session.rollback()
    assert session.get(User, user.id).notify_sms is False


def test_both_channels_off_is_refused_by_the_database_too(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    user.notify_email = False
    session.add(user)
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        session.commit()


def test_email_change_switches_only_after_confirmation(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now, email="old@example.com")
    actor = _actor(session, settings, now, user)
    with pytest.raises(ValidationFailed):
        profiles.request_email_change(
            session,
            actor=actor,
            new_email="new@example.com",
            password="wrong wrong",
            settings=settings,
            now=now,
        )
    session.rollback()
    profiles.request_email_change(
        session,
        actor=actor,
        new_email="New@Example.com",
        password=PASSWORD,
        settings=settings,
        now=now,
    )
    session.commit()
    assert session.get(User, user.id).email == "old@example.com"
    token = last_link(session, settings, "new@example.com", "/confirm-email-change?token=")
    assert profiles.confirm_email_change(session, token=token, now=now) == "new@example.com"
    session.commit()
    assert _actor(session, settings, now, session.get(User, user.id)).user_id == user.id


def test_cancelled_email_change_link_stops_working(
    session: Session, settings: Settings, now: datetime
) -> None:
    user = register_confirmed_patient(session, settings, now)
    actor = _actor(session, settings, now, user)
    profiles.request_email_change(
        session,
        actor=actor,
        new_email="new@example.com",
        password=PASSWORD,
        settings=settings,
        now=now,
    )
    session.commit()
    token = last_link(session, settings, "new@example.com", "/confirm-email-change?token=")
    profiles.cancel_email_change(session, actor=actor, now=now)
    session.commit()
    with pytest.raises(TokenInvalid):
        profiles.confirm_email_change(session, token=token, now=now)
    assert session.get(User, user.id).pending_email is None


def test_patient_chooses_changes_and_clears_a_pharmacy(
    session: Session, settings: Settings, now: datetime
) -> None:
    patient = _actor(session, settings, now, register_confirmed_patient(session, settings, now))
    assert profiles.get_pharmacy(session, actor=patient) is None
    with pytest.raises(ValidationFailed) as bad:
        profiles.set_pharmacy(
            session, actor=patient, name="", address="1 King St", phone="12", now=now
        )
    assert set(bad.value.field_errors) == {"pharmacy_name", "pharmacy_phone"}
    assert profiles.get_pharmacy(session, actor=patient) is None
    profiles.set_pharmacy(
        session,
        actor=patient,
        name=" Corner Pharmacy ",
        address="1 King St W, Toronto",
        phone="416-555-0199",
        now=now,
    )
    assert profiles.get_pharmacy(session, actor=patient) == profiles.Pharmacy(
        name="Corner Pharmacy", address="1 King St W, Toronto", phone="+14165550199"
    )
    profiles.set_pharmacy(session, actor=patient, name="", address="", phone="", now=now)
    assert profiles.get_pharmacy(session, actor=patient) is None
    details = session.exec(
        select(AuditEvent.detail).where(AuditEvent.action == "profile.pharmacy")
    ).all()
    assert details[-1] == "cleared" and "pharmacy_name" in details[0]


def test_only_patients_have_a_pharmacy(session: Session, settings: Settings, now: datetime) -> None:
    doctor = _actor(session, settings, now, approved_doctor(session, settings, now))
    assert profiles.get_pharmacy(session, actor=doctor) is None
    with pytest.raises(NotFound):
        profiles.set_pharmacy(session, actor=doctor, name="X", address="", phone="", now=now)
