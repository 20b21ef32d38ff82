"""The world the authorization matrix runs in, and the instruments it measures with.

Two disjoint doctor-patient pairs (A and B) with visits, notes, prescriptions and files, an
admin, a pending doctor application and a signed-in session for every person. The database
and the files folder are seeded once per module; each matrix case runs on its own copy.

Instruments: a snapshot of the business tables (everything except the audit trail, sessions,
throttling and mail queues) that can leave out the rows a given person owns, the new audit
rows of a call, and "markers": strings that belong to one person or one visit and must not
reach anyone else's browser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import sqlite3
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

from health_app.config import Settings
from health_app.db import make_engine
from health_app.dev import demo
from health_app.models import OutboxMessage, OutboxStatus, PatientProfile, Role, Slot, User
from health_app.services.accounts import registration, sessions
from health_app.services.files import doctor_photo, upload, visit_files
from health_app.services.files.storage import get_storage
from health_app.services.files.visit_files import VisitFileView
from health_app.services.messaging import outbox
from health_app.services.people import display_name
from health_app.services.records import visit_record
from health_app.services.scheduling import availability, booking
from health_app.services.views import Actor
from tests.factories import doctor_form

ACTORS = ("patient_a", "patient_b", "doctor_a", "doctor_b", "admin", "anonymous")
SIGNED_IN = ACTORS[:-1]
# Not business data: the trail itself, sessions, login throttling and the mail queues.
NOT_BUSINESS = {
    "audit_event",
    "login_session",
    "login_failure",
    "outbox_message",
    "dev_mailbox_message",
    "rate_event",
}
OWNER_COLUMNS = ("user_id", "patient_id", "doctor_id")

# Who may see which marker groups (besides public facts such as doctors' names).
VISIBLE: dict[str, frozenset[str]] = {
    "patient_a": frozenset({"patient_a.identity", "patient_a.private", "visit_a", "removed_a"}),
    "patient_b": frozenset({"patient_b.identity", "patient_b.private", "visit_b", "removed_b"}),
    "doctor_a": frozenset(
        {"doctor_a.identity", "doctor_a.private", "patient_a.identity"}
        | {"patient_a.private", "visit_a", "removed_a"}
    ),
    "doctor_b": frozenset(
        {"doctor_b.identity", "doctor_b.private", "patient_b.identity"}
        | {"patient_b.private", "visit_b", "removed_b"}
    ),
    # Admins manage accounts: names and emails of everyone, never clinical or card data.
    # Exception by design: the restore list names hidden and deleted files ("removed_*"), so
    # the clinic can find the one a person asks for; active files' names stay in "visit_*".
    "admin": frozenset(
        {f"{who}.identity" for who in ("patient_a", "patient_b", "doctor_a", "doctor_b")}
        | {"admin.identity", "pending.identity", "removed_a", "removed_b"}
    ),
    "anonymous": frozenset(),
}


def side_of(actor: str) -> str:
    """The pair an actor belongs to; admin and anonymous own nothing and act on pair A."""
    return "b" if actor.endswith("_b") else "a"


def other_side(actor: str) -> str:
    return "a" if actor.endswith("_b") else "b"


@dataclass(frozen=True)
class Pair:
    """One doctor and one patient with their objects."""

    side: str
    patient_id: int
    doctor_id: int
    past_visit: int  # started yesterday, still booked: notes v1 and one prescription
    next_visit: int  # in three days, booked
    prescription: int
    open_slot: int  # a free slot of this doctor on next_day
    booked_slot: int  # the slot of next_visit
    # Files on past_visit, stored through the real upload service (local backend):
    patient_file: int  # a PDF the patient uploaded
    doctor_file: int  # a PDF the doctor uploaded
    hidden_file: int  # a PNG the patient uploaded and the doctor hid
    failed_message: int  # the patient's booking email of past_visit, failed for good


@dataclass(frozen=True)
class World:
    path: Path
    users: dict[str, int]
    tokens: dict[str, str]
    emails: dict[str, str]
    names: dict[str, str]
    pairs: dict[str, Pair]
    pending_doctor: int
    next_day: date  # local date of the next visits; both doctors have open slots then and after
    markers: dict[str, tuple[str, ...]]
    files_dir: Path  # the seeded private files; each case works on a copy
    public_dir: Path  # the seeded public assets (doctors' photos)

    def blobs(self, files_dir: Path | str) -> set[str]:
        """Stored blobs under a files folder, relative (unfinished uploads and the link
        secret are dot-names, not blobs)."""
        root = Path(files_dir)
        return {
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        }

    def uid(self, actor: str) -> int | None:
        return self.users.get(actor)

    def foreign_markers(self, actor: str) -> dict[str, str]:
        """marker -> group for everything `actor` must not see."""
        hidden = {
            m: group
            for group, ms in self.markers.items()
            if group not in VISIBLE[actor]
            for m in ms
        }
        for other, token in self.tokens.items():
            if other != actor:
                hidden[token] = f"{other}.session_token"
        hidden["$argon2"] = "password hash"
        return hidden


# ---------------------------------------------------------------------------------------
# Seeding


def _local(day: date, hour: int, zone: Any) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def _pdf(text: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% "
        + text.encode()
        + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (180, 60, 60)).save(out, "PNG")
    return out.getvalue()


def _upload(
    s: Session,
    actor: Actor,
    visit_id: int,
    name: str,
    data: bytes,
    settings: Settings,
    now: datetime,
) -> VisitFileView:
    """What the upload handler does: begin (checks the visit), feed the bytes, finish."""
    batch = upload.begin_upload(
        s,
        actor=actor,
        appointment_id=visit_id,
        settings=settings,
        storage=get_storage(settings),
        now=now,
    )
    batch.feed(name, 0, data)
    (view,) = upload.finish_upload(s, actor=actor, batch=batch, now=now)
    s.commit()
    return view


def seed_world(path: Path, settings: Settings) -> World:
    """Fill the migrated SQLite file at `path` and the local files folder of `settings`.
    Times are relative to the real clock, because state handlers read the real clock."""
    real_now = datetime.now(UTC)
    seed_now = real_now - timedelta(days=2)
    zone = settings.clinic_zone
    today = real_now.astimezone(zone).date()
    yesterday, next_day = today - timedelta(days=1), today + timedelta(days=3)
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine, expire_on_commit=False) as s:
        demo.seed_demo(s, settings=settings, now=seed_now, doctors=2, patients=2)
        s.commit()
        users = {u.email: u for u in s.exec(select(User).order_by(col(User.id)))}
        by_actor = {
            "admin": users[demo.DEMO_ADMIN],
            "doctor_a": users[demo.DEMO_DOCTOR],
            "doctor_b": users["doctor1@demo.example.org"],
            "patient_a": users[demo.DEMO_PATIENT],
            "patient_b": users["patient1@demo.example.org"],
        }
        actors = {
            k: Actor(user_id=u.id, role=u.role, display_name=display_name(u))  # type: ignore[arg-type]
            for k, u in by_actor.items()
        }
        pairs: dict[str, Pair] = {}
        markers: dict[str, tuple[str, ...]] = {}
        for side in ("a", "b"):
            doctor, patient = actors[f"doctor_{side}"], actors[f"patient_{side}"]
            for day in (yesterday, next_day, next_day + timedelta(days=1)):
                availability.open_range(
                    s,
                    actor=doctor,
                    first=day,
                    last=day,
                    start=time(9),
                    end=time(12),
                    minutes=15,
                    now=seed_now,
                )
            s.commit()
            visits = []
            for day in (yesterday, next_day):
                slot = s.exec(
                    select(Slot).where(
                        Slot.doctor_id == doctor.user_id, Slot.starts_at == _local(day, 9, zone)
                    )
                ).one()
                view = booking.book_appointment(
                    s,
                    actor=patient,
                    request=booking.BookingRequest(
                        slot_id=slot.id,  # type: ignore[arg-type]
                        format="video",
                        consultation_type="general",
                        reason=f"Reason-{side.upper()}-{day:%d}: itchy elbow of pair {side}",
                    ),
                    settings=settings,
                    now=seed_now,
                )
                s.commit()
                visits.append((view, slot.id))
            (past, _), (nxt, booked_slot) = visits
            visit_record.save_notes(
                s,
                actor=doctor,
                appointment_id=past.id,
                body=f"Note-{side.upper()}: suspected quokka fever, pair {side}",
                based_on_version=0,
                now=seed_now,
            )
            rx_id = visit_record.add_prescription(
                s,
                actor=doctor,
                appointment_id=past.id,
                form=visit_record.PrescriptionInput(
                    drug=f"Zorbacillin-{side.upper()}",
                    strength="250 mg",
                    route="oral",
                    frequency="twice daily",
                    duration="7 days",
                    quantity="14",
                    refills="0",
                    instructions=f"Take with tea, pair {side}",
                ),
                now=seed_now,
            )
            s.commit()
            side_tag = side.upper()
            scan = _upload(
                s,
                patient,
                past.id,
                f"Scan-{side_tag}-quokka-bite.pdf",
                _pdf(f"scan of pair {side}"),
                settings,
                seed_now,
            )
            referral = _upload(
                s,
                doctor,
                past.id,
                f"Referral-{side_tag}-marsupial-clinic.pdf",
                _pdf(f"referral of pair {side}"),
                settings,
                seed_now,
            )
            elbow = _upload(
                s, patient, past.id, f"Elbow-{side_tag}-photo.png", _png(), settings, seed_now
            )
            visit_files.hide_file(s, actor=doctor, file_id=elbow.id, now=seed_now)
            doctor_photo.set_doctor_photo(
                s,
                actor=doctor,
                data=_png(),
                settings=settings,
                storage=get_storage(settings),
                now=seed_now,
            )
            # The way the sender leaves a message after a permanent refusal (a 550 from the
            # SMTP server): the admin's failed list and retry work on such rows.
            failed = s.exec(
                select(OutboxMessage).where(
                    OutboxMessage.appointment_id == past.id,
                    OutboxMessage.recipient_user_id == patient.user_id,
                    OutboxMessage.channel == "email",
                    OutboxMessage.kind == outbox.BOOKED,
                )
            ).one()
            failed.status, failed.attempts = OutboxStatus.FAILED, outbox.MAX_ATTEMPTS
            failed.last_error = "550 5.1.1 mailbox unavailable"
            s.add(failed)
            s.commit()
            open_slot = s.exec(
                select(Slot.id).where(
                    Slot.doctor_id == doctor.user_id,
                    Slot.starts_at == _local(next_day, 10, zone),
                )
            ).one()
            pairs[side] = Pair(
                side=side,
                patient_id=patient.user_id,
                doctor_id=doctor.user_id,
                past_visit=past.id,
                next_visit=nxt.id,
                prescription=rx_id,
                open_slot=open_slot,
                booked_slot=booked_slot,  # type: ignore[arg-type]
                patient_file=scan.id,
                doctor_file=referral.id,
                hidden_file=elbow.id,
                failed_message=failed.id,  # type: ignore[arg-type]
            )
            markers[f"visit_{side}"] = (
                past.reason,
                nxt.reason,
                f"Note-{side.upper()}",
                f"Zorbacillin-{side.upper()}",
                past.join_url,
                nxt.join_url,
                scan.name,
                referral.name,
            )
            markers[f"removed_{side}"] = (elbow.name,)
        form = doctor_form(
            email="pending.applicant@example.com",
            first_name="Penelope",
            last_name="Pendingworth",
        )
        registration.apply_doctor(s, form=form, settings=settings, now=seed_now)
        s.commit()
        pending = s.exec(select(User).where(User.email == form.email)).one()
        for who, u in by_actor.items():
            identity = [u.email]
            if u.role in (Role.PATIENT, Role.ADMIN):
                identity.append(f"{u.first_name} {u.last_name}")
            markers[f"{who}.identity"] = tuple(identity)
            private = [u.phone] if u.phone else []
            profile = s.get(PatientProfile, u.id)
            if profile is not None:
                private += [profile.health_card_number, profile.address_line]
            markers[f"{who}.private"] = tuple(private)
        markers["pending.identity"] = (pending.email, "Pendingworth")
        tokens = {
            who: sessions.login(
                s,
                email=u.email,
                password=demo.DEMO_PASSWORD,
                client="127.0.0.1",
                settings=settings,
                now=real_now,
            ).token
            for who, u in by_actor.items()
        }
        s.commit()
        world = World(
            path=path,
            users={k: u.id for k, u in by_actor.items()},  # type: ignore[misc]
            tokens=tokens,
            emails={k: u.email for k, u in by_actor.items()},
            names={k: display_name(u) for k, u in by_actor.items()},
            pairs=pairs,
            pending_doctor=pending.id,  # type: ignore[arg-type]
            next_day=next_day,
            markers=markers,
            files_dir=Path(settings.files_dir),
            public_dir=Path(settings.public_files_dir),
        )
    _checkpoint(engine)
    return world


def _checkpoint(engine: Engine) -> None:
    """Fold the WAL into the main file so a plain file copy carries every row."""
    engine.dispose()
    conn = sqlite3.connect(engine.url.database)  # type: ignore[arg-type]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# ---------------------------------------------------------------------------------------
# Instruments


def business_tables() -> list[str]:
    return sorted(t for t in SQLModel.metadata.tables if t not in NOT_BUSINESS)


@dataclass(frozen=True)
class Snapshot:
    """Every business row as text, with the user ids that own it."""

    rows: dict[str, tuple[tuple[frozenset[int], str], ...]]

    def digest(self, *, except_owner: int | None = None, skip: Iterable[str] = ()) -> str:
        h = hashlib.sha256()
        for table in sorted(set(self.rows) - set(skip)):
            h.update(table.encode())
            for owners, text in self.rows[table]:
                if except_owner is None or except_owner not in owners:
                    h.update(text.encode())
        return h.hexdigest()

    def changed_tables(
        self, other: Snapshot, *, except_owner: int | None = None, skip: Iterable[str] = ()
    ) -> list[str]:
        def keep(rows: tuple[tuple[frozenset[int], str], ...]) -> list[str]:
            return [t for o, t in rows if except_owner is None or except_owner not in o]

        return [
            t
            for t in sorted(set(self.rows) | set(other.rows))
            if t not in set(skip) and keep(self.rows.get(t, ())) != keep(other.rows.get(t, ()))
        ]


def snapshot(path: Path) -> Snapshot:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        people = {
            row[0]: frozenset(row[1:])
            for row in conn.execute("SELECT id, patient_id, doctor_id FROM appointment")
        }
        out: dict[str, tuple[tuple[frozenset[int], str], ...]] = {}
        for table in business_tables():
            cur = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from metadata)
            names = [d[0] for d in cur.description]
            rows = []
            for values in cur.fetchall():
                rec = dict(zip(names, values, strict=True))
                owners = {rec[c] for c in OWNER_COLUMNS if rec.get(c) is not None}
                if table == "app_user":
                    owners.add(rec["id"])
                if rec.get("appointment_id") is not None:
                    owners |= people.get(rec["appointment_id"], frozenset())
                if table == "appointment":
                    owners |= people[rec["id"]]
                rows.append((frozenset(owners), repr(values)))
            out[table] = tuple(sorted(rows, key=lambda r: r[1]))
        return Snapshot(out)
    finally:
        conn.close()


@dataclass(frozen=True)
class AuditRow:
    actor_id: int | None
    action: str
    object_type: str
    object_id: str
    outcome: str


def audit_high_water(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT coalesce(max(id), 0) FROM audit_event").fetchone()[0]
    finally:
        conn.close()


def audit_since(path: Path, high_water: int) -> list[AuditRow]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [
            AuditRow(*r)
            for r in conn.execute(
                "SELECT actor_id, action, object_type, object_id, outcome FROM audit_event "
                "WHERE id > ? ORDER BY id",
                (high_water,),
            )
        ]
    finally:
        conn.close()


_DATA_URL = re.compile(r"data:[\w/.+-]*(?:;[\w=-]+)*;base64,([A-Za-z0-9+/=]+)")
# A local-backend file link: its first part is the signed claims (blob, file name, ...).
_FILE_LINK = re.compile(r"/_files/private/([A-Za-z0-9_-]+)\.")


def visible_text(*objects: Any) -> str:
    """What the browser would receive, as text: state vars and returned events, with any
    base64 data URLs (downloads) and the claims of file links decoded, so the contents and
    the file a link opens are searched too."""
    text = "\n".join(repr(o) for o in objects)
    decoded = []
    for m in _DATA_URL.finditer(text):
        try:
            decoded.append(base64.b64decode(m.group(1)).decode("utf-8", "replace"))
        except ValueError:
            continue
    for m in _FILE_LINK.finditer(text):
        claims = m.group(1)
        try:
            decoded.append(
                base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)).decode(
                    "utf-8", "replace"
                )
            )
        except ValueError:
            continue
    return "\n".join([text, urllib.parse.unquote(text), *decoded])


def leaks(text: str, hidden: dict[str, str]) -> list[str]:
    return sorted(f"{group}: {m!r}" for m, group in hidden.items() if m and m in text)


# ---------------------------------------------------------------------------------------
# Running event handlers the way the browser would


def run(coro: Any) -> Any:
    """asyncio.run in a fresh thread: the browser tier may hold this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def drain(gen: Any) -> list[Any]:
    out = []
    if hasattr(gen, "__anext__"):
        async for item in gen:
            out.append(item)
    elif asyncio.iscoroutine(gen):
        out.append(await gen)
    else:
        out.append(gen)
    return out


@dataclass
class Result:
    """What one sequence of calls produced."""

    events: list[Any] = field(default_factory=list)
    error: BaseException | None = None


@dataclass(frozen=True)
class Upload:
    """Files as the browser streams them to a streaming upload handler: (name, bytes) each.
    Stands in for the handler's `rx.UploadChunkIterator` argument in a Step."""

    files: tuple[tuple[str, bytes], ...]
    chunk_bytes: int = 8 * 1024

    async def iterator(self) -> Any:
        """A real UploadChunkIterator holding every chunk, then closed, as Reflex's upload
        endpoint fills it from the multipart body (there it runs alongside the handler)."""
        from reflex_components_core.core._upload import UploadChunk, UploadChunkIterator

        pieces = [
            UploadChunk(
                filename=name,
                offset=offset,
                content_type="application/octet-stream",
                data=data[offset : offset + self.chunk_bytes],
            )
            for name, data in self.files
            for offset in range(0, len(data), self.chunk_bytes)
        ]
        chunks = UploadChunkIterator(maxsize=len(pieces) + 1)
        for piece in pieces:
            await chunks.push(piece)
        await chunks.finish()
        return chunks


async def _run_background(state: Any, name: str, args: tuple[Any, ...]) -> list[Any]:
    """A background handler the way Reflex's event processor runs one: the handler gets a
    StateProxy of its state (writes only inside `async with self`, which takes the tree
    from the state manager under its lock), inside an EventContext for the client token."""
    from reflex.istate.manager.memory import StateManagerMemory
    from reflex.istate.manager.token import BaseStateToken
    from reflex.istate.proxy import StateProxy
    from reflex_base.event.context import EventContext

    root = state._get_root_state()
    manager = StateManagerMemory()
    client = "authz-matrix-tab"
    if not root.router_data:
        # A connected tab's tree carries its router data; `async with self` on a tree
        # without any treats it as expired and rehydrates it (to defaults: signed out).
        root.router_data = {"token": client, "pathname": "/visit"}
    await manager.set_state(BaseStateToken(ident=client, cls=type(root)), root)

    async def ignore(token: str, *more: Any) -> None:
        return None

    ctx = EventContext(
        token=client, state_manager=manager, enqueue_impl=ignore, emit_delta_impl=ignore
    )
    reset = EventContext.set(ctx)
    try:
        call_args = [await a.iterator() if isinstance(a, Upload) else a for a in args]
        handler = type(state).event_handlers[name]
        return await drain(handler.fn(StateProxy(state), *call_args))
    finally:
        EventContext.reset(reset)
        await manager.close()


def call_handler(state: Any, name: str, args: tuple[Any, ...]) -> Result:
    out = Result()
    try:
        handler = type(state).event_handlers[name]
        if handler.is_background:
            out.events = run(_run_background(state, name, args))
        else:
            out.events = run(drain(getattr(state, name)(*args)))
    except Exception as exc:  # a raised error reaches the browser as a generic toast
        out.error = exc
    return out


def app_state_classes() -> list[type]:
    """Every rx.State subclass defined by the app, after importing all app modules."""
    import importlib
    import pkgutil

    import reflex as rx

    import health_app

    for mod in pkgutil.walk_packages(health_app.__path__, "health_app."):
        if mod.name.startswith(("health_app.state", "health_app.pages", "health_app.components")):
            importlib.import_module(mod.name)

    def walk(cls: type[rx.State]) -> Iterable[type[rx.State]]:
        for sub in cls.get_substates():
            yield sub
            yield from walk(sub)

    from reflex.state import State

    return sorted(
        (c for c in walk(State) if c.__module__.startswith("health_app.")),
        key=lambda c: c.__name__,
    )
