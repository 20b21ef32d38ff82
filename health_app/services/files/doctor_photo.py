"""The doctor's public photo, shown on search cards and their page."""

from __future__ import annotations

import io
from datetime import datetime

from sqlmodel import Session

from health_app.config import Settings
from health_app.models import Outcome
from health_app.services import audit
from health_app.services.access import require_own_doctor
from health_app.services.files import images
from health_app.services.files.file_types import HEAD_BYTES, JPEG, sniff
from health_app.services.files.storage import Storage, new_blob_name
from health_app.services.files.upload import FileRejected, limit_label
from health_app.services.views import Actor

PHOTO_MAX_BYTES = 10 * 1024 * 1024


def doctor_photo_url(storage: Storage, photo_blob: str) -> str:
    """Public URL of a doctor's photo ("" when there is none)."""
    return storage.public_url(photo_blob) if photo_blob else ""


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
    profile = require_own_doctor(
        session, actor, action="profile.photo", now=now, object_type="doctor"
    )
    limit = min(PHOTO_MAX_BYTES, settings.file_max_bytes)
    if not data:
        raise FileRejected("The photo is empty.")
    if len(data) > limit:
        raise FileRejected(f"The photo is larger than {limit_label(limit)}.")
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
    profile = require_own_doctor(
        session, actor, action="profile.photo", now=now, object_type="doctor"
    )
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
