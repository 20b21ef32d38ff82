"""The admin audit log and the patient's record-access page."""

from __future__ import annotations

import reflex as rx

from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.components.pager import pager
from health_app.state.audit_pages import AuditLogState, EventRow, RecordAccessState


def _table(rows: rx.Var, *, with_subject: bool) -> rx.Component:
    heads = [
        "When",
        "Who",
        "Action",
        *(["Whose record"] if with_subject else []),
        "Outcome",
        "Detail",
    ]

    def row(r: EventRow) -> rx.Component:
        cells = [
            r.at,
            r.actor,
            r.action,
            *([r.subject] if with_subject else []),
            r.outcome,
            r.detail,
        ]
        return rx.table.row(*[rx.table.cell(c) for c in cells])

    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in heads])),
            rx.table.body(rx.foreach(rows, row)),
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )


def audit_log() -> rx.Component:
    s = AuditLogState
    return page(
        rx.form(
            rx.grid(
                text_field("Who (name or email)", "user", s.errors, required=False),
                text_field("Whose record (name or email)", "patient", s.errors, required=False),
                text_field(
                    "Action starts with",
                    "action",
                    s.errors,
                    required=False,
                    hint="e.g. visit. or auth.login",
                ),
                text_field("From", "first", s.errors, type="date", required=False),
                text_field("To", "last", s.errors, type="date", required=False),
                columns=rx.breakpoints(initial="1", sm="2"),
                gap="2",
                width="100%",
            ),
            rx.button("Filter", type="submit", margin_top="0.5em", id="audit-filter"),
            on_submit=s.search,
        ),
        banner(s.form_error),
        _table(s.rows, with_subject=True),
        pager(s),
        heading="Audit log",
        max_width="72em",
    )


def record_access() -> rx.Component:
    s = RecordAccessState
    return page(
        rx.text(
            "Every time someone other than you opened or changed your visits or profile, it is "
            "listed here, newest first."
        ),
        banner(s.form_error),
        rx.cond(
            s.rows.length() == 0, rx.text("Nobody else has opened your record yet.", role="status")
        ),
        _table(s.rows, with_subject=False),
        pager(s),
        heading="Who looked at my record",
        max_width="60em",
    )
