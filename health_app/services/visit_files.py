"""Files on a visit: upload, list, short-lived links, delete / hide / restore, purge; and
the doctor's public photo.

Who may do what (checked here, on every call):
- the visit's patient and doctor upload, list and open its active files; anyone else gets
  "not found" and an audit row (`audit.deny`);
- only the uploader deletes a file (a status: the blob stays for the grace period, then
  `purge_deleted` removes it); the visit's doctor may hide any file from the visit;
- an admin restores a hidden or deleted file (until it is purged), without seeing it.

Uploads stream. `begin_upload` checks the visit and returns an `UploadBatch`; the caller
feeds it chunks (`feed` takes `rx.upload_files_chunk`'s filename / offset / data as they
come), then `finish_upload` records the files in one transaction. Each file's type is
decided from its first bytes as soon as they arrive; a file over the per-file limit, or
one that would take the visit over its limit, is refused at the chunk that crosses the
line, before the rest is read. Any refusal aborts the whole batch and removes every blob
it wrote: nothing of a refused upload is kept. Non-image files go straight to storage
block by block; images are spooled to a temporary file (their pixels must be decoded
anyway to strip metadata), checked for pixel floods, and re-encoded without metadata.

All calls that touch storage block: run them off the event loop.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.models import (
    Appointment,
    AppointmentStatus,
    DoctorProfile,
    FileStatus,
    Outcome,
    Role,
    User,
    VisitFile,
)
from health_app.services import audit, images
from health_app.services.booking import access_appointment
from health_app.services.errors import DomainError
from health_app.services.file_types import (
    ALLOWED_DESCRIPTION,
    BY_CONTENT_TYPE,
    DOCX,
    HEAD_BYTES,
    JPEG,
    PDF,
    FileKind,
    TailKeeper,
    ZipEntryScanner,
    clean_file_name,
    pdf_looks_complete,
    safe_name,
    sniff,
)
from health_app.services.people import display_name
from health_app.services.storage import (
    BlobNotFound,
    BlobWriter,
    IntegrityError,
    Storage,
    new_blob_name,
)
from health_app.services.views import Actor, Page

log = logging.getLogger(__name__)
PHOTO_MAX_BYTES = 10 * 1024 * 1024
# Visible on the visit, and counted against its size limit.
_KEPT = (FileStatus.ACTIVE, FileStatus.HIDDEN)


class FileRejected(DomainError):
    """A file, or the whole upload, was refused. Nothing of that upload was kept."""


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _mb(size: int) -> str:
    """A limit as people read it: "20 MB", or "64 KB" for the small ones in tests."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} KB"


@dataclass(frozen=True)
class UploadLimits:
    file_max_bytes: int
    visit_max_bytes: int
    files_per_upload: int
    image_max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            file_max_bytes=settings.file_max_bytes,
            visit_max_bytes=settings.visit_files_max_bytes,
            files_per_upload=settings.files_per_upload,
            image_max_pixels=settings.image_max_pixels,
        )


@dataclass(frozen=True)
class VisitFileView:
    id: int
    appointment_id: int
    name: str  # sanitised original name, extension matching the content
    content_type: str
    group: str  # "image" | "pdf" | "document" | "video": pick the icon
    size_bytes: int
    size_label: str
    uploaded_by_id: int
    uploaded_by: str
    uploaded_at: datetime
    mine: bool  # uploaded by the viewer
    can_delete: bool  # the viewer uploaded it
    can_hide: bool  # the viewer is the visit's doctor
    previewable: bool  # images and PDF open inline; the rest downloads
    thumbnail_url: str  # short-lived link to a small JPEG ("" if not an image)


@dataclass(frozen=True)
class FileLink:
    url: str
    name: str
    content_type: str
    inline: bool
    expires_at: datetime


@dataclass(frozen=True)
class RemovedFileView:
    """For the admin's restore list: no content, no link."""

    id: int
    appointment_id: int
    patient_name: str
    uploaded_by: str
    name: str
    content_type: str
    size_bytes: int
    status: str  # "hidden" | "deleted"
    changed_at: datetime | None
    changed_by: str
    purge_after: datetime | None


@dataclass
class _Stored:
    blob: str
    thumbnail_blob: str
    thumbnail_sha256: str
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass
class _Incoming:
    raw_name: str
    blob_name: str = ""
    received: int = 0
    chunks: int = 0
    head: bytes = b""
    pending: list[bytes] = field(default_factory=list)
    kind: FileKind | None = None
    writer: BlobWriter | None = None
    spool: IO[bytes] | None = None
    zip: ZipEntryScanner | None = None
    tail: TailKeeper | None = None

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.abort()
        if self.spool is not None:
            self.spool.close()


class UploadBatch:
    """One upload of one or more files to one visit, in progress.

    Holds no database session: create it with `begin_upload`, feed it from a worker
    thread, then hand it to `finish_upload`. Not shared between tasks. Every method that
    refuses raises FileRejected after removing everything this batch stored.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        limits: UploadLimits,
        appointment_id: int,
        patient_id: int,
        uploader_id: int,
        used_bytes: int,
    ) -> None:
        self.storage = storage
        self.limits = limits
        self.appointment_id = appointment_id
        self.patient_id = patient_id
        self.uploader_id = uploader_id
        self._used = used_bytes
        self._received = 0
        self._current: _Incoming | None = None
        self._stored: list[_Stored] = []
        self._closed = False
        self._finished = False

    # --- progress, for a progress bar --------------------------------------------------

    @property
    def bytes_received(self) -> int:
        return self._received

    @property
    def files_received(self) -> int:
        return len(self._stored) + (1 if self._current else 0)

    # --- feeding ---------------------------------------------------------------------------

    def feed(self, filename: str, offset: int, data: bytes) -> None:
        """One chunk as `rx.upload_files_chunk` delivers it: a new file starts when the
        name changes or the offset goes back to 0."""
        cur = self._current
        if cur is None or filename != cur.raw_name or (offset == 0 and cur.chunks > 0):
            self.start_file(filename)
            cur = self._current
            assert cur is not None
        if offset != cur.received:
            self._fail("The upload was interrupted. Nothing was uploaded; please try again.")
        self.write(data)

    def start_file(self, filename: str) -> None:
        self._guard()
        if self._current is not None:
            self.end_file()
        if len(self._stored) + 1 > self.limits.files_per_upload:
            self._fail(
                f"At most {self.limits.files_per_upload} files can be uploaded at a time. "
                "Nothing was uploaded."
            )
        self._current = _Incoming(raw_name=filename)

    def write(self, data: bytes) -> None:
        self._guard()
        cur = self._current
        if cur is None:
            raise DomainError("No file was started.")
        cur.chunks += 1
        cur.received += len(data)
        self._received += len(data)
        name = _shown(cur.raw_name)
        if cur.received > self.limits.file_max_bytes:
            self._fail(
                f"“{name}” is larger than {_mb(self.limits.file_max_bytes)}, the limit per "
                "file. Nothing was uploaded."
            )
        if self._used + self._received > self.limits.visit_max_bytes:
            self._fail(
                f"A visit can hold at most {_mb(self.limits.visit_max_bytes)} of files and "
                f"“{name}” does not fit. Nothing was uploaded."
            )
        if not data:
            return
        self._run(self._write, cur, data)

    def _write(self, cur: _Incoming, data: bytes) -> None:
        if cur.kind is None:
            cur.pending.append(data)
            if len(cur.head) < HEAD_BYTES:
                cur.head += data[: HEAD_BYTES - len(cur.head)]
            if len(cur.head) < HEAD_BYTES:
                return
            self._decide(cur)
            return
        self._sink(cur, data)

    def _decide(self, cur: _Incoming) -> None:
        """The first bytes are in: refuse, or open the right destination and flush."""
        kind = sniff(cur.head)
        if kind is None or (kind.is_image and kind.key == "heic" and not images.HEIC_SUPPORTED):
            self._fail(
                f"“{_shown(cur.raw_name)}” is not a type of file we accept "
                f"({ALLOWED_DESCRIPTION}). Nothing was uploaded."
            )
        assert kind is not None
        cur.kind = kind
        if kind.is_image:
            cur.spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by discard/end_file
        else:
            cur.blob_name = new_blob_name()
            cur.writer = self.storage.writer(cur.blob_name, content_type=kind.content_type)
            if kind is DOCX:
                cur.zip = ZipEntryScanner()
            elif kind is PDF:
                cur.tail = TailKeeper()
        pending, cur.pending = cur.pending, []
        for chunk in pending:
            self._sink(cur, chunk)

    @staticmethod
    def _sink(cur: _Incoming, data: bytes) -> None:
        if cur.spool is not None:
            cur.spool.write(data)
            return
        assert cur.writer is not None
        cur.writer.write(data)
        if cur.zip is not None:
            cur.zip.feed(data)
        if cur.tail is not None:
            cur.tail.feed(data)

    def end_file(self) -> None:
        """The current file is complete: check it and store it."""
        self._guard()
        cur = self._current
        if cur is None:
            return
        if cur.received == 0:
            self._fail(f"“{_shown(cur.raw_name)}” is empty. Nothing was uploaded.")
        self._run(self._end, cur)
        self._current = None

    def _end(self, cur: _Incoming) -> None:
        if cur.kind is None:
            self._decide(cur)
        kind = cur.kind
        assert kind is not None
        name = _shown(cur.raw_name)
        if kind.is_image:
            assert cur.spool is not None
            cur.spool.seek(0)
            try:
                clean = images.clean_image(cur.spool, kind, max_pixels=self.limits.image_max_pixels)
            except images.ImageRejected as exc:
                reason = (
                    "has too many pixels"
                    if "pixels" in str(exc)
                    else "could not be read as an image"
                )
                self._fail(f"“{name}” {reason}. Nothing was uploaded.")
                raise AssertionError from exc  # unreachable: _fail raises
            cur.spool.close()
            cur.spool = None
            blob = new_blob_name()
            sha = self.storage.put(blob, clean.data, content_type=clean.kind.content_type)
            stored = _Stored(blob, "", "", "", clean.kind.content_type, len(clean.data), sha)
            self._stored.append(stored)  # from here on, abort removes it
            stored.thumbnail_blob = f"{blob}-thumb"
            stored.thumbnail_sha256 = self.storage.put(
                stored.thumbnail_blob, clean.thumbnail, content_type=JPEG.content_type
            )
            stored.name = clean_file_name(cur.raw_name, clean.kind)
            return
        writer = cur.writer
        assert writer is not None
        if kind is DOCX and not (cur.zip and cur.zip.is_docx()):
            self._fail(
                f"“{name}” is not a Word document we accept (.docx, without macros). "
                "Nothing was uploaded."
            )
        if kind is PDF and not (cur.tail and pdf_looks_complete(cur.tail.tail)):
            self._fail(f"“{name}” is not a complete PDF. Nothing was uploaded.")
        writer.commit()
        self._stored.append(
            _Stored(
                blob=cur.blob_name,
                thumbnail_blob="",
                thumbnail_sha256="",
                name=clean_file_name(cur.raw_name, kind),
                content_type=kind.content_type,
                size=writer.size,
                sha256=writer.sha256,
            )
        )

    def close(self) -> tuple[_Stored, ...]:
        """End the last file; the files ready to be recorded."""
        self._guard()
        if self._current is not None:
            self.end_file()
        return tuple(self._stored)

    def abort(self) -> None:
        """Give up: remove every blob this batch stored. Safe to call more than once;
        does nothing once `finish_upload` has recorded the files."""
        if self._finished:
            return
        self._closed = True
        if self._current is not None:
            self._current.discard()
            self._current = None
        for stored in self._stored:
            for blob in (stored.blob, stored.thumbnail_blob):
                if not blob:
                    continue
                try:
                    self.storage.delete(blob)
                except Exception:  # keep cleaning; the purge sweep is not a safety net here
                    log.exception("could not remove blob %s of an aborted upload", blob)
        self._stored = []

    # --- helpers -------------------------------------------------------------------------

    def _guard(self) -> None:
        if self._closed:
            raise DomainError("This upload is over. Please start again.")

    def _fail(self, message: str) -> None:
        self.abort()
        raise FileRejected(message)

    def _run(self, fn: Callable[..., None], *args: object) -> None:
        """Storage trouble aborts the batch too, with a message safe to show."""
        try:
            fn(*args)
        except DomainError:
            raise
        except Exception as exc:
            log.exception("upload to visit %s failed in storage", self.appointment_id)
            self.abort()
            raise FileRejected(
                "The file could not be stored just now. Nothing was uploaded; please try again."
            ) from exc


def _shown(raw_name: str) -> str:
    """A client-sent name made safe to echo in a message."""
    return safe_name(raw_name, max_len=80)


# --- access ---------------------------------------------------------------------------------


def _used_bytes(session: Session, appointment_id: int) -> int:
    return int(
        session.exec(
            select(func.coalesce(func.sum(VisitFile.size_bytes), 0)).where(
                VisitFile.appointment_id == appointment_id, col(VisitFile.status).in_(_KEPT)
            )
        ).one()
    )


def _access_file(
    session: Session,
    *,
    actor: Actor,
    file_id: int,
    action: str,
    now: datetime,
    appointment_id: int | None = None,
) -> tuple[VisitFile, Appointment]:
    """An active file of a visit the actor is party to; otherwise "not found" (audited)."""
    row = session.get(VisitFile, file_id)
    appt = session.get(Appointment, row.appointment_id) if row is not None else None
    if (
        row is None
        or appt is None
        or row.status != FileStatus.ACTIVE
        or actor.user_id not in (appt.patient_id, appt.doctor_id)
        or (appointment_id is not None and appointment_id != row.appointment_id)
    ):
        raise audit.deny(
            session,
            actor=actor,
            action=action,
            now=now,
            object_type="visit_file",
            object_id=file_id,
            message="That file was not found.",
        )
    return row, appt


def _record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    row: VisitFile,
    now: datetime,
    outcome: str = Outcome.SUCCESS,
    detail: str = "",
) -> None:
    # The file's name can itself be clinical ("hiv-test.pdf"): only type and size go here.
    audit.record(
        session,
        action=action,
        outcome=outcome,
        now=now,
        actor_id=actor_id,
        object_type="visit_file",
        object_id=row.id,
        subject_id=row.patient_id,
        detail=detail or f"{row.content_type}, {row.size_bytes} bytes",
    )


# --- upload -----------------------------------------------------------------------------------


def begin_upload(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    settings: Settings,
    storage: Storage,
    now: datetime,
) -> UploadBatch:
    """Check the actor may add files to this visit and open a batch for the chunks."""
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="file.upload", now=now
    )
    if appt.status == AppointmentStatus.CANCELLED:
        raise DomainError("This visit was cancelled: files can no longer be added to it.")
    limits = UploadLimits.from_settings(settings)
    used = _used_bytes(session, appointment_id)
    if used >= limits.visit_max_bytes:
        raise FileRejected(
            f"This visit already holds {_mb(limits.visit_max_bytes)} of files, the most it can."
        )
    return UploadBatch(
        storage=storage,
        limits=limits,
        appointment_id=appointment_id,
        patient_id=appt.patient_id,
        uploader_id=actor.user_id,
        used_bytes=used,
    )


def finish_upload(
    session: Session, *, actor: Actor, batch: UploadBatch, now: datetime
) -> tuple[VisitFileView, ...]:
    """Record the batch's files (one row and one audit row each) in the caller's unit of
    work. On any refusal the batch is aborted and its blobs removed."""
    try:
        if actor.user_id != batch.uploader_id:
            raise DomainError("This upload belongs to someone else.")
        stored = batch.close()
        if not stored:
            raise FileRejected("Choose at least one file to upload.")
        appt = access_appointment(
            session,
            actor=actor,
            appointment_id=batch.appointment_id,
            action="file.upload",
            now=now,
        )
        if appt.status == AppointmentStatus.CANCELLED:
            raise DomainError("This visit was cancelled: files can no longer be added to it.")
        # Serialise uploads to one visit so two batches cannot both squeeze under the
        # limit (PostgreSQL row lock; SQLite units of work already begin IMMEDIATE).
        session.exec(select(Appointment.id).where(Appointment.id == appt.id).with_for_update())
        total = _used_bytes(session, appt.id) + sum(s.size for s in stored)
        if total > batch.limits.visit_max_bytes:
            raise FileRejected(
                f"A visit can hold at most {_mb(batch.limits.visit_max_bytes)} of files. "
                "Nothing was uploaded."
            )
        rows = [
            VisitFile(
                appointment_id=appt.id,  # type: ignore[arg-type]
                patient_id=appt.patient_id,
                uploader_id=actor.user_id,
                blob_name=s.blob,
                thumbnail_blob=s.thumbnail_blob,
                thumbnail_sha256=s.thumbnail_sha256,
                original_name=s.name,
                content_type=s.content_type,
                size_bytes=s.size,
                sha256=s.sha256,
                created_at=now,
                status=FileStatus.ACTIVE,
            )
            for s in stored
        ]
        session.add_all(rows)
        session.flush()
        for row in rows:
            _record(session, actor_id=actor.user_id, action="file.upload", row=row, now=now)
    except BaseException:
        batch.abort()
        raise
    batch._finished = True
    uploader = session.get(User, actor.user_id)
    assert uploader is not None
    return tuple(
        _view(row, appt, actor, {actor.user_id: display_name(uploader)}, None) for row in rows
    )


# --- reading --------------------------------------------------------------------------------


def _view(
    row: VisitFile,
    appt: Appointment,
    actor: Actor,
    names: dict[int, str],
    storage: Storage | None,
    link_seconds: int = 300,
) -> VisitFileView:
    kind = BY_CONTENT_TYPE.get(row.content_type)
    thumbnail = ""
    if storage is not None and row.thumbnail_blob:
        thumbnail = storage.private_link(
            row.thumbnail_blob,
            filename="preview.jpg",
            content_type=JPEG.content_type,
            inline=True,
            sha256=row.thumbnail_sha256,
            seconds=link_seconds,
        ).url
    return VisitFileView(
        id=row.id,  # type: ignore[arg-type]
        appointment_id=row.appointment_id,
        name=row.original_name,
        content_type=row.content_type,
        group=kind.group if kind else "document",
        size_bytes=row.size_bytes,
        size_label=size_label(row.size_bytes),
        uploaded_by_id=row.uploader_id,
        uploaded_by=names.get(row.uploader_id, "Someone"),
        uploaded_at=row.created_at,
        mine=row.uploader_id == actor.user_id,
        can_delete=row.uploader_id == actor.user_id,
        can_hide=actor.user_id == appt.doctor_id,
        previewable=bool(kind and kind.previewable),
        thumbnail_url=thumbnail,
    )


def list_files(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    settings: Settings,
    storage: Storage,
    now: datetime,
) -> tuple[VisitFileView, ...]:
    """The visit's active files, oldest first, with short-lived thumbnail links (audited)."""
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="file.list", now=now
    )
    rows = session.exec(
        select(VisitFile)
        .where(VisitFile.appointment_id == appointment_id, VisitFile.status == FileStatus.ACTIVE)
        .order_by(col(VisitFile.created_at), col(VisitFile.id))
    ).all()
    people = {appt.patient_id, appt.doctor_id} | {r.uploader_id for r in rows}
    names = {
        u.id: display_name(u)
        for u in session.exec(select(User).where(col(User.id).in_(people))).all()
    }
    audit.record(
        session,
        action="file.list",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="appointment",
        object_id=appointment_id,
        subject_id=appt.patient_id,
        detail=f"{len(rows)} files",
    )
    return tuple(
        _view(r, appt, actor, names, storage, settings.file_link_seconds)  # type: ignore[arg-type]
        for r in rows
    )


def issue_link(
    session: Session,
    *,
    actor: Actor,
    file_id: int,
    inline: bool,
    settings: Settings,
    storage: Storage,
    now: datetime,
    appointment_id: int | None = None,
) -> FileLink:
    """A link to one file that works for FILE_LINK_SECONDS (<= 5 minutes).

    inline=True previews (images and PDF only; others always download). The stored bytes
    are checked against their SHA-256 first: a mismatch is recorded and nothing is served.
    Pass `appointment_id` to also refuse a file of another visit than the page's.
    """
    action = "file.preview" if inline else "file.download"
    row, _appt = _access_file(
        session,
        actor=actor,
        file_id=file_id,
        action=action,
        now=now,
        appointment_id=appointment_id,
    )
    kind = BY_CONTENT_TYPE.get(row.content_type)
    inline = inline and bool(kind and kind.previewable)
    try:
        storage.verify(row.blob_name, row.sha256)
    except (IntegrityError, BlobNotFound) as exc:
        problem = "missing" if isinstance(exc, BlobNotFound) else "integrity check failed"
        log.error("visit file %s: %s (blob %s)", row.id, problem, row.blob_name)
        _record(
            session,
            actor_id=actor.user_id,
            action="file.integrity",
            row=row,
            now=now,
            outcome=Outcome.FAILURE,
            detail=problem,
        )
        session.commit()  # the report must survive the caller's rollback
        raise DomainError(
            "This file failed its integrity check, so it was not served. "
            "The problem has been recorded."
        ) from exc
    link = storage.private_link(
        row.blob_name,
        filename=row.original_name,
        content_type=row.content_type,
        inline=inline,
        sha256=row.sha256,
        seconds=settings.file_link_seconds,
    )
    _record(session, actor_id=actor.user_id, action=action, row=row, now=now)
    return FileLink(link.url, row.original_name, row.content_type, inline, link.expires_at)


# --- delete, hide, restore, purge --------------------------------------------------------------


def delete_file(
    session: Session, *, actor: Actor, file_id: int, settings: Settings, now: datetime
) -> None:
    """The uploader removes their file from the visit; the blob goes after the grace period."""
    row, _appt = _access_file(session, actor=actor, file_id=file_id, action="file.delete", now=now)
    if row.uploader_id != actor.user_id:
        raise audit.deny(
            session,
            actor=actor,
            action="file.delete",
            now=now,
            object_type="visit_file",
            object_id=file_id,
            message="Only the person who uploaded a file can delete it.",
        )
    row.status = FileStatus.DELETED
    row.status_changed_at, row.status_changed_by_id = now, actor.user_id
    row.purge_after = now + timedelta(days=settings.file_purge_days)
    _record(session, actor_id=actor.user_id, action="file.delete", row=row, now=now)


def hide_file(session: Session, *, actor: Actor, file_id: int, now: datetime) -> None:
    """The visit's doctor takes a file off the visit (kept; an admin can restore it)."""
    row, appt = _access_file(session, actor=actor, file_id=file_id, action="file.hide", now=now)
    if actor.user_id != appt.doctor_id:
        raise audit.deny(
            session,
            actor=actor,
            action="file.hide",
            now=now,
            object_type="visit_file",
            object_id=file_id,
            message="Only the visit's doctor can hide a file.",
        )
    row.status = FileStatus.HIDDEN
    row.status_changed_at, row.status_changed_by_id = now, actor.user_id
    _record(session, actor_id=actor.user_id, action="file.hide", row=row, now=now)


def _require_admin(session: Session, actor: Actor, action: str, now: datetime) -> None:
    if not actor.is_admin:
        raise audit.deny(session, actor=actor, action=action, now=now, object_type="visit_file")


def restore_file(session: Session, *, actor: Actor, file_id: int, now: datetime) -> None:
    """Admin: put a hidden or deleted (not yet purged) file back on its visit."""
    _require_admin(session, actor, "file.restore", now)
    row = session.get(VisitFile, file_id)
    if row is None or row.status == FileStatus.ACTIVE:
        raise DomainError("That file is not hidden or deleted.")
    if row.purged_at is not None:
        raise DomainError("That file was already purged after its grace period.")
    row.status = FileStatus.ACTIVE
    row.status_changed_at, row.status_changed_by_id = now, actor.user_id
    row.purge_after = None
    _record(session, actor_id=actor.user_id, action="file.restore", row=row, now=now)


REMOVED_PAGE_SIZE = 20


def list_removed_files(
    session: Session, *, actor: Actor, now: datetime, page: int = 1
) -> Page[RemovedFileView]:
    """Admin: hidden and deleted files that can still be restored, newest change first."""
    _require_admin(session, actor, "file.removed_list", now)
    removed = select(VisitFile).where(
        col(VisitFile.status).in_((FileStatus.HIDDEN, FileStatus.DELETED)),
        col(VisitFile.purged_at).is_(None),
    )
    total = session.exec(select(func.count()).select_from(removed.subquery())).one()
    page = max(1, page)
    rows = session.exec(
        removed.order_by(col(VisitFile.status_changed_at).desc(), col(VisitFile.id).desc())
        .limit(REMOVED_PAGE_SIZE)
        .offset((page - 1) * REMOVED_PAGE_SIZE)
    ).all()
    ids = {r.patient_id for r in rows} | {r.uploader_id for r in rows}
    ids |= {r.status_changed_by_id for r in rows if r.status_changed_by_id}
    names = {
        u.id: display_name(u) for u in session.exec(select(User).where(col(User.id).in_(ids))).all()
    }
    audit.record(
        session,
        action="file.removed_list",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        detail=f"{len(rows)} files",
    )
    items = tuple(
        RemovedFileView(
            id=r.id,  # type: ignore[arg-type]
            appointment_id=r.appointment_id,
            patient_name=names.get(r.patient_id, ""),
            uploaded_by=names.get(r.uploader_id, ""),
            name=r.original_name,
            content_type=r.content_type,
            size_bytes=r.size_bytes,
            status=r.status,
            changed_at=r.status_changed_at,
            changed_by=names.get(r.status_changed_by_id or 0, ""),
            purge_after=r.purge_after,
        )
        for r in rows
    )
    return Page(items=items, total=total, page=page, page_size=REMOVED_PAGE_SIZE)


def purge_deleted(session: Session, storage: Storage, now: datetime, *, batch: int = 200) -> int:
    """The scheduled job: remove the blobs of files deleted more than the grace period ago.

    Rows stay (purged_at set) for the audit trail. Safe to run in several processes: on
    PostgreSQL each claims different rows; a blob already gone counts as removed.
    Also clears uploads that never finished (local backend) after a day.
    """
    rows = session.exec(
        select(VisitFile)
        .where(
            VisitFile.status == FileStatus.DELETED,
            col(VisitFile.purged_at).is_(None),
            col(VisitFile.purge_after) <= now,
        )
        .order_by(col(VisitFile.purge_after))
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        storage.delete(row.blob_name)
        if row.thumbnail_blob:
            storage.delete(row.thumbnail_blob)
        row.purged_at = now
        _record(session, actor_id=None, action="file.purge", row=row, now=now)
    storage.sweep_incomplete(timedelta(days=1))
    return len(rows)


# --- doctor photo -----------------------------------------------------------------------------


def doctor_photo_url(storage: Storage, photo_blob: str) -> str:
    """Public URL of a doctor's photo ("" when there is none)."""
    return storage.public_url(photo_blob) if photo_blob else ""


def _own_doctor_profile(
    session: Session, actor: Actor, action: str, now: datetime
) -> DoctorProfile:
    profile = session.get(DoctorProfile, actor.user_id) if actor.role == Role.DOCTOR else None
    if profile is None:
        raise audit.deny(session, actor=actor, action=action, now=now, object_type="doctor")
    return profile


def set_doctor_photo(
    session: Session,
    *,
    actor: Actor,
    data: bytes,
    settings: Settings,
    storage: Storage,
    now: datetime,
) -> str:
    """The doctor's own photo: an image, resized to 512 px, metadata stripped, stored as
    a public JPEG under a new name (the old one is removed). Returns its public URL."""
    profile = _own_doctor_profile(session, actor, "profile.photo", now)
    limit = min(PHOTO_MAX_BYTES, settings.file_max_bytes)
    if not data:
        raise FileRejected("The photo is empty.")
    if len(data) > limit:
        raise FileRejected(f"The photo is larger than {_mb(limit)}.")
    kind = sniff(data[:HEAD_BYTES])
    if kind is None or not kind.is_image:
        raise FileRejected("A photo must be a JPEG, PNG, GIF, WebP or HEIC image.")
    try:
        jpeg = images.profile_photo(io.BytesIO(data), kind, max_pixels=settings.image_max_pixels)
    except images.ImageRejected as exc:
        raise FileRejected("That photo could not be read as an image.") from exc
    blob = new_blob_name("doctors/", ".jpg")
    storage.put(blob, jpeg, content_type=JPEG.content_type, public=True)
    old, profile.photo_blob = profile.photo_blob, blob
    if old:
        storage.delete(old, public=True)
    audit.record(
        session,
        action="profile.photo",
        outcome=Outcome.SUCCESS,
        now=now,
        actor_id=actor.user_id,
        object_type="doctor",
        object_id=actor.user_id,
        detail="photo set",
    )
    return storage.public_url(blob)


def remove_doctor_photo(session: Session, *, actor: Actor, storage: Storage, now: datetime) -> None:
    profile = _own_doctor_profile(session, actor, "profile.photo", now)
    if profile.photo_blob:
        storage.delete(profile.photo_blob, public=True)
        profile.photo_blob = ""
        audit.record(
            session,
            action="profile.photo",
            outcome=Outcome.SUCCESS,
            now=now,
            actor_id=actor.user_id,
            object_type="doctor",
            object_id=actor.user_id,
            detail="photo removed",
        )
