"""The doctor's "Messages about this visit" panel on the visit details page."""

from __future__ import annotations

import reflex as rx

from health_app.state.visit_messages import MessageRow, VisitMessagesState

_COLORS = {"sent": "green", "failed": "red", "due": "blue", "sending": "blue"}


def _row(row: MessageRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.label),
        rx.table.cell(row.recipient),
        rx.table.cell(row.channel),
        rx.table.cell(
            rx.badge(
                row.status,
                color_scheme=rx.match(row.status, *[(k, v) for k, v in _COLORS.items()], "gray"),
            ),
            rx.cond(~row.current, rx.text("earlier time", size="1", color_scheme="gray")),
        ),
        rx.table.cell(row.at),
        rx.table.cell(row.note),
        class_name="visit-message",
    )


def messages_section() -> rx.Component:
    s = VisitMessagesState
    return rx.cond(
        s.shown,
        rx.vstack(
            rx.heading("Messages about this visit", as_="h2", size="5", id="messages"),
            rx.cond(
                s.rows.length() == 0,
                rx.text("No messages for this visit.", color_scheme="gray"),
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in ("Message", "To", "By", "State", "When", "Note")
                                ]
                            )
                        ),
                        rx.table.body(rx.foreach(s.rows, _row)),
                        size="1",
                        width="100%",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
            ),
            align="stretch",
            width="100%",
        ),
    )
