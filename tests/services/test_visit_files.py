"""Files on a visit: the rules, the bad-input list of issue 5, on SQLite and PostgreSQL.

Storage here is the local backend in a temporary folder (the integration tests run the
same flows against Azurite and over HTTP).
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session, select

from health_app.config import Settings
from health_app.models import AuditEvent, DoctorProfile, FileStatus, Outcome, VisitFile
from health_app.services.errors import DomainError, NotFound
from health_app.services.files import doctor_photo, upload, visit_files
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import get_storage
from health_app.services.files.upload import FileRejected, UploadBatch
from health_app.services.jobs import housekeeping
from health_app.services.scheduling import booking
from health_app.services.views import Actor
from tests.factories import make_admin
from tests.files_support import (
    EXE_AS_JPG,
    HTML_AS_PDF,
    World,
    chunks,
    docx_bytes,
    heic_bytes,
    jpeg_with_location,
    local_storage,
    make_world,
    mov_bytes,
    mp4_bytes,
    pdf_bytes,
    plain_zip,
    png_bytes,
)
from tests.services.scheduling_helpers import actor_for

KB = 1024


@pytest.fixture
def world(session: Session, settings: Settings, now: datetime) -> World:
    return make_world(session, settings, now)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return local_storage(tmp_path / "files")


def blobs_on_disk(storage: LocalStorage) -> list[Path]:
    """Every stored blob (incomplete uploads and the link secret are not blobs)."""
    return [
        p
        for p in storage.private_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.parts[-2:])
    ]


def upload_files(
    session: Session,
    storage: LocalStorage,
    actor: Actor,
    visit_id: int,
    files: list[tuple[str, bytes]],
    settings: Settings,
    now: datetime,
    chunk: int = 8 * KB,
) -> tuple[visit_files.VisitFileView, ...]:
    """What the upload page does: begin, feed chunks as Reflex streams them, finish."""
    batch = upload.begin_upload(
        session, actor=actor, appointment_id=visit_id, settings=settings, storage=storage, now=now
    )
    for name, data in files:
        if not data:
            batch.feed(name, 0, b"")  # Reflex sends one empty chunk for an empty file
        for offset in range(0, len(data), chunk):
            batch.feed(name, offset, data[offset : offset + chunk])
    views = upload.finish_upload(session, actor=actor, batch=batch, now=now)
    session.commit()
    return views


def audit_rows(session: Session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


# --- what is accepted -----------------------------------------------------------------------


def test_every_allowed_type_is_stored_with_type_from_content(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    files = [
        ("photo.jpg", jpeg_with_location()),
        ("scan.png", png_bytes()),
        ("IMG_0042.HEIC", heic_bytes()),
        ("referral.pdf", pdf_bytes()),
        ("letter.docx", docx_bytes()),
        ("clip.mp4", mp4_bytes()),
        ("clip.mov", mov_bytes()),
    ]
    views = upload_files(
        session, storage, world.patient, world.visit_id, files, world.settings, now
    )
    assert [(v.name, v.content_type, v.group) for v in views] == [
        ("photo.jpg", "image/jpeg", "image"),
        ("scan.png", "image/png", "image"),
        ("IMG_0042.jpg", "image/jpeg", "image"),  # HEIC is kept as JPEG: browsers show it
        ("referral.pdf", "application/pdf", "pdf"),
        (
            "letter.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
        ),
        ("clip.mp4", "video/mp4", "video"),
        ("clip.mov", "video/quicktime", "video"),
    ]
    rows = session.exec(select(VisitFile).order_by(VisitFile.id)).all()  # type: ignore[arg-type]
    for row in rows:
        assert row.patient_id == world.patient.user_id == row.uploader_id
        assert row.blob_name not in row.original_name  # server-chosen, unrelated to the name
        assert storage.verify(row.blob_name, row.sha256) == row.size_bytes
        assert bool(row.thumbnail_blob) == row.content_type.startswith("image/")
    assert [r.subject_id for r in audit_rows(session, "file.upload")] == [world.patient.user_id] * 7
    # The doctor sees them with thumbnails for images; the patient sees the same list.
    listed = visit_files.list_files(
        session,
        actor=world.doctor,
        appointment_id=world.visit_id,
        settings=world.settings,
        storage=storage,
        now=now,
    )
    assert [v.id for v in listed] == [v.id for v in views]
    assert all(bool(v.thumbnail_url) == (v.group == "image") for v in listed)
    assert all(v.can_hide and not v.can_delete for v in listed)
    assert [v.previewable for v in listed] == [True, True, True, True, False, False, False]


def test_location_metadata_is_stripped_and_photo_stays_upright(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    original = jpeg_with_location((640, 480))
    assert b"12 Elm Street" in original and b"GPSLatitude" in original
    (view,) = upload_files(
        session, storage, world.patient, world.visit_id, [("p.jpg", original)], world.settings, now
    )
    row = session.get(VisitFile, view.id)
    assert row is not None
    stored = storage.read_bytes(row.blob_name, sha256=row.sha256)
    image = Image.open(io.BytesIO(stored))
    assert image.size == (480, 640)  # the orientation tag was applied, then dropped
    assert not image.getexif()
    assert b"12 Elm Street" not in stored and b"GPSLatitude" not in stored
    assert b"PhoneMaker" not in stored
    thumb = Image.open(io.BytesIO(storage.read_bytes(row.thumbnail_blob)))
    assert max(thumb.size) <= 320 and not thumb.getexif()


def test_feed_splits_files_like_reflex_streams_them(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    """Two files with the same name one after the other are two files."""
    views = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("same.pdf", pdf_bytes(30 * KB)), ("same.pdf", pdf_bytes(10))],
        world.settings,
        now,
        chunk=4 * KB,
    )
    assert [v.name for v in views] == ["same.pdf", "same.pdf"]
    assert views[0].size_bytes > views[1].size_bytes


# --- bad input: refused, nothing stored ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("holiday.jpg", EXE_AS_JPG, "not a type of file we accept"),
        ("results.pdf", HTML_AS_PDF, "not a type of file we accept"),
        ("notes.txt", b"just some text, long enough to be sniffed properly" * 3, "not a type"),
        ("letter.docx", plain_zip(), "not a Word document"),
        ("letter.docx", docx_bytes(macros=True), "without macros"),
        ("cut.pdf", pdf_bytes()[:-12], "not a complete PDF"),
        ("broken.png", png_bytes()[:40], "could not be read as an image"),
        ("empty.pdf", b"", "is empty"),
        ("tiny.bin", b"%PDF", "not a type of file we accept"),  # too short to be anything
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(
    session: Session,
    world: World,
    storage: LocalStorage,
    now: datetime,
    name: str,
    data: bytes,
    message: str,
) -> None:
    with pytest.raises(FileRejected, match=message):
        upload_files(
            session,
            storage,
            world.patient,
            world.visit_id,
            [("good.pdf", pdf_bytes()), (name, data)],
            world.settings,
            now,
        )
    session.rollback()
    assert session.exec(select(VisitFile)).all() == []
    assert blobs_on_disk(storage) == []  # the good file of the same batch went too


def test_pixel_flood_is_refused_before_decoding(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 Mpx in about 50 KB
    assert len(out.getvalue()) < 100 * KB
    with pytest.raises(FileRejected, match="too many pixels"):
        upload_files(
            session,
            storage,
            world.patient,
            world.visit_id,
            [("flood.png", out.getvalue())],
            world.settings,
            now,
        )
    assert blobs_on_disk(storage) == []


def test_oversize_file_is_refused_before_it_is_fully_read(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    settings = replace(world.settings, file_max_bytes=64 * KB)
    consumed = 0

    def stream() -> list[tuple[int, bytes]]:
        nonlocal consumed
        data = mp4_bytes(1024 * KB)  # 1 MB against a 64 KB limit
        for offset in range(0, len(data), 8 * KB):
            consumed += 8 * KB
            yield offset, data[offset : offset + 8 * KB]  # type: ignore[misc]

    batch = upload.begin_upload(
        session,
        actor=world.patient,
        appointment_id=world.visit_id,
        settings=settings,
        storage=storage,
        now=now,
    )
    with pytest.raises(FileRejected, match="larger than 64 KB"):
        for offset, piece in stream():  # type: ignore[attr-defined]
            batch.feed("big.mp4", offset, piece)
    assert consumed <= 64 * KB + 8 * KB  # stopped at the chunk that crossed the limit
    assert blobs_on_disk(storage) == []
    assert not list((storage.private_dir / ".incoming").glob("*.part"))
    with pytest.raises(DomainError, match="upload is over"):
        batch.feed("more.pdf", 0, pdf_bytes())


def test_visit_limit_counts_earlier_files_and_concurrent_batches(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    settings = replace(world.settings, visit_files_max_bytes=100 * KB)
    upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.mp4", mp4_bytes(50 * KB))],
        settings,
        now,
    )
    with pytest.raises(FileRejected, match="at most 100 KB"):
        upload_files(
            session,
            storage,
            world.doctor,
            world.visit_id,
            [("b.mp4", mp4_bytes(60 * KB))],
            settings,
            now,
        )
    session.rollback()
    # Two batches that each fit on their own: the second to finish is refused.
    batches: list[UploadBatch] = []
    for who in (world.patient, world.doctor):
        batch = upload.begin_upload(
            session,
            actor=who,
            appointment_id=world.visit_id,
            settings=settings,
            storage=storage,
            now=now,
        )
        for offset, piece in enumerate(chunks(mp4_bytes(30 * KB), 8 * KB)):
            batch.feed("c.mp4", offset * 8 * KB, piece)
        batches.append(batch)
    upload.finish_upload(session, actor=world.patient, batch=batches[0], now=now)
    session.commit()
    with pytest.raises(FileRejected, match="at most 100 KB"):
        upload.finish_upload(session, actor=world.doctor, batch=batches[1], now=now)
    session.rollback()
    rows = session.exec(select(VisitFile)).all()
    assert len(rows) == 2 and len(blobs_on_disk(storage)) == 2


def test_too_many_files_in_one_upload(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    settings = replace(world.settings, files_per_upload=2)
    with pytest.raises(FileRejected, match="At most 2 files"):
        upload_files(
            session,
            storage,
            world.patient,
            world.visit_id,
            [("1.pdf", pdf_bytes()), ("2.pdf", pdf_bytes()), ("3.pdf", pdf_bytes())],
            settings,
            now,
        )
    session.rollback()
    assert session.exec(select(VisitFile)).all() == [] and blobs_on_disk(storage) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Desktop\\scan.pdf", "scan.pdf"),
        ("re\x00port\r\n\x1b[31m.pdf", "report[31m.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe.pdf"),  # right-to-left override removed
        ("x" * 500 + ".pdf", "x" * 146 + ".pdf"),
        ("...", "file.pdf"),
        ("photo.png", "photo.pdf"),  # a known but wrong extension is corrected
    ],
)
def test_names_are_sanitised(
    session: Session,
    world: World,
    storage: LocalStorage,
    now: datetime,
    raw: str,
    expected: str,
) -> None:
    (view,) = upload_files(
        session, storage, world.patient, world.visit_id, [(raw, pdf_bytes())], world.settings, now
    )
    assert view.name == expected
    assert "/" not in view.name and "\\" not in view.name and len(view.name) <= 150


def test_cancelled_visit_takes_no_files(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    booking.cancel_appointment(
        session,
        actor=world.patient,
        appointment_id=world.visit_id,
        reason="Better",
        settings=world.settings,
        now=now,
    )
    session.commit()
    with pytest.raises(DomainError, match="cancelled"):
        upload_files(
            session,
            storage,
            world.patient,
            world.visit_id,
            [("a.pdf", pdf_bytes())],
            world.settings,
            now,
        )


# --- who may do what ------------------------------------------------------------------------------


def test_strangers_get_not_found_and_an_audit_row(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    (mine,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    (theirs,) = upload_files(
        session,
        storage,
        world.other_patient,
        world.other_visit_id,
        [("b.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    other = world.other_patient
    with pytest.raises(NotFound):
        upload.begin_upload(
            session,
            actor=other,
            appointment_id=world.visit_id,
            settings=world.settings,
            storage=storage,
            now=now,
        )
    with pytest.raises(NotFound):
        visit_files.list_files(
            session,
            actor=other,
            appointment_id=world.visit_id,
            settings=world.settings,
            storage=storage,
            now=now,
        )
    for inline in (True, False):
        with pytest.raises(NotFound):
            visit_files.issue_link(
                session,
                actor=other,
                file_id=mine.id,
                inline=inline,
                settings=world.settings,
                storage=storage,
                now=now,
            )
    with pytest.raises(NotFound):
        visit_files.delete_file(
            session, actor=other, file_id=mine.id, settings=world.settings, now=now
        )
    # The patient asking for another visit's file through their own visit's page.
    with pytest.raises(NotFound):
        visit_files.issue_link(
            session,
            actor=world.patient,
            file_id=theirs.id,
            inline=False,
            settings=world.settings,
            storage=storage,
            now=now,
            appointment_id=world.visit_id,
        )
    session.rollback()  # the denials were committed on their own
    denied = session.exec(select(AuditEvent).where(AuditEvent.outcome == Outcome.DENIED)).all()
    assert [(d.actor_id, d.action) for d in denied] == [
        (other.user_id, "file.upload"),
        (other.user_id, "file.list"),
        (other.user_id, "file.preview"),
        (other.user_id, "file.download"),
        (other.user_id, "file.delete"),
        (world.patient.user_id, "file.download"),
    ]
    assert session.exec(select(VisitFile).where(VisitFile.status != FileStatus.ACTIVE)).all() == []


def test_only_uploader_deletes_only_doctor_hides_only_admin_restores(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    (pfile,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    (dfile,) = upload_files(
        session,
        storage,
        world.doctor,
        world.visit_id,
        [("b.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    with pytest.raises(NotFound, match="Only the person who uploaded"):
        visit_files.delete_file(
            session, actor=world.doctor, file_id=pfile.id, settings=world.settings, now=now
        )
    with pytest.raises(NotFound, match="Only the visit's doctor"):
        visit_files.hide_file(session, actor=world.patient, file_id=dfile.id, now=now)
    visit_files.hide_file(session, actor=world.doctor, file_id=pfile.id, now=now)
    visit_files.delete_file(
        session, actor=world.doctor, file_id=dfile.id, settings=world.settings, now=now
    )
    session.commit()
    for who in (world.patient, world.doctor):
        assert (
            visit_files.list_files(
                session,
                actor=who,
                appointment_id=world.visit_id,
                settings=world.settings,
                storage=storage,
                now=now,
            )
            == ()
        )
    with pytest.raises(NotFound):  # a hidden file has no link any more
        visit_files.issue_link(
            session,
            actor=world.patient,
            file_id=pfile.id,
            inline=False,
            settings=world.settings,
            storage=storage,
            now=now,
        )
    with pytest.raises(NotFound):
        visit_files.restore_file(session, actor=world.doctor, file_id=pfile.id, now=now)
    admin = actor_for(make_admin(session, now))
    removed = visit_files.list_removed_files(session, actor=admin, now=now)
    assert removed.total == 2
    assert {(r.id, r.status) for r in removed.items} == {
        (pfile.id, "hidden"),
        (dfile.id, "deleted"),
    }
    visit_files.restore_file(session, actor=admin, file_id=pfile.id, now=now)
    visit_files.restore_file(session, actor=admin, file_id=dfile.id, now=now)
    session.commit()
    listed = visit_files.list_files(
        session,
        actor=world.patient,
        appointment_id=world.visit_id,
        settings=world.settings,
        storage=storage,
        now=now,
    )
    assert [v.id for v in listed] == [pfile.id, dfile.id]
    assert [(v.can_delete, v.can_hide) for v in listed] == [(True, False), (False, False)]
    actions = [r.action for r in session.exec(select(AuditEvent).order_by(AuditEvent.id))]  # type: ignore[arg-type]
    assert {"file.hide", "file.delete", "file.restore", "file.removed_list"} <= set(actions)


def test_deleted_blob_is_purged_only_after_the_grace_period(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    (kept, gone) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("keep.jpg", jpeg_with_location()), ("gone.jpg", jpeg_with_location())],
        world.settings,
        now,
    )
    visit_files.delete_file(
        session, actor=world.patient, file_id=gone.id, settings=world.settings, now=now
    )
    session.commit()
    row = session.get(VisitFile, gone.id)
    assert row is not None and row.purge_after == now + timedelta(days=30)
    assert visit_files.purge_deleted(session, storage, now + timedelta(days=29)) == 0
    session.commit()
    assert storage.exists(row.blob_name) and storage.exists(row.thumbnail_blob)
    assert visit_files.purge_deleted(session, storage, now + timedelta(days=30, seconds=1)) == 1
    session.commit()
    session.refresh(row)
    assert row.purged_at is not None and row.status == FileStatus.DELETED
    assert not storage.exists(row.blob_name) and not storage.exists(row.thumbnail_blob)
    assert len(blobs_on_disk(storage)) == 2  # the kept file and its thumbnail
    assert visit_files.purge_deleted(session, storage, now + timedelta(days=60)) == 0
    admin = actor_for(make_admin(session, now))
    with pytest.raises(DomainError, match="already purged"):
        visit_files.restore_file(session, actor=admin, file_id=gone.id, now=now)
    assert [r.object_id for r in audit_rows(session, "file.purge")] == [str(gone.id)]
    assert kept.id != gone.id


def test_hourly_upkeep_purges_with_the_configured_storage(
    session: Session, world: World, engine: Engine, tmp_path: Path, now: datetime
) -> None:
    cfg = replace(
        world.settings,
        files_dir=str(tmp_path / "private"),
        public_files_dir=str(tmp_path / "public"),
        file_purge_days=7,
    )
    storage = get_storage(cfg)
    assert isinstance(storage, LocalStorage)
    (view,) = upload_files(
        session, storage, world.patient, world.visit_id, [("a.pdf", pdf_bytes())], cfg, now
    )
    visit_files.delete_file(session, actor=world.patient, file_id=view.id, settings=cfg, now=now)
    session.commit()
    assert housekeeping.tick(now + timedelta(days=6), engine=engine, settings=cfg).files_purged == 0
    assert housekeeping.tick(now + timedelta(days=8), engine=engine, settings=cfg).files_purged == 1
    assert blobs_on_disk(storage) == []


def test_integrity_mismatch_is_reported_not_served(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    (view,) = upload_files(
        session,
        storage,
        world.patient,
        world.visit_id,
        [("a.pdf", pdf_bytes())],
        world.settings,
        now,
    )
    row = session.get(VisitFile, view.id)
    assert row is not None
    path = storage.private_dir / row.blob_name
    path.write_bytes(path.read_bytes().replace(b"Catalog", b"Catalig"))
    with pytest.raises(DomainError, match="integrity check"):
        visit_files.issue_link(
            session,
            actor=world.doctor,
            file_id=view.id,
            inline=True,
            settings=world.settings,
            storage=storage,
            now=now,
        )
    session.rollback()
    (event,) = audit_rows(session, "file.integrity")
    assert event.outcome == Outcome.FAILURE and event.subject_id == world.patient.user_id


def test_doctor_photo_is_resized_public_and_replaced(
    session: Session, world: World, storage: LocalStorage, now: datetime
) -> None:
    big = io.BytesIO()
    Image.new("RGB", (2000, 1500), "teal").save(big, "PNG")
    url = doctor_photo.set_doctor_photo(
        session,
        actor=world.doctor,
        data=big.getvalue(),
        settings=world.settings,
        storage=storage,
        now=now,
    )
    session.commit()
    profile = session.get(DoctorProfile, world.doctor.user_id)
    assert profile is not None and url == storage.public_url(profile.photo_blob)
    photo = Image.open(io.BytesIO(storage.read_bytes(profile.photo_blob, public=True)))
    assert photo.format == "JPEG" and photo.size == (512, 384)
    first = profile.photo_blob
    doctor_photo.set_doctor_photo(
        session,
        actor=world.doctor,
        data=jpeg_with_location(),
        settings=world.settings,
        storage=storage,
        now=now,
    )
    session.commit()
    session.refresh(profile)
    assert not storage.exists(first, public=True)
    stored = storage.read_bytes(profile.photo_blob, public=True)
    assert b"GPSLatitude" not in stored and not Image.open(io.BytesIO(stored)).getexif()
    assert not any(storage.private_dir.glob("doctors/*"))  # public assets stay public-side
    with pytest.raises(FileRejected):
        doctor_photo.set_doctor_photo(
            session,
            actor=world.doctor,
            data=pdf_bytes(),
            settings=world.settings,
            storage=storage,
            now=now,
        )
    with pytest.raises(NotFound):
        doctor_photo.set_doctor_photo(
            session,
            actor=world.patient,
            data=png_bytes(),
            settings=world.settings,
            storage=storage,
            now=now,
        )
    doctor_photo.remove_doctor_photo(session, actor=world.doctor, storage=storage, now=now)
    session.commit()
    session.refresh(profile)
    assert profile.photo_blob == "" and doctor_photo.doctor_photo_url(storage, "") == ""
