"""Availability and booking at scale (issue 3 goals), on SQLite and PostgreSQL.

Data: DOCTORS doctors x DAYS days x 16 half-hour slots (default 1,000 x 365 = 5.84 M slots),
20 % booked, made by health_app.dev.demo. Prints each figure with the machine and
merges them into benchmarks/results.json.

Usage: python -m benchmarks.bench_booking [--postgres URL] [--doctors N] [--days N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlmodel import Session, col, select

from benchmarks.common import p95, record, row
from health_app.config import Settings
from health_app.db import make_engine, writer
from health_app.dev import demo
from health_app.migrations import upgrade
from health_app.models import DoctorProfile, PatientProfile, Role, User
from health_app.services.people import display_name
from health_app.services.scheduling import availability, booking, search, weekly_hours
from health_app.services.scheduling.booking import BookingRequest, SlotTaken
from health_app.services.scheduling.time_rules import MAX_HORIZON_DAYS
from health_app.services.views import Actor

SAMPLES = 200


def actor(user: User) -> Actor:
    assert user.id is not None
    return Actor(user_id=user.id, role=user.role, display_name=display_name(user))


def book(
    engine: Engine, patient: Actor, slot_id: int, settings: Settings, now: datetime, why: str
) -> None:
    """One booking through the service, in its own unit of work, as the app makes it."""
    with Session(writer(engine)) as s:
        booking.book_appointment(
            s,
            actor=patient,
            request=BookingRequest(slot_id, "video", "general", why),
            settings=settings,
            now=now,
        )
        s.commit()


def timed(fn: Any, samples: int = SAMPLES) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def prepare(url: str, db: str, doctors: int, days: int, now: datetime) -> Engine:
    engine = make_engine(url)
    if db == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            conn.commit()
    upgrade(url)
    t0 = time.perf_counter()
    with Session(engine) as s:
        demo.seed_demo(
            s, settings=Settings(database_url=url), now=now, doctors=doctors, patients=2000
        )
        s.commit()
        slots, visits = demo.seed_schedule(s, now=now, days=days)
        s.commit()
    if db == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(
        f"[{db}] seeded {slots:,} slots and {visits:,} visits in {time.perf_counter() - t0:.1f} s"
    )
    return engine


def fresh_people(engine: Engine, now: datetime, prefix: str, count: int, role: Role) -> list[Actor]:
    """Extra doctors (no slots yet) or patients (no visits yet) for write benchmarks."""
    from health_app.models import PatientProfile

    with Session(engine) as s:
        template = s.exec(select(User).where(User.role == role)).first()
        assert template is not None
        out = []
        for i in range(count):
            u = User(
                email=f"{prefix}{i}@bench.example.org",
                password_hash=template.password_hash,
                role=role,
                first_name="Bench",
                last_name=f"{prefix}{i}",
                phone="+14165550100",
                email_verified_at=now,
                password_changed_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(u)
            s.flush()
            if role == Role.DOCTOR:
                base = s.get(DoctorProfile, template.id)
                assert base is not None
                s.add(DoctorProfile(**{**base.model_dump(), "user_id": u.id}))
                s.flush()
                from health_app.models import DoctorConsultationType

                s.add(DoctorConsultationType(doctor_id=u.id, code="general"))  # type: ignore[arg-type]
            else:
                base_p = s.exec(select(PatientProfile)).first()
                assert base_p is not None
                s.add(
                    PatientProfile(
                        **{
                            **base_p.model_dump(),
                            "user_id": u.id,
                            "health_card_number": f"9{i:03d}-{prefix[:3]}-000-ZZ",
                        }
                    )
                )
            out.append(actor(u))
        s.commit()
        return out


def cpu_split(engine: Engine) -> Any:
    """CPU seconds spent from now on, as (this process, the PostgreSQL server's processes):
    call the returned function to read them. The server must run on this machine."""
    import psutil

    def server_processes() -> list[psutil.Process]:
        if engine.dialect.name != "postgresql":
            return []
        with engine.connect() as conn:
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        postmaster = psutil.Process(psutil.Process(pid).ppid())
        return [postmaster, *postmaster.children()]

    def total(processes: list[psutil.Process]) -> float:
        seconds = 0.0
        for p in processes:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            seconds += t.user + t.system
        return seconds

    me = psutil.Process()
    before = server_processes()
    ours0, server0 = total([me]), total(before)

    def read() -> tuple[float, float]:
        # Backends started meanwhile count whole; those that ended took their CPU along.
        known = {p.pid for p in before}
        started = [p for p in server_processes() if p.pid not in known]
        return total([me]) - ours0, total(before) - server0 + total(started)

    return read


def bench_reads(engine: Engine, db: str, now: datetime, settings: Settings) -> list[dict[str, Any]]:
    rng = random.Random(1)
    with Session(engine) as s:
        doctor_ids = s.exec(select(DoctorProfile.user_id)).all()
        specialty = s.exec(select(DoctorProfile.specialty)).first()
        same = s.exec(
            select(DoctorProfile.user_id).where(DoctorProfile.specialty == specialty)
        ).all()[:50]
        today = now.date()

        free = timed(
            lambda: search.free_slots(
                s, doctor_id=rng.choice(doctor_ids), first=today, days=14, now=now
            )
        )
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine, "before_cursor_execute", count)
        earliest = timed(
            lambda: search.earliest_free_slots(
                s, doctor_ids=list(same), now=now, until=now + timedelta(days=30)
            )
        )
        event.remove(engine, "before_cursor_execute", count)
        query = search.DoctorQuery(specialty=specialty or "", language="en")
        page = timed(
            lambda: search.search_doctors(
                s, query=query, page=rng.randint(1, 3), now=now, settings=settings
            )
        )
        # Doctors near me: 5 km around a demo patient's home, one specialty, earliest first.
        homes = s.exec(
            select(PatientProfile.latitude, PatientProfile.longitude).where(
                col(PatientProfile.latitude).is_not(None)
            )
        ).all()
        near_pages: list[int] = []

        def near_me() -> None:
            lat, lng = rng.choice(homes)
            found = search.search_doctors(
                s,
                query=search.DoctorQuery(specialty=specialty or "", near=(lat, lng), within_km=5),
                page=1,
                now=now,
                settings=settings,
            )
            near_pages.append(found.total)

        nearby = timed(near_me)
    return [
        row("free_slots_one_doctor_14d_p95", db, p95(free), "ms", 5),
        row("earliest_slot_50_doctors_30d_p95", db, p95(earliest), "ms", 15),
        row("earliest_slot_50_doctors_statements", db, statements / SAMPLES, "statements", 3),
        row("doctor_search_page_p95", db, p95(page), "ms", 30),
        row("doctors_near_me_5km_specialty_p95", db, p95(nearby), "ms", 30),
        row(
            "doctors_near_me_matches_median",
            db,
            sorted(near_pages)[len(near_pages) // 2],
            "doctors",
            1,
            higher_is_better=True,
        ),
    ]


def bench_publish(
    engine: Engine, db: str, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    # One warm-up of each (statement caches) as in a running server, then five measured.
    doctors = fresh_people(engine, now, "pub", 12, Role.DOCTOR)
    first = now.date() + timedelta(days=2)
    ranges, templates = [], []
    from datetime import time as clock

    for d in doctors[:6]:
        with Session(writer(engine)) as s:
            t0 = time.perf_counter()
            created = availability.open_range(
                s,
                actor=d,
                first=first,
                last=first + timedelta(days=29),
                start=clock(8),
                end=clock(20),
                minutes=15,
                now=now,
            )
            s.commit()
            ranges.append((time.perf_counter() - t0) * 1000)
            assert created == 1440, created
    windows = [
        weekly_hours.WindowInput(weekday=w, start=clock(s_), end=clock(e_))
        for w in range(5)
        for s_, e_ in ((9, 12), (13, 17))
    ]
    for d in doctors[6:]:
        with Session(writer(engine)) as s:
            t0 = time.perf_counter()
            weekly_hours.save_weekly_template(
                s,
                actor=d,
                windows=windows,
                slot_minutes=15,
                valid_from=now.date(),
                valid_to=None,
                settings=settings,
                now=now,
            )
            s.commit()
            templates.append((time.perf_counter() - t0) * 1000)
    return [
        row("open_range_1440_slots", db, max(ranges[1:]), "ms", 100),
        row("save_template_60_day_horizon", db, max(templates[1:]), "ms", 250),
    ]


def bench_race(engine: Engine, db: str, now: datetime, settings: Settings) -> list[dict[str, Any]]:
    """50 patients race for the same slot, 25 times: exactly one winner each time."""
    [doctor] = fresh_people(engine, now, "race", 1, Role.DOCTOR)
    patients = fresh_people(engine, now, "racer", 50, Role.PATIENT)
    from datetime import time as clock

    day = now.date() + timedelta(days=MAX_HORIZON_DAYS - 30)
    with Session(writer(engine)) as s:
        availability.open_range(
            s, actor=doctor, first=day, last=day, start=clock(8), end=clock(21), minutes=30, now=now
        )
        s.commit()
        slots = [
            f.slot_id
            for f in search.free_slots(s, doctor_id=doctor.user_id, first=day, days=1, now=now)
        ][:25]
    winners, slowest_loser = 0, 0.0
    lock = threading.Lock()
    for slot_id in slots:
        barrier = threading.Barrier(len(patients))
        outcome: list[tuple[str, float]] = []

        def attempt(
            p: Actor,
            slot_id: int = slot_id,
            barrier: threading.Barrier = barrier,
            outcome: list[tuple[str, float]] = outcome,
        ) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            try:
                book(engine, p, slot_id, settings, now, "race")
                result = "won"
            except SlotTaken:
                result = "taken"
            with lock:
                outcome.append((result, time.perf_counter() - t0))

        threads = [threading.Thread(target=attempt, args=(p,)) for p in patients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners += sum(1 for r, _ in outcome if r == "won")
        slowest_loser = max([slowest_loser, *(d for r, d in outcome if r == "taken")])
    return [
        row("same_slot_race_50x25_winners", db, winners, "winners", 25),
        row("same_slot_race_slowest_loser", db, slowest_loser * 1000, "ms", 1000),
    ]


def bench_throughput(
    engine: Engine, db: str, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    """8 workers, each its own doctor, booking distinct slots as fast as they can.

    Each patient books as many visits as the product allows (5 upcoming) under its own
    limits, so the guard's per-patient counts are what they are in use (a patient holding
    thousands of visits would make them the whole cost).
    """
    workers = 8
    per_worker = 1000 if db == "postgresql" else 150
    cap = Settings.max_future_appointments
    settings = replace(
        settings,
        max_future_appointments=cap,
        booking_attempts_per_hour=Settings.booking_attempts_per_hour,
    )
    doctors = fresh_people(engine, now, "tput", workers, Role.DOCTOR)
    patients = [
        fresh_people(engine, now, f"tp{w}x", -(-per_worker // cap), Role.PATIENT)
        for w in range(workers)
    ]
    from datetime import time as clock

    first = now.date() + timedelta(days=MAX_HORIZON_DAYS - 60)
    slot_lists = []
    for d in doctors:
        with Session(writer(engine)) as s:
            availability.open_range(
                s,
                actor=d,
                first=first,
                last=first + timedelta(days=9),
                start=clock(0, 15),
                end=clock(23, 45),
                minutes=5,
                now=now,
            )
            s.commit()
            slot_lists.append(
                [
                    f.slot_id
                    for f in search.free_slots(
                        s, doctor_id=d.user_id, first=first, days=10, now=now
                    )
                ]
            )
    assert min(len(x) for x in slot_lists) >= per_worker
    done = [0] * workers
    errors: list[str] = []

    def work(i: int) -> None:
        for n, slot_id in enumerate(slot_lists[i][:per_worker]):
            try:
                book(engine, patients[i][n // cap], slot_id, settings, now, "throughput")
                done[i] += 1
            except Exception as exc:  # report, do not hide
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    cpu = cpu_split(engine)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    ours, server = cpu()
    booked = max(sum(done), 1)
    print(
        f"[{db}] distinct-slot bookings: {booked:,} in {elapsed:.1f} s; CPU per booking: "
        f"{ours / booked * 1000:.2f} ms in this process (8 threads, one interpreter lock)"
        + (f", {server / booked * 1000:.2f} ms in PostgreSQL" if db == "postgresql" else "")
    )
    if errors:
        print(f"[{db}] {len(errors)} booking errors, first: {errors[0]}")
    return [
        row(
            "distinct_slot_bookings_8_workers",
            db,
            sum(done) / elapsed,
            "bookings/s",
            1000,
            higher_is_better=True,
        )
    ]


def _connect_microsoft(engine: Engine, people: list[Actor], now: datetime) -> None:
    """Connections as a real connect leaves them (sealed token cache): the booking never
    calls Microsoft, it only writes calendar rows for connected people."""
    from health_app.models import MicrosoftConnection
    from health_app.services.microsoft.token_keys import seal

    keyed = Settings(microsoft_token_keys=("bench-token-key-" + "x" * 32,))
    with Session(writer(engine)) as s:
        for p in people:
            s.add(
                MicrosoftConnection(
                    user_id=p.user_id,
                    display_name=p.display_name,
                    email=f"{p.user_id}@contoso.example",
                    can_meet=p.role == Role.DOCTOR,
                    token_cache=seal('{"AccessToken": {}}', keyed),
                    connected_at=now,
                    updated_at=now,
                )
            )
        s.commit()


def bench_latency(
    engine: Engine, db: str, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    """Uncontended bookings one after another, without and with Microsoft 365 connected
    (doctor and patient): Graph work is outbox rows, so the booking should not notice."""
    from datetime import time as clock

    out: list[dict[str, Any]] = []
    for label, connected in (("", False), ("_microsoft_365", True)):
        tag = "lms" if connected else "lno"  # distinct first three letters (health cards)
        [doctor] = fresh_people(engine, now, tag, 1, Role.DOCTOR)
        [patient] = fresh_people(engine, now, f"{tag}p", 1, Role.PATIENT)
        if connected:
            _connect_microsoft(engine, [doctor, patient], now)
        first = now.date() + timedelta(days=MAX_HORIZON_DAYS - 100)
        with Session(writer(engine)) as s:
            availability.open_range(
                s,
                actor=doctor,
                first=first,
                last=first + timedelta(days=3),
                start=clock(0, 15),
                end=clock(23, 45),
                minutes=15,
                now=now,
            )
            s.commit()
            slots = [
                f.slot_id
                for f in search.free_slots(
                    s, doctor_id=doctor.user_id, first=first, days=4, now=now
                )
            ][: SAMPLES + 20]
        samples: list[float] = []
        cpu: list[float] = []
        statements = 0

        def count(*_: Any) -> None:
            nonlocal statements
            statements += 1

        for i, slot_id in enumerate(slots):
            if i == 20:  # after the warm-up (statement caches filled, as in a running server)
                event.listen(engine, "before_cursor_execute", count)
            t0, c0 = time.perf_counter(), time.thread_time()
            book(engine, patient, slot_id, settings, now, "latency")
            if i >= 20:
                samples.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
        event.remove(engine, "before_cursor_execute", count)
        per_booking = statements / len(samples)
        # BEGIN and COMMIT are round trips of their own on PostgreSQL (the driver sends them).
        trips = per_booking + (2 if db == "postgresql" else 0)
        print(
            f"[{db}] booking{label}: {per_booking:.1f} SQL statements per booking"
            + (f", {trips:.1f} round trips with BEGIN and COMMIT" if db == "postgresql" else "")
        )
        out += [
            row(f"booking_uncontended_p95{label}", db, p95(samples), "ms", 10),
            row(f"booking_python_cpu_median{label}", db, statistics.median(cpu), "ms", 1),
            row(f"booking_statements{label}", db, per_booking, "statements", 6),
        ]
    return out


def bench_flash_crowd(
    engine: Engine, db: str, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    """A doctor opens a day of 200 five-minute times and 200 patients book them at once
    (each their own time, 8 worker threads as in a server): all done in how long?"""
    from datetime import time as clock

    [doctor] = fresh_people(engine, now, "flash", 1, Role.DOCTOR)
    patients = fresh_people(engine, now, "flashp", 200, Role.PATIENT)
    day = now.date() + timedelta(days=MAX_HORIZON_DAYS - 20)
    with Session(writer(engine)) as s:
        availability.open_range(
            s,
            actor=doctor,
            first=day,
            last=day,
            start=clock(4),
            end=clock(20, 40),
            minutes=5,
            now=now,
        )
        s.commit()
        slots = [
            f.slot_id
            for f in search.free_slots(s, doctor_id=doctor.user_id, first=day, days=1, now=now)
        ]
    assert len(slots) == 200, len(slots)
    errors: list[str] = []
    jobs = list(zip(patients, slots, strict=True))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                patient, slot_id = jobs.pop()
            try:
                book(engine, patient, slot_id, settings, now, "flash crowd")
            except Exception as exc:  # report, do not hide
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        print(f"[{db}] flash crowd: {len(errors)} errors, first: {errors[0]}")
    return [
        row("flash_crowd_200_bookings_one_doctor", db, elapsed * 1000, "ms", 1000),
        row("flash_crowd_errors", db, len(errors), "errors", 0),
    ]


BENCHES = {
    "reads": bench_reads,
    "publish": bench_publish,
    "race": bench_race,
    "throughput": bench_throughput,
    "latency": bench_latency,
    "flash": bench_flash_crowd,
}


def run(url: str, db: str, doctors: int, days: int, only: list[str]) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    engine = prepare(url, db, doctors, days, now)
    settings = replace(
        Settings(database_url=url), booking_attempts_per_hour=10**9, max_future_appointments=10**9
    )
    rows: list[dict[str, Any]] = []
    for name, bench in BENCHES.items():
        if not only or name in only:
            rows += bench(engine, db, now, settings)
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", ""))
    parser.add_argument("--doctors", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHES), help="run these only (repeatable)"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    only = args.only or []
    rows: list[dict[str, Any]] = []
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            rows += run(url, "sqlite", args.doctors, args.days, only)
    if args.postgres:
        rows += run(args.postgres, "postgresql", args.doctors, args.days, only)
    record(rows)


if __name__ == "__main__":
    main()
