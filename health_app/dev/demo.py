"""Deterministic demo data: the three printed logins plus as many people as asked for.

Used by `make run` (small) and by benchmarks (large). The same arguments always give
the same names, cards and addresses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import require_id
from health_app.models import (
    Appointment,
    AppointmentStatus,
    ApprovalStatus,
    DoctorConsultationType,
    DoctorLanguage,
    DoctorProfile,
    PatientProfile,
    Role,
    Slot,
    SlotStatus,
    User,
    VisitFormat,
    WeeklyWindow,
)
from health_app.services.accounts.passwords import hash_password
from health_app.services.catalogue import consultation_types, languages, specialties
from health_app.services.messaging import notifications
from health_app.services.scheduling.video_room import new_room_url
from health_app.services.validation import health_card_from_digits

DEMO_PASSWORD = "demo-visit-password-2026"
DEMO_PATIENT = "patient@demo.example.org"
DEMO_DOCTOR = "doctor@demo.example.org"
DEMO_ADMIN = "admin@demo.example.org"

_FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Lucas",
    "Sophia",
    "Ethan",
    "Maya",
    "Arjun",
    "Chloe",
    "Mateo",
    "Aisha",
    "Wei",
    "Fatima",
    "Gabriel",
    "Nadia",
    "Omar",
    "Priya",
    "Samuel",
]
_LAST = [
    "Tremblay",
    "Singh",
    "Nguyen",
    "Martin",
    "Roy",
    "Wilson",
    "Chen",
    "Patel",
    "MacDonald",
    "Gagnon",
    "Kim",
    "Ali",
    "Brown",
    "Lee",
    "Côté",
    "Smith",
    "Khan",
    "Li",
    "Taylor",
    "Campbell",
]
_STREETS = [
    "Queen St W",
    "King St E",
    "Yonge St",
    "Bloor St W",
    "Dundas St W",
    "College St",
    "Bank St",
    "Rideau St",
    "Main St",
    "Princess St",
]
# Around Toronto, so maps and "doctors near me" have something to show on `make run`.
_CITIES = [
    ("Toronto", "M5V 2T6", 43.6426, -79.3871),
    ("North York", "M2N 6K1", 43.7615, -79.4111),
    ("Scarborough", "M1P 4P5", 43.7731, -79.2578),
    ("Etobicoke", "M9C 5K6", 43.6205, -79.5132),
    ("Mississauga", "L5B 1M2", 43.5890, -79.6441),
    ("Markham", "L3R 5G1", 43.8561, -79.3370),
]


@dataclass(frozen=True)
class SeedReport:
    doctors: int
    patients: int


def _card(n: int) -> str:
    return health_card_from_digits(f"{700000000 + n:09d}", "AB")


def _publish_weekly_hours(
    session: Session, doctors: list[User], *, now: datetime, days: int
) -> None:
    """Mon-Fri 09:00-12:00 and 13:00-17:00 in 15-minute slots, through the real generator."""
    from health_app.services.scheduling.weekly_hours import fill_horizon

    session.flush()
    for d in doctors:
        profile = session.get(DoctorProfile, d.id)
        assert profile is not None
        start = now.astimezone(ZoneInfo(profile.time_zone)).date()
        session.add_all(
            WeeklyWindow(
                doctor_id=profile.user_id,
                weekday=day,
                start_time=begin,
                end_time=end,
                slot_minutes=15,
                valid_from=start,
            )
            for day in range(5)
            for begin, end in ((time(9), time(12)), (time(13), time(17)))
        )
        session.flush()
        fill_horizon(session, doctor=profile, days=days, now=now)


def _book_demo_visits(
    session: Session, *, settings: Settings, now: datetime, doctor: User, patient: User
) -> None:
    """A video visit in about 20 minutes and a phone visit in about 24 hours 10 minutes.

    On `make run` their 15-minute and 24-hour reminders reach the mailbox page within
    minutes of starting, by email and (the demo patient opts in) by SMS.
    """
    patient.notify_sms = True
    session.add(patient)
    session.flush()
    base = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    for starts_at, visit_format in (
        (base + timedelta(minutes=20), VisitFormat.VIDEO),
        (base + timedelta(hours=24, minutes=10), VisitFormat.PHONE),
    ):
        slot = Slot(
            doctor_id=require_id(doctor.id),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=15),
            status=SlotStatus.BOOKED,
        )
        session.add(slot)
        session.flush()
        appt = Appointment(
            doctor_id=require_id(doctor.id),
            patient_id=require_id(patient.id),
            slot_id=require_id(slot.id),
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            status=AppointmentStatus.BOOKED,
            format=visit_format,
            consultation_type="general",
            reason="Demo visit",
            join_url=new_room_url(settings) if visit_format == VisitFormat.VIDEO else "",
            created_at=now,
            updated_at=now,
        )
        session.add(appt)
        notifications.visit_booked(session, appt=appt, settings=settings, now=now)


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(User)).one() == 0


def seed_demo(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    doctors: int = 5,
    patients: int = 20,
    availability_days: int = 0,
    demo_visits: bool = False,
) -> SeedReport:
    """Create the demo admin, doctor and patient plus extra doctors and patients.

    With `demo_visits`, the demo patient also has two visits with the demo doctor whose
    reminders fall due within minutes (see `_book_demo_visits`).
    """
    rng = random.Random(20261127)  # noqa: S311 (demo data, not security)
    password_hash = hash_password(DEMO_PASSWORD)  # one hash: argon2 is slow on purpose
    today = now.astimezone(settings.clinic_zone).date()
    spec_list, ctype_codes, lang_codes = (
        list(specialties()),
        list(consultation_types()),
        list(languages()),
    )

    def user(email: str, role: Role, first: str, last: str, phone: str) -> User:
        u = User(
            email=email,
            password_hash=password_hash,
            role=role,
            first_name=first,
            last_name=last,
            phone=phone,
            notify_email=True,
            email_verified_at=now,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(u)
        return u

    user(DEMO_ADMIN, Role.ADMIN, "Ada", "Admin", "")
    doctor_users = [user(DEMO_DOCTOR, Role.DOCTOR, "Amir", "Khan", "+16475550199")]
    for i in range(1, doctors):
        doctor_users.append(
            user(
                f"doctor{i}@demo.example.org",
                Role.DOCTOR,
                rng.choice(_FIRST),
                rng.choice(_LAST),
                f"+1647555{i % 10000:04d}",
            )
        )
    patient_users = [user(DEMO_PATIENT, Role.PATIENT, "Jane", "Doe", "+14165550123")]
    for i in range(1, patients):
        patient_users.append(
            user(
                f"patient{i}@demo.example.org",
                Role.PATIENT,
                rng.choice(_FIRST),
                rng.choice(_LAST),
                f"+1416555{i % 10000:04d}",
            )
        )
    session.flush()

    for i, d in enumerate(doctor_users):
        city, postal, lat, lng = _CITIES[i % len(_CITIES)]
        assert d.id is not None
        session.add(
            DoctorProfile(
                user_id=d.id,
                qualifications="MD (University of Toronto), CCFP",
                specialty=spec_list[0] if i == 0 else rng.choice(spec_list),
                clinic_name=f"{city} Family Health Clinic",
                clinic_address_line=f"{100 + i} {rng.choice(_STREETS)}",
                clinic_city=city,
                clinic_province="ON",
                clinic_postal_code=postal,
                licence_number=f"{80000 + i}",
                time_zone=settings.clinic_timezone,
                approval_status=ApprovalStatus.APPROVED,
                reviewed_at=now,
                latitude=lat + rng.uniform(-0.02, 0.02),
                longitude=lng + rng.uniform(-0.02, 0.02),
                # Made-up streets: real-looking points, marked as demo, never geocoded.
                geo_source="demo",
                geo_status="found",
                geo_at=now,
            )
        )
    session.flush()  # chips reference the profiles, which have no ORM relationship to order them
    for d in doctor_users:
        chosen_types = {"general", "sick-note", *rng.sample(ctype_codes, 3)}
        chosen_langs = {"en", *rng.sample(lang_codes, 1)}
        doctor_id = require_id(d.id)
        session.add_all(
            DoctorConsultationType(doctor_id=doctor_id, code=c) for c in sorted(chosen_types)
        )
        session.add_all(DoctorLanguage(doctor_id=doctor_id, code=c) for c in sorted(chosen_langs))
    for i, p in enumerate(patient_users):
        city, postal, lat, lng = _CITIES[i % len(_CITIES)]
        assert p.id is not None
        session.add(
            PatientProfile(
                user_id=p.id,
                date_of_birth=date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55)),
                address_line=f"{10 + i} {rng.choice(_STREETS)}",
                city=city,
                province="ON",
                postal_code=postal,
                health_card_number=_card(i),
                health_card_expiry=today + timedelta(days=365 * 3),
                latitude=lat + rng.uniform(-0.02, 0.02),
                longitude=lng + rng.uniform(-0.02, 0.02),
                # Made-up streets: real-looking points, marked as demo, never geocoded.
                geo_source="demo",
                geo_status="found",
                geo_at=now,
            )
        )
    if demo_visits:
        # Before the weekly hours, which then leave these times alone.
        _book_demo_visits(
            session, settings=settings, now=now, doctor=doctor_users[0], patient=patient_users[0]
        )
    if availability_days:
        _publish_weekly_hours(session, doctor_users, now=now, days=availability_days)
    return SeedReport(doctors=len(doctor_users), patients=len(patient_users))


def seed_schedule(
    session: Session,
    *,
    now: datetime,
    days: int,
    slots_per_day: int = 16,
    booked_fraction: float = 0.2,
) -> tuple[int, int]:
    """Bulk slots and visits for every doctor, for benchmarks: (slots, visits) created.

    Each doctor gets `slots_per_day` half-hour slots from 09:00 local on `days` days from
    tomorrow; a seeded draw books `booked_fraction` of them, each by the next patient in turn
    (time-major order), so no patient ever has two visits at once. Rows are written in bulk (COPY on
    PostgreSQL), not through the booking service.
    """
    from health_app.services.scheduling.time_rules import day_slots

    doctors = session.exec(
        select(DoctorProfile.user_id, DoctorProfile.time_zone).order_by(col(DoctorProfile.user_id))
    ).all()
    patients = session.exec(
        select(PatientProfile.user_id).order_by(col(PatientProfile.user_id))
    ).all()
    if not doctors or not patients:
        return 0, 0
    zone = ZoneInfo(doctors[0][1])
    first = now.astimezone(zone).date() + timedelta(days=1)
    end = (datetime.combine(date.min, time(9)) + timedelta(minutes=30 * slots_per_day)).time()
    times = [
        s for d in range(days) for s in day_slots(first + timedelta(days=d), time(9), end, 30, zone)
    ]
    rooms = Settings()
    rng = random.Random(5_840_000)  # noqa: S311 (deterministic demo data)
    # Decide bookings time-major, so the patients booked at one time are all different...
    booked: dict[tuple[int, int], int] = {}
    turn = 0
    for ti in range(len(times)):
        for di in range(len(doctors)):
            if rng.random() < booked_fraction:
                booked[(di, ti)] = patients[turn % len(patients)]
                turn += 1
    # ...but write doctor-major, so slot ids and index entries arrive in order.
    next_slot_id = (session.exec(select(func.max(Slot.id))).one() or 0) + 1
    slots: list[tuple[object, ...]] = []
    visits: list[tuple[object, ...]] = []
    for di, (doctor_id, _) in enumerate(doctors):
        for ti, (starts_at, ends_at) in enumerate(times):
            slot_id = next_slot_id + di * len(times) + ti
            patient_id = booked.get((di, ti))
            status = "open" if patient_id is None else "booked"
            slots.append((slot_id, doctor_id, starts_at, ends_at, status, "manual"))
            if patient_id is not None:
                visits.append(
                    (
                        doctor_id,
                        patient_id,
                        slot_id,
                        starts_at,
                        ends_at,
                        "booked",
                        "video",
                        "general",
                        "Benchmark visit",
                        # Each video visit has its room, as booked ones do (a visit without
                        # a link holds its reminders back for a Teams meeting).
                        new_room_url(rooms),
                        now,
                        now,
                        "",
                    )
                )
    _bulk(session, "slot", ("id", "doctor_id", "starts_at", "ends_at", "status", "source"), slots)
    _bulk(
        session,
        "appointment",
        (
            "doctor_id",
            "patient_id",
            "slot_id",
            "starts_at",
            "ends_at",
            "status",
            "format",
            "consultation_type",
            "reason",
            "join_url",
            "created_at",
            "updated_at",
            "cancel_reason",
        ),
        visits,
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('slot', 'id'), (SELECT max(id) FROM slot))")
        )
    return len(slots), len(visits)


def _copy_csv(cur: Any, copy: str, rows: list[tuple[object, ...]]) -> None:
    import csv
    import io

    for start in range(0, len(rows), 500_000):
        buf = io.StringIO()
        # Quote everything: in PostgreSQL's CSV an unquoted empty field means NULL.
        writer = csv.writer(buf, quoting=csv.QUOTE_ALL)
        for r in rows[start : start + 500_000]:
            writer.writerow([v.isoformat() if isinstance(v, datetime) else v for v in r])
        buf.seek(0)
        cur.copy_expert(f"{copy} WITH (FORMAT csv)", buf)


def _bulk(
    session: Session, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        copy = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cur:  # type: ignore[union-attr]
            if hasattr(cur, "copy_expert"):  # psycopg2, for a DATABASE_URL that names it
                _copy_csv(cur, copy, rows)
                return
            with cur.copy(copy) as out:  # psycopg 3 adapts each value itself
                for r in rows:
                    out.write_row(r)
        return
    import sqlite3  # the other backend: its DBAPI connection is sqlite3's

    marks = ", ".join("?" for _ in columns)
    stmt = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 (fixed names)
    cursor = cast(sqlite3.Connection, conn.connection.dbapi_connection).cursor()
    # SQLite stores our UTC datetimes as naive ISO text (see UTCDateTime).
    cursor.executemany(
        stmt,
        (
            [
                v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
                if isinstance(v, datetime)
                else v
                for v in r
            ]
            for r in rows
        ),
    )
