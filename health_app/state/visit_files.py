"""Files on the visit details page: streamed upload with progress, list, preview, download,
delete (uploader) and hide (the visit's doctor).

Links to files are short-lived and issued one at a time after the services' checks; the
state only ever holds links for the signed-in person's own view.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import reflex as rx

from health_app.services import visit_files
from health_app.services.errors import DomainError
from health_app.services.storage import get_storage
from health_app.services.views import Actor
from health_app.services.visit_files import UploadBatch, VisitFileView
from health_app.state import runner
from health_app.state.auth import guard, login_redirect
from health_app.state.forms import FormMixin
from health_app.state.links import reachable
from health_app.state.timefmt import when
from health_app.state.visit import VisitState

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

    async def _refresh(self, actor: Actor) -> None:
        visit_id = self.visit_id
        try:
            views = await runner.call(
                lambda s, cfg, now: visit_files.list_files(
                    s,
                    actor=actor,
                    appointment_id=visit_id,
                    settings=cfg,
                    storage=get_storage(cfg),
                    now=now,
                )
            )
        except DomainError:
            self.files = []  # the visit page itself says "not found"
            return
        # Times in the visit's zone, as on the rest of the page.
        visit = await self.get_state(VisitState)
        zone = visit.time_zone or runner.get_settings().clinic_timezone
        self.zone = zone
        self.files = [file_row(v, zone) for v in views]

    @rx.event
    async def load(self) -> None:
        self._reset_form()
        raw = self.router.url.query_parameters.get("id", "")
        self.visit_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0
        self.files, self.uploading, self.progress = [], False, 0
        self.preview_url = self.preview_name = self.preview_group = ""
        self.confirm_delete_id = 0
        actor = await guard(self)
        if actor is not None and self.visit_id:
            await self._refresh(actor)

    @rx.event
    def on_progress(self, prog: dict[str, Any]) -> None:
        fraction = prog.get("progress", 0)
        self.progress = max(0, min(100, round(float(fraction or 0) * 100)))

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator):  # type: ignore[no-untyped-def]
        """Stream the chosen files into storage chunk by chunk; record them only if all pass."""
        async with self:
            actor = await guard(self)
            visit_id = self.visit_id
            self._reset_form()
            self.uploading, self.progress = True, 0
        if actor is None:
            async with self:
                self.uploading = False
            yield login_redirect("expired")
            return
        batch: UploadBatch | None = None
        try:
            batch = await runner.call(
                lambda s, cfg, now: visit_files.begin_upload(
                    s,
                    actor=actor,
                    appointment_id=visit_id,
                    settings=cfg,
                    storage=get_storage(cfg),
                    now=now,
                )
            )
            async for chunk in chunks:
                await asyncio.to_thread(batch.feed, chunk.filename, chunk.offset, chunk.data)
            ready = batch
            views = await runner.call(
                lambda s, cfg, now: visit_files.finish_upload(s, actor=actor, batch=ready, now=now)
            )
        except DomainError as exc:
            await self._upload_failed(batch, exc.message)
            return
        except Exception:
            log.exception("upload to visit %s failed", visit_id)
            await self._upload_failed(batch, _UPLOAD_FAILED)
            return
        async with self:
            self.uploading, self.progress = False, 100
            await self._refresh(actor)
        count = len(views)
        yield rx.clear_selected_files(UPLOAD_ID)
        yield rx.toast.success(f"{count} file{'s' if count != 1 else ''} uploaded.")

    async def _upload_failed(self, batch: UploadBatch | None, message: str) -> None:
        if batch is not None:
            await asyncio.to_thread(batch.abort)
        async with self:
            self.uploading, self.progress = False, 0
            self.form_error = message

    async def _link(self, file_id: int, *, inline: bool) -> visit_files.FileLink | None:
        actor = await guard(self)
        if actor is None:
            return None
        visit_id = self.visit_id
        ok, link = await self._attempt(
            lambda: runner.call(
                lambda s, cfg, now: visit_files.issue_link(
                    s,
                    actor=actor,
                    file_id=int(file_id),
                    inline=inline,
                    settings=cfg,
                    storage=get_storage(cfg),
                    now=now,
                    appointment_id=visit_id,
                )
            )
        )
        return link if ok else None

    @rx.event
    async def preview(self, file_id: int) -> None:
        link = await self._link(file_id, inline=True)
        if link is None:
            return
        row = next((f for f in self.files if f.id == int(file_id)), None)
        self.preview_url, self.preview_name = reachable(link.url), link.name
        self.preview_group = row.group if row else ""

    @rx.event
    def close_preview(self) -> None:
        self.preview_url = self.preview_name = self.preview_group = ""

    @rx.event
    async def download(self, file_id: int):  # type: ignore[no-untyped-def]
        link = await self._link(file_id, inline=False)
        if link is None:
            return None
        # The link is ours (or an Azure SAS) and answers with "attachment": the page stays.
        return rx.call_script(f"window.location.assign({json.dumps(reachable(link.url))})")

    @rx.event
    def ask_delete(self, file_id: int) -> None:
        self._reset_form()
        self.confirm_delete_id = int(file_id)

    @rx.event
    def keep_file(self) -> None:
        self.confirm_delete_id = 0

    async def _remove(self, work: Any, done: str):  # type: ignore[no-untyped-def]
        actor = await guard(self)
        if actor is None:
            return login_redirect("expired")
        ok, _ = await self._attempt(
            lambda: runner.call(lambda s, cfg, now: work(s, cfg, now, actor))
        )
        self.confirm_delete_id = 0
        if ok:
            await self._refresh(actor)
            return rx.toast.success(done)
        return None

    @rx.event
    async def delete(self):  # type: ignore[no-untyped-def]
        file_id = self.confirm_delete_id
        return await self._remove(
            lambda s, cfg, now, actor: visit_files.delete_file(
                s, actor=actor, file_id=file_id, settings=cfg, now=now
            ),
            "The file was deleted. The clinic can restore it for a while if this was a mistake.",
        )

    @rx.event
    async def hide(self, file_id: int):  # type: ignore[no-untyped-def]
        target = int(file_id)
        return await self._remove(
            lambda s, cfg, now, actor: visit_files.hide_file(
                s, actor=actor, file_id=target, now=now
            ),
            "The file is hidden from this visit. An administrator can restore it.",
        )
