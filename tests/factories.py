"""Builders for test data that go through the real services."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import DevMailboxMessage, OutboxMessage, User
from health_app.services.accounts import admin, registration
from health_app.services.messaging.mailer import DevMailboxMailer
from health_app.services.messaging.outbox import Senders, deliver_due
from health_app.services.messaging.sms import DevSms
from health_app.services.validation import health_card_from_digits

PASSWORD = "violet-kettle-harbour-42"
_seq = itertools.count(1)


def luhn_card(seed: int, version: str = "AB") -> str:
    """A valid Ontario-style health card number derived from seed."""
    return health_card_from_digits(f"{seed:09d}"[-9:], version)


def patient_form(**over: str) -> registration.PatientRegistration:
    n = next(_seq)
    email = over.pop("email", f"patient{n}@example.com")
    data = dict(
        email=email,
        email_confirm=email,
        password=PASSWORD,
        first_name="Jane",
        preferred_name="",
        last_name=f"Doe{n}",
        date_of_birth="1990-05-17",
        phone="416-555-0123",
        address_line="100 Queen St W",
        city="Toronto",
        province="ON",
        postal_code="M5H 2N2",
        health_card_number=luhn_card(100000 + n),
        health_card_expiry="2030-01-31",
    )
    data.update(over)
    return registration.PatientRegistration(**data)


def doctor_form(**over: object) -> registration.DoctorApplication:
    n = next(_seq)
    email = over.pop("email", f"doctor{n}@example.com")
    data: dict[str, object] = dict(
        email=email,
        email_confirm=email,
        password=PASSWORD,
        first_name="Amir",
        preferred_name="",
        last_name=f"Khan{n}",
        phone="647-555-0199",
        qualifications="MD, University of Toronto; CCFP",
        specialty="Family medicine",
        clinic_name="Queen West Clinic",
        clinic_address_line="200 Queen St W",
        clinic_city="Toronto",
        clinic_province="ON",
        clinic_postal_code="M5V 1Z4",
        licence_number=f"{100000 + n}",
        consultation_types=["general", "sick-note"],
        languages=["en", "fr"],
    )
    data.update(over)
    return registration.DoctorApplication(**data)  # type: ignore[arg-type]


def last_link(session: Session, engine_settings: Settings, to: str, path: str) -> str:
    """The token from the newest outbox email to `to` containing a link under `path`."""
    rows = session.exec(
        select(OutboxMessage).where(OutboxMessage.recipient == to).order_by(OutboxMessage.id.desc())  # type: ignore[union-attr]
    ).all()
    prefix = f"{engine_settings.public_base_url}{path}"
    for row in rows:
        for word in row.body.split():
            if word.startswith(prefix):
                return word[len(prefix) :]
    raise AssertionError(f"no email to {to} with a {path} link")


def register_confirmed_patient(
    session: Session, settings: Settings, now: datetime, **over: str
) -> User:
    form = patient_form(**over)
    registration.register_patient(session, form=form, settings=settings, now=now)
    session.commit()
    token = last_link(session, settings, form.email, "/confirm?token=")
    registration.confirm_email(session, token=token, settings=settings, now=now)
    session.commit()
    return session.exec(select(User).where(User.email == form.email)).one()


def approved_doctor(session: Session, settings: Settings, now: datetime, **over: object) -> User:
    form = doctor_form(**over)
    registration.apply_doctor(session, form=form, settings=settings, now=now)
    session.commit()
    token = last_link(session, settings, form.email, "/confirm?token=")
    registration.confirm_email(session, token=token, settings=settings, now=now)
    admin.approve_doctor_by_email(session, email=form.email, settings=settings, now=now)
    session.commit()
    return session.exec(select(User).where(User.email == form.email)).one()


def make_admin(session: Session, now: datetime, email: str = "admin@example.com") -> User:
    admin.create_admin(
        session,
        email=email,
        password=PASSWORD,
        first_name="Ada",
        last_name="Admin",
        now=now - timedelta(days=1),
    )
    session.commit()
    return session.exec(select(User).where(User.email == email)).one()


def mailbox(session: Session, engine_settings: Settings, now: datetime) -> list[DevMailboxMessage]:
    """Deliver the outbox through the dev senders and return the mailbox."""
    engine = session.get_bind()
    senders = Senders(DevMailboxMailer(engine), DevSms(engine), engine_settings)  # type: ignore[arg-type]
    deliver_due(engine, senders, now=now)  # type: ignore[arg-type]
    return list(session.exec(select(DevMailboxMessage).order_by(DevMailboxMessage.id)))  # type: ignore[arg-type]
