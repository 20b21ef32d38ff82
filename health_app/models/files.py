"""Files attached to a visit.

The bytes live in blob storage (local private folder or Azure Blob) under a name the
server chose; this row holds everything else: whose file it is, what it really is (type
decided from its content), its size and SHA-256 (checked on every read), and its life:
active, hidden from the visit by the doctor, or deleted by its uploader. A deleted file's
blob is removed by the purge job once `purge_after` has passed; the row stays, so the
audit trail and the admin's restore list keep making sense.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, text
from sqlmodel import Field, SQLModel

from health_app.models.types import utc_field


class FileStatus(StrEnum):
    ACTIVE = "active"
    HIDDEN = "hidden"  # hidden from the visit by its doctor; never purged
    DELETED = "deleted"  # deleted by its uploader; blob purged after the grace period


class VisitFile(SQLModel, table=True):
    __tablename__ = "visit_file"
    __table_args__ = (
        CheckConstraint("status in ('active', 'hidden', 'deleted')", name="ck_visit_file_status"),
        CheckConstraint("size_bytes > 0", name="ck_visit_file_size"),
        Index("ix_visit_file_appointment", "appointment_id", "created_at"),
        # The purge job reads only deleted files whose blob is still there.
        Index(
            "ix_visit_file_purge",
            "purge_after",
            sqlite_where=text("status = 'deleted' AND purged_at IS NULL"),
            postgresql_where=text("status = 'deleted' AND purged_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id")
    # The patient of the visit: whose data this is (audit subject, ownership checks).
    patient_id: int = Field(foreign_key="app_user.id", index=True)
    uploader_id: int = Field(foreign_key="app_user.id")
    # Server-generated; never derived from anything the client sent.
    blob_name: str = Field(max_length=100, unique=True)
    # A small JPEG preview for images ("" for other types).
    thumbnail_blob: str = Field(default="", max_length=100)
    thumbnail_sha256: str = Field(
        default="", max_length=64, sa_column_kwargs={"server_default": ""}
    )
    # Sanitised: no path separators or control characters, length-capped.
    original_name: str = Field(max_length=255)
    # Decided from the content (magic bytes), never from the name or the browser.
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    created_at: datetime = utc_field()
    status: str = Field(default=FileStatus.ACTIVE, max_length=8)
    status_changed_at: datetime | None = utc_field(nullable=True)
    status_changed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    # Set when deleted: after this the purge job removes the blob (and the thumbnail).
    purge_after: datetime | None = utc_field(nullable=True)
    purged_at: datetime | None = utc_field(nullable=True)
