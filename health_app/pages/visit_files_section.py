"""The Files section of the visit details page."""

from __future__ import annotations

import reflex as rx

from health_app.components.forms import banner, upload_field
from health_app.config import get_settings
from health_app.state.visit_files import UPLOAD_ID, FileRow, VisitFilesState

# A convenience filter for the browser's file picker; the server decides by content.
_ACCEPT = {
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/gif": [".gif"],
    "image/webp": [".webp"],
    "image/heic": [".heic", ".heif"],
    "application/pdf": [".pdf"],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
    "video/mp4": [".mp4"],
    "video/quicktime": [".mov"],
}
_ICONS = {"pdf": "file-text", "video": "film", "document": "file", "image": "image"}


def _icon(group: rx.Var) -> rx.Component:
    return rx.match(
        group,
        *[(key, rx.icon(name, size=32, aria_hidden="true")) for key, name in _ICONS.items()],
        rx.icon("file", size=32, aria_hidden="true"),
    )


def _file(row: FileRow) -> rx.Component:
    s = VisitFilesState
    return rx.card(
        rx.flex(
            rx.cond(
                row.thumbnail_url != "",
                rx.image(
                    src=row.thumbnail_url,
                    alt="Preview of " + row.name,
                    width="72px",
                    height="72px",
                    object_fit="cover",
                    border_radius="4px",
                ),
                rx.center(_icon(row.group), width="72px", height="72px"),
            ),
            rx.vstack(
                rx.text.strong(row.name, class_name="file-name", word_break="break-all"),
                rx.text(row.size, " · ", row.uploaded, size="1", color_scheme="gray"),
                rx.flex(
                    rx.cond(
                        row.previewable,
                        rx.button(
                            "Preview",
                            size="1",
                            variant="outline",
                            on_click=s.preview(row.id),
                            aria_label="Preview " + row.name,
                        ),
                    ),
                    rx.button(
                        "Download",
                        size="1",
                        variant="outline",
                        on_click=s.download(row.id),
                        aria_label="Download " + row.name,
                    ),
                    rx.cond(
                        row.can_delete,
                        rx.button(
                            "Delete…",
                            size="1",
                            color_scheme="red",
                            variant="soft",
                            on_click=s.ask_delete(row.id),
                            aria_label="Delete " + row.name,
                        ),
                    ),
                    rx.cond(
                        row.can_hide & ~row.can_delete,
                        rx.button(
                            "Hide from visit",
                            size="1",
                            variant="soft",
                            color_scheme="gray",
                            on_click=s.hide(row.id),
                            aria_label="Hide " + row.name + " from this visit",
                        ),
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                rx.cond(
                    s.confirm_delete_id == row.id,
                    rx.flex(
                        rx.text("Delete this file from the visit?", size="2", role="alert"),
                        rx.button(
                            "Delete",
                            size="1",
                            color_scheme="red",
                            on_click=s.delete,
                            id="delete-yes",
                        ),
                        rx.button("Keep it", size="1", variant="outline", on_click=s.keep_file),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                ),
                spacing="1",
                align="start",
                min_width="0",
            ),
            spacing="3",
            align="start",
        ),
        width="100%",
        class_name="visit-file",
    )


def _preview() -> rx.Component:
    s = VisitFilesState
    return rx.cond(
        s.preview_url != "",
        rx.card(
            rx.vstack(
                rx.flex(
                    rx.heading("Preview: ", s.preview_name, as_="h3", size="3", id="preview-title"),
                    rx.spacer(),
                    rx.button(
                        "Close preview", size="1", variant="outline", on_click=s.close_preview
                    ),
                    width="100%",
                    align="center",
                    spacing="2",
                ),
                rx.cond(
                    s.preview_group == "pdf",
                    rx.el.iframe(
                        src=s.preview_url,
                        title="PDF preview of " + s.preview_name,
                        width="100%",
                        height="480px",
                        id="preview-pdf",
                    ),
                    rx.image(
                        src=s.preview_url,
                        alt=s.preview_name,
                        max_width="100%",
                        id="preview-image",
                    ),
                ),
                align="stretch",
            ),
            width="100%",
            id="preview",
        ),
    )


def files_section() -> rx.Component:
    s = VisitFilesState
    limit_mb = get_settings().file_max_bytes // (1024 * 1024)
    return rx.vstack(
        rx.heading("Files", as_="h2", size="5", id="files"),
        banner(s.form_error),
        rx.cond(
            s.files.length() == 0,
            rx.text("No files on this visit yet.", color_scheme="gray", id="no-files"),
        ),
        rx.foreach(s.files, _file),
        _preview(),
        upload_field(
            rx.vstack(
                rx.button("Choose files", type="button", variant="outline"),
                rx.text("or drop them here", size="2"),
                rx.text(
                    f"Photos, PDF, Word documents or short videos, up to {limit_mb} MB each.",
                    size="1",
                    color_scheme="gray",
                ),
                align="center",
                spacing="1",
            ),
            id=UPLOAD_ID,
            label="Choose files to add to this visit",
            multiple=True,
            accept=_ACCEPT,
            max_size=get_settings().file_max_bytes,
            max_files=get_settings().files_per_upload,
            border="1px dashed var(--gray-8)",
            padding="1em",
            border_radius="8px",
            width="100%",
            aria_label="Choose files to upload to this visit",
        ),
        rx.foreach(
            rx.selected_files(UPLOAD_ID),
            lambda name: rx.text(name, size="2", class_name="selected-file"),
        ),
        rx.cond(
            s.uploading,
            rx.vstack(
                rx.progress(
                    value=s.progress, max=100, aria_label="Upload progress", id="upload-progress"
                ),
                rx.text("Uploading… ", s.progress, "%", size="1", role="status"),
                width="100%",
            ),
        ),
        rx.button(
            "Upload",
            on_click=s.upload(
                rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=s.on_progress)
            ),
            loading=s.uploading,
            id="upload-submit",
        ),
        spacing="3",
        align="stretch",
        width="100%",
    )
