"""The doctor's history export page."""

from __future__ import annotations

import reflex as rx

from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.services.records.export import COLUMNS
from health_app.state.export import ExportState

_DEFAULT = {"date", "time", "consultation", "patient_name", "status"}


def export_page() -> rx.Component:
    s = ExportState
    e = s.errors
    return page(
        rx.text(
            "Export your visits as a spreadsheet. Dates and times are in your clinic's time "
            "zone. Every export is recorded in the audit log."
        ),
        banner(s.form_error),
        rx.form(
            rx.vstack(
                rx.grid(
                    text_field("From date", "first", e, type="date", required=False),
                    text_field("To date", "last", e, type="date", required=False),
                    text_field("From time of day", "from_time", e, type="time", required=False),
                    text_field("Until time of day", "until_time", e, type="time", required=False),
                    text_field("Patient name contains", "patient_name", e, required=False),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="2",
                    width="100%",
                ),
                rx.el.fieldset(
                    rx.el.legend("Columns", font_weight="500"),
                    rx.flex(
                        *[
                            rx.el.label(
                                rx.el.input(
                                    type="checkbox",
                                    name=f"col_{key}",
                                    id=f"col_{key}",
                                    default_checked=key in _DEFAULT,
                                ),
                                " ",
                                label,
                                display="inline-flex",
                                gap="0.3em",
                            )
                            for key, label in COLUMNS.items()
                        ],
                        wrap="wrap",
                        spacing="3",
                    ),
                    rx.cond(
                        e.get("columns", "").to(str) != "",
                        rx.text(e.get("columns", "").to(str), color_scheme="red", role="alert"),
                    ),
                    border="none",
                    padding="0",
                ),
                rx.el.fieldset(
                    rx.el.legend("Format", font_weight="500"),
                    rx.flex(
                        rx.el.label(
                            rx.el.input(
                                type="radio",
                                name="file_format",
                                value="xlsx",
                                id="format-xlsx",
                                default_checked=True,
                            ),
                            " Excel (.xlsx)",
                            display="inline-flex",
                            gap="0.3em",
                        ),
                        rx.el.label(
                            rx.el.input(
                                type="radio", name="file_format", value="csv", id="format-csv"
                            ),
                            " CSV",
                            display="inline-flex",
                            gap="0.3em",
                        ),
                        spacing="4",
                    ),
                    border="none",
                    padding="0",
                ),
                rx.button("Export", type="submit", loading=s.busy, id="export-submit"),
                rx.cond(
                    s.busy,
                    rx.flex(
                        rx.spinner(), rx.text("Preparing your file…"), spacing="2", role="status"
                    ),
                ),
                align="stretch",
                spacing="3",
            ),
            on_submit=s.download,
        ),
        heading="Export visit history",
        max_width="48em",
    )
