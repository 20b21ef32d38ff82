"""Files on the visit details page: streamed upload with progress, list, preview, download,
delete (uploader) and hide (the visit's doctor).

Links to files are short-lived and issued one at a time after the services' checks; the
state only ever holds links for the signed-in person's own view.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services.accounts import sessions
from health_app.services.errors import DomainError
from health_app.services.files import upload, visit_files
from health_app.services.files.upload import UploadBatch
from health_app.services.files.visit_files import VisitFileView
from health_app.state.auth import AuthState
from health_app.state.client import clear_selected_files, toast_success
from health_app.state.handlers import Events, FormMixin, login_redirect, signed_in
from health_app.state.links import reachable
from health_app.state.timefmt import when
from health_app.state.unit_of_work import run_service

log = logging.getLogger(__name__)

UPLOAD_ID = "visit-upload"
_UPLOAD_FAILED = "The upload did not complete. Nothing was uploaded; please try again."


@dataclass(frozen=True)
class FileRow:
    id: int
    name: str
    group: str
    size: str
    uploaded: str
    can_delete: bool
    can_hide: bool
    previewable: bool
    thumbnail_url: str


def file_row(v: VisitFileView, zone: str) -> FileRow:
    return FileRow(
        id=v.id,
        name=v.name,
        group=v.group,
        size=v.size_label,
        uploaded=f"{v.uploaded_by}, {when(v.uploaded_at, zone)}",
        can_delete=v.can_delete,
        can_hide=v.can_hide,
        previewable=v.previewable,
        thumbnail_url=reachable(v.thumbnail_url),
    )


class VisitFilesState(FormMixin, rx.State):
    """Filled by `VisitState.load`; its own handlers act on `visit_id` (re-checked in the
    services: the browser may send any id)."""

    visit_id: int = 0
    zone: str = "UTC"
    files: list[FileRow] = []
    uploading: bool = False
    # Percent of the bytes the browser has sent.
    progress: int = 0
    preview_url: str = ""
    preview_name: str = ""
    preview_group: str = ""
    confirm_delete_id: int = 0

    def _clear(self, visit_id: int) -> None:
        self._reset_form()
        self.visit_id, self.files, self.uploading, self.progress = visit_id, [], False, 0
        self.preview_url = self.preview_name = self.preview_group = ""
        self.confirm_delete_id = 0

    def _show(self, views: tuple[VisitFileView, ...], zone: str) -> None:
        """Times in the visit's zone, as on the rest of the page."""
        self.zone = zone
        self.files = [file_row(v, zone) for v in views]

    async def _refresh(self) -> None:
        try:
            views = await self._call(
                visit_files.list_files,
                appointment_id=self.visit_id,
                client=self.router.session.client_ip,
            )
        except DomainError:
            views = ()  # the visit page itself says "not found"
        self._show(views, self.zone)

    @rx.event
    def on_progress(self, prog: dict[str, Any]) -> None:
        fraction = prog.get("progress", 0)
        self.progress = max(0, min(100, round(float(fraction or 0) * 100)))

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator) -> AsyncIterator[Events]:
        """Stream the chosen files into storage chunk by chunk; record them only if all pass.

        A background event, so the page stays live while bytes arrive: the state lock is
        held only to read and write vars, never for the session check or storage.
        """
        async with self:
            token = (await self.get_state(AuthState))._token()
            client = self.router.session.client_ip
            visit_id, zone = self.visit_id, self.zone
            self._reset_form()
            self.uploading, self.progress = True, 0
        actor = await run_service(sessions.resolve_session, token=token)
        if actor is None:
            async with self:
                self.uploading = False
            yield login_redirect("expired")
            return
        batch: UploadBatch | None = None
        try:
            batch = await run_service(upload.begin_upload, actor=actor, appointment_id=visit_id)
            async for chunk in chunks:
                await asyncio.to_thread(batch.feed, chunk.filename, chunk.offset, chunk.data)
            added = await run_service(upload.finish_upload, actor=actor, batch=batch)
            listed = await run_service(
                visit_files.list_files, actor=actor, appointment_id=visit_id, client=client
            )
        except Exception as exc:
            if not isinstance(exc, DomainError):
                log.exception("upload to visit %s failed", visit_id)
            if batch is not None:
                await asyncio.to_thread(batch.abort)
            async with self:
                self.uploading, self.progress = False, 0
                self.form_error = exc.message if isinstance(exc, DomainError) else _UPLOAD_FAILED
            return
        async with self:
            self.uploading, self.progress = False, 100
            self._show(listed, zone)
        count = len(added)
        yield clear_selected_files(UPLOAD_ID)
        yield toast_success(f"{count} file{'s' if count != 1 else ''} uploaded.")

    async def _link(self, file_id: int, *, inline: bool) -> visit_files.FileLink:
        return await self._call(
            visit_files.issue_link,
            file_id=int(file_id),
            inline=inline,
            appointment_id=self.visit_id,
            client=self.router.session.client_ip,
        )

    @rx.event
    @signed_in()
    async def preview(self, file_id: int) -> None:
        link = await self._link(file_id, inline=True)
        row = next((f for f in self.files if f.id == int(file_id)), None)
        self.preview_url, self.preview_name = reachable(link.url), link.name
        self.preview_group = row.group if row else ""

    @rx.event
    def close_preview(self) -> None:
        self.preview_url = self.preview_name = self.preview_group = ""

    @rx.event
    @signed_in()
    async def download(self, file_id: int) -> Events:
        link = await self._link(file_id, inline=False)
        url = reachable(link.url)
        # Either link answers with "attachment", so the page stays. Ours is a path, which an
        # anchor downloads; an Azure SAS is on another host, which the browser goes to.
        if url.startswith("/"):
            return rx.download(url=url, filename=link.name)
        return rx.redirect(url)

    @rx.event
    def ask_delete(self, file_id: int) -> None:
        self._reset_form()
        self.confirm_delete_id = int(file_id)

    @rx.event
    def keep_file(self) -> None:
        self.confirm_delete_id = 0

    @rx.event
    @signed_in()
    async def delete(self) -> Events:
        file_id, self.confirm_delete_id = self.confirm_delete_id, 0
        await self._call(visit_files.delete_file, file_id=file_id)
        await self._refresh()
        return toast_success(
            "The file was deleted. The clinic can restore it for a while if this was a mistake."
        )

    @rx.event
    @signed_in()
    async def hide(self, file_id: int) -> Events:
        self.confirm_delete_id = 0
        await self._call(visit_files.hide_file, file_id=int(file_id))
        await self._refresh()
        return toast_success("The file is hidden from this visit. An administrator can restore it.")
