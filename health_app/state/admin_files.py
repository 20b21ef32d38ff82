"""Admin: hidden and deleted visit files, restorable until the purge removes them."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services import visit_files
from health_app.services.visit_files import RemovedFileView
from health_app.state import runner
from health_app.state.admin import PagedListMixin


@dataclass(frozen=True)
class RemovedFileRow:
    id: int
    name: str
    patient: str
    uploaded_by: str
    status: str
    changed: str
    purge_after: str


def _row(v: RemovedFileView) -> RemovedFileRow:
    zone = runner.get_settings().clinic_zone
    changed_at = f"{v.changed_at.astimezone(zone):%Y-%m-%d %H:%M}" if v.changed_at else ""
    return RemovedFileRow(
        id=v.id,
        name=v.name,
        patient=v.patient_name,
        uploaded_by=v.uploaded_by,
        status=v.status,
        changed=f"{v.changed_by}, {changed_at}" if v.changed_by else changed_at,
        purge_after=f"{v.purge_after.astimezone(zone):%Y-%m-%d}" if v.purge_after else "kept",
    )


class RemovedFilesState(PagedListMixin, rx.State):
    rows: list[RemovedFileRow] = []

    async def _refresh(self) -> bool:
        return await self._show_page(
            lambda s, a, page, now: visit_files.list_removed_files(s, actor=a, now=now, page=page),
            _row,
        )

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        return await self._first_page()

    @rx.event
    async def restore(self, file_id: int):  # type: ignore[no-untyped-def]
        target = int(file_id)
        return await self._act(
            lambda s, cfg, now, actor: visit_files.restore_file(
                s, actor=actor, file_id=target, now=now
            ),
            "The file is back on its visit.",
        )
