"""Admin: hidden and deleted visit files, restorable until the purge removes them."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services.files import visit_files
from health_app.services.files.visit_files import RemovedFileView
from health_app.state.client import toast_success
from health_app.state.handlers import Events, signed_in
from health_app.state.paged import AdminListMixin
from health_app.state.timefmt import clinic_zone, on_day, when


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
    zone = clinic_zone()
    changed_at = when(v.changed_at, zone) if v.changed_at else ""
    return RemovedFileRow(
        id=v.id,
        name=v.name,
        patient=v.patient_name,
        uploaded_by=v.uploaded_by,
        status=v.status,
        changed=f"{v.changed_by}, {changed_at}" if v.changed_by else changed_at,
        purge_after=on_day(v.purge_after, zone) if v.purge_after else "kept",
    )


class RemovedFilesState(AdminListMixin, rx.State):
    rows: list[RemovedFileRow] = []

    async def _refresh(self) -> None:
        result = await self._call(visit_files.list_removed_files, page=self.page)
        self.rows = self._paged(result, _row)

    def _start(self) -> None:
        self.rows = []

    @rx.event
    @signed_in()
    async def restore(self, file_id: int) -> Events:
        await self._call(visit_files.restore_file, file_id=int(file_id))
        await self._refresh()
        return toast_success("The file is back on its visit.")
