"""Everything the visit page shows, read in one unit of work for one permission check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from health_app.config import Settings
from health_app.db import reads_only
from health_app.services.files import visit_files
from health_app.services.files.storage import Storage
from health_app.services.files.visit_files import VisitFileView
from health_app.services.messaging import delivery_status
from health_app.services.messaging.delivery_status import VisitMessageView
from health_app.services.records import visit_record
from health_app.services.records.visit_record import VisitRecord
from health_app.services.views import Actor


@dataclass(frozen=True)
class VisitPage:
    record: VisitRecord
    files: tuple[VisitFileView, ...]
    # What was sent about the visit: for its doctor only, empty for the patient.
    messages: tuple[VisitMessageView, ...]


@reads_only
def open_visit(
    session: Session,
    *,
    actor: Actor,
    appointment_id: int,
    settings: Settings,
    storage: Storage,
    now: datetime,
    client: str = "",
) -> VisitPage:
    """The record, its files and its messages; "not found" (audited) for anyone else."""
    record = visit_record.get_record(session, actor=actor, appointment_id=appointment_id, now=now)
    files = visit_files.list_files(
        session,
        actor=actor,
        appointment_id=appointment_id,
        settings=settings,
        storage=storage,
        now=now,
        client=client,
    )
    messages = (
        delivery_status.list_visit_messages(
            session, actor=actor, appointment_id=appointment_id, now=now
        )
        if record.viewer_is_doctor
        else ()
    )
    return VisitPage(record=record, files=files, messages=messages)
