"""The admin audit log and the patient's record-access page."""

from __future__ import annotations

import reflex as rx

from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.components.pager import pager
from health_app.state.audit_pages import AccessLine, AuditLogState, EventRow, RecordAccessState


def _event(r: EventRow) -> rx.Component:
    """One event as a short paragraph: readable on a phone as on a desk."""
    return rx.el.li(
        rx.text(
            rx.text.strong(r.actor), " ", r.action, rx.cond(r.subject != "", " · ", ""), r.subject
        ),
        rx.text(
            r.at,
            " · ",
            r.object,
            " · ",
            r.outcome,
            rx.cond(r.detail != "", " · ", ""),
            r.detail,
            size="2",
            color_scheme="gray",
        ),
        class_name="audit-event",
        padding_y="0.5em",
        border_bottom="1px solid var(--gray-a5)",
    )


def _access(r: AccessLine) -> rx.Component:
    return rx.el.li(
        rx.text(rx.text.strong(r.who), " ", r.what),
        rx.text(r.when, size="2", color_scheme="gray"),
        class_name="record-access",
        padding_y="0.5em",
        border_bottom="1px solid var(--gray-a5)",
    )


def _list(rows: rx.Var, item: object, list_id: str) -> rx.Component:
    return rx.el.ul(
        rx.foreach(rows, item), id=list_id, list_style="none", padding="0", width="100%"
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
                    hint="A code, such as visit. or auth.login",
                ),
                text_field("From", "first", s.errors, type="date", required=False),
                text_field("To", "last", s.errors, type="date", required=False),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="2",
                width="100%",
            ),
            rx.button("Filter", type="submit", margin_top="0.5em", id="audit-filter"),
            on_submit=s.search,
        ),
        banner(s.form_error),
        _list(s.rows, _event, "audit-events"),
        pager(s),
        heading="Audit log",
        max_width="72em",
    )


def record_access() -> rx.Component:
    s = RecordAccessState
    return page(
        rx.text(
            "Everyone other than you who opened or changed your visits, files or profile, "
            "newest first: one line per person and thing, with how many times."
        ),
        banner(s.form_error),
        rx.cond(
            s.rows.length() == 0, rx.text("Nobody else has opened your record yet.", role="status")
        ),
        _list(s.rows, _access, "record-access"),
        pager(s),
        heading="Who looked at my record",
        max_width="60em",
    )
