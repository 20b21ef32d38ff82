"""Files on a visit once uploaded: the list, short-lived links, delete / hide / restore,
and the purge of deleted files after their grace period.

Who may do what (checked here, on every call):
- the visit's patient and doctor list and open its active files; anyone else gets
  "not found" and an audit row (`audit.deny`);
- only the uploader deletes a file (a status: the blob stays for the grace period, then
  `purge_deleted` removes it); the visit's doctor may hide any file from the visit;
- an admin restores a hidden or deleted file (until it is purged), without seeing it.

Uploading is `files.upload`; the doctor's public photo is `files.doctor_photo`. All calls
that touch storage block: run them off the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from health_app.config import Settings
from health_app.db import require_id
from health_app.models import Appointment, FileStatus, Outcome, VisitFile
from health_app.services import audit
from health_app.services.access import access_appointment, require_admin
from health_app.services.errors import DomainError
from health_app.services.files.file_types import BY_CONTENT_TYPE, JPEG
from health_app.services.files.storage import BlobIntegrityError, BlobNotFound, Storage
from health_app.services.people import names_by_id
from health_app.services.views import Actor, Page

log = logging.getLogger(__name__)


def size_label(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


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


def record_file_event(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    row: VisitFile,
    now: datetime,
    outcome: str = Outcome.SUCCESS,
    detail: str = "",
    survives_rollback: bool = False,
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
        survives_rollback=survives_rollback,
    )


def file_view(
    row: VisitFile,
    appt: Appointment,
    actor: Actor,
    names: dict[int, str],
    storage: Storage | None,
    link_seconds: int = 300,
    client: str = "",
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
            holder=actor.session_id,
            client_ip=client,
        ).url
    return VisitFileView(
        id=require_id(row.id),
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
    client: str = "",
) -> tuple[VisitFileView, ...]:
    """The visit's active files, oldest first, with short-lived thumbnail links for the
    caller's own session (audited)."""
    appt = access_appointment(
        session, actor=actor, appointment_id=appointment_id, action="file.list", now=now
    )
    rows = session.exec(
        select(VisitFile)
        .where(VisitFile.appointment_id == appointment_id, VisitFile.status == FileStatus.ACTIVE)
        .order_by(col(VisitFile.created_at), col(VisitFile.id))
    ).all()
    people = {appt.patient_id, appt.doctor_id} | {r.uploader_id for r in rows}
    names = names_by_id(session, people)
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
        file_view(r, appt, actor, names, storage, settings.file_link_seconds, client) for r in rows
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
    client: str = "",
) -> FileLink:
    """A link to one file that works for FILE_LINK_SECONDS (<= 5 minutes), for the
    caller's own login session only (a leaked link is useless to anyone else).

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
    except (BlobIntegrityError, BlobNotFound) as exc:
        problem = "missing" if isinstance(exc, BlobNotFound) else "integrity check failed"
        log.error("visit file %s: %s (blob %s)", row.id, problem, row.blob_name)
        record_file_event(
            session,
            actor_id=actor.user_id,
            action="file.integrity",
            row=row,
            now=now,
            outcome=Outcome.FAILURE,
            detail=problem,
            survives_rollback=True,
        )
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
        holder=actor.session_id,
        client_ip=client,
    )
    record_file_event(session, actor_id=actor.user_id, action=action, row=row, now=now)
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
    record_file_event(session, actor_id=actor.user_id, action="file.delete", row=row, now=now)


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
    record_file_event(session, actor_id=actor.user_id, action="file.hide", row=row, now=now)


def restore_file(session: Session, *, actor: Actor, file_id: int, now: datetime) -> None:
    """Admin: put a hidden or deleted (not yet purged) file back on its visit."""
    require_admin(session, actor, action="file.restore", now=now, object_type="visit_file")
    row = session.get(VisitFile, file_id)
    if row is None or row.status == FileStatus.ACTIVE:
        raise DomainError("That file is not hidden or deleted.")
    if row.purged_at is not None:
        raise DomainError("That file was already purged after its grace period.")
    row.status = FileStatus.ACTIVE
    row.status_changed_at, row.status_changed_by_id = now, actor.user_id
    row.purge_after = None
    record_file_event(session, actor_id=actor.user_id, action="file.restore", row=row, now=now)


REMOVED_PAGE_SIZE = 20


def list_removed_files(
    session: Session, *, actor: Actor, now: datetime, page: int = 1
) -> Page[RemovedFileView]:
    """Admin: hidden and deleted files that can still be restored, newest change first."""
    require_admin(session, actor, action="file.removed_list", now=now, object_type="visit_file")
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
    names = names_by_id(session, ids)
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
            id=require_id(r.id),
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
        record_file_event(session, actor_id=None, action="file.purge", row=row, now=now)
    storage.sweep_incomplete(timedelta(days=1))
    return len(rows)
