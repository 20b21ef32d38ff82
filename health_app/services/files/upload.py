"""Uploading files to a visit: a streamed batch, checked as the bytes arrive.

`begin_upload` checks the visit and returns an `UploadBatch`; the caller feeds it chunks
(`feed` takes `rx.upload_files_chunk`'s filename / offset / data as they come), then
`finish_upload` records the files in one transaction. Each file's type is decided from its
first bytes as soon as they arrive; a file over the per-file limit, or one that would take
the visit over its limit, is refused at the chunk that crosses the line, before the rest is
read. Any refusal aborts the whole batch and removes every blob it wrote: nothing of a
refused upload is kept. Non-image files go straight to storage block by block; images are
spooled to a temporary file (their pixels must be decoded anyway to strip metadata),
checked for pixel floods, and re-encoded without metadata.

All calls that touch storage block: run them off the event loop.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import require_id, waits_beyond_database
from health_app.models import Appointment, AppointmentStatus, FileStatus, User, VisitFile
from health_app.services.access import access_appointment
from health_app.services.errors import DomainError
from health_app.services.files import images
from health_app.services.files.file_types import (
    ALLOWED_DESCRIPTION,
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
from health_app.services.files.storage import BlobWriter, Storage, new_blob_name
from health_app.services.files.visit_files import VisitFileView, file_view, record_file_event
from health_app.services.people import display_name
from health_app.services.views import Actor

log = logging.getLogger(__name__)
# Visible on the visit or hidden by its doctor: both count against its size limit.
_COUNTED = (FileStatus.ACTIVE, FileStatus.HIDDEN)


class FileRejected(DomainError):
    """A file, or the whole upload, was refused. Nothing of that upload was kept."""


def limit_label(size: int) -> str:
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
                f"“{name}” is larger than {limit_label(self.limits.file_max_bytes)}, the limit per "
                "file. Nothing was uploaded."
            )
        if self._used + self._received > self.limits.visit_max_bytes:
            self._fail(
                f"A visit can hold at most {limit_label(self.limits.visit_max_bytes)} of files and "
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


def _used_bytes(session: Session, appointment_id: int) -> int:
    return int(
        session.exec(
            select(func.coalesce(func.sum(VisitFile.size_bytes), 0)).where(
                VisitFile.appointment_id == appointment_id, col(VisitFile.status).in_(_COUNTED)
            )
        ).one()
    )


def _open_visit(
    session: Session, *, actor: Actor, appointment_id: int, now: datetime
) -> Appointment:
    """A visit the actor is party to that still takes files (checked at both ends)."""
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="file.upload", now=now
    )
    if appt.status == AppointmentStatus.CANCELLED:
        raise DomainError("This visit was cancelled: files can no longer be added to it.")
    return appt


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
    appt = _open_visit(session, actor=actor, appointment_id=appointment_id, now=now)
    limits = UploadLimits.from_settings(settings)
    used = _used_bytes(session, appointment_id)
    if used >= limits.visit_max_bytes:
        most = limit_label(limits.visit_max_bytes)
        raise FileRejected(f"This visit already holds {most} of files, the most it can.")
    return UploadBatch(
        storage=storage,
        limits=limits,
        appointment_id=appointment_id,
        patient_id=appt.patient_id,
        uploader_id=actor.user_id,
        used_bytes=used,
    )


@waits_beyond_database()  # commits the staged blocks in storage
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
        appt = _open_visit(session, actor=actor, appointment_id=batch.appointment_id, now=now)
        # Serialise uploads to one visit so two batches cannot both squeeze under the
        # limit (PostgreSQL row lock; SQLite units of work already begin IMMEDIATE).
        session.exec(select(Appointment.id).where(Appointment.id == appt.id).with_for_update())
        appt_id = require_id(appt.id)
        total = _used_bytes(session, appt_id) + sum(s.size for s in stored)
        if total > batch.limits.visit_max_bytes:
            raise FileRejected(
                f"A visit can hold at most {limit_label(batch.limits.visit_max_bytes)} of files. "
                "Nothing was uploaded."
            )
        rows = [
            VisitFile(
                appointment_id=appt_id,
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
            record_file_event(
                session, actor_id=actor.user_id, action="file.upload", row=row, now=now
            )
    except BaseException:
        batch.abort()
        raise
    batch._finished = True
    uploader = session.get(User, actor.user_id)
    assert uploader is not None
    return tuple(
        file_view(row, appt, actor, {actor.user_id: display_name(uploader)}, None) for row in rows
    )
