"""Admin pages: doctor applications and user accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.components.pager import pager
from health_app.state.admin import ApplicationRow, ApplicationsState, UserRow, UsersState
from health_app.state.admin_files import RemovedFileRow, RemovedFilesState
from health_app.state.admin_messages import FailedMessagesState, FailedRow


def _application(row: ApplicationRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(row.name, as_="h2", size="4"),
            rx.text(row.specialty, " · ", row.clinic),
            rx.text(
                "Email: ",
                row.email,
                rx.cond(row.email_confirmed, " (confirmed)", " (not confirmed yet)"),
            ),
            rx.text("Licence (CPSO): ", rx.text.strong(row.licence_number)),
            rx.text("Qualifications: ", row.qualifications, white_space="pre-wrap"),
            rx.text("Consultation types: ", row.consultation_types),
            rx.text("Languages: ", row.languages),
            rx.text("Applied on ", row.applied_on, color_scheme="gray", size="2"),
            rx.cond(
                row.rejection_reason != "", rx.text("Rejected because: ", row.rejection_reason)
            ),
            rx.flex(
                rx.cond(
                    row.status != "approved",
                    rx.button(
                        "Approve…",
                        on_click=ApplicationsState.open_approve(row.user_id),
                        aria_label="Approve " + row.name,
                    ),
                ),
                rx.cond(
                    row.status != "rejected",
                    rx.button(
                        "Reject…",
                        color_scheme="red",
                        variant="soft",
                        on_click=ApplicationsState.open_reject(row.user_id),
                        aria_label="Reject " + row.name,
                    ),
                ),
                spacing="2",
            ),
            rx.cond(
                ApplicationsState.approving_id == row.user_id,
                rx.callout(
                    rx.vstack(
                        rx.text(
                            "Approve ",
                            rx.text.strong(row.name),
                            "? They can log in at once, are listed for patients once they "
                            "open times, and are told by email.",
                        ),
                        rx.flex(
                            rx.button(
                                "Yes, approve",
                                on_click=ApplicationsState.approve(row.user_id),
                                id="approve-confirm",
                            ),
                            rx.button(
                                "Not now",
                                variant="outline",
                                on_click=ApplicationsState.close_approve,
                            ),
                            spacing="3",
                            wrap="wrap",
                        ),
                        spacing="2",
                    ),
                    color_scheme="blue",
                    high_contrast=True,
                ),
            ),
            rx.cond(
                ApplicationsState.rejecting_id == row.user_id,
                rx.form(
                    rx.vstack(
                        text_field(
                            "Reason (sent to the applicant)", "reason", ApplicationsState.errors
                        ),
                        rx.flex(
                            rx.button("Reject application", type="submit", color_scheme="red"),
                            rx.button(
                                "Cancel",
                                type="button",
                                variant="outline",
                                on_click=ApplicationsState.close_reject,
                            ),
                            spacing="2",
                        ),
                        align="stretch",
                    ),
                    on_submit=ApplicationsState.reject,
                ),
            ),
            align="stretch",
            spacing="2",
        ),
        width="100%",
    )


def applications() -> rx.Component:
    return page(
        rx.flex(
            *[
                rx.button(
                    label,
                    variant=rx.cond(ApplicationsState.status == value, "solid", "outline"),
                    on_click=ApplicationsState.show_status(value),
                    aria_pressed=ApplicationsState.status == value,
                )
                for value, label in (
                    ("pending", "Waiting"),
                    ("approved", "Approved"),
                    ("rejected", "Rejected"),
                )
            ],
            spacing="2",
            role="group",
            aria_label="Show applications",
        ),
        banner(ApplicationsState.form_error),
        rx.cond(
            ApplicationsState.rows.length() == 0,
            rx.text("No applications here.", role="status"),
            rx.vstack(rx.foreach(ApplicationsState.rows, _application), width="100%", spacing="3"),
        ),
        pager(ApplicationsState),
        heading="Doctor applications",
        max_width="56em",
    )


def _user_row(row: UserRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.name),
        rx.table.cell(row.email),
        rx.table.cell(row.role),
        rx.table.cell(rx.cond(row.active, "Active", "Deactivated")),
        rx.table.cell(row.joined_on),
        rx.table.cell(
            rx.cond(
                row.active,
                rx.button(
                    "Deactivate",
                    color_scheme="red",
                    variant="soft",
                    size="1",
                    on_click=UsersState.set_active(row.user_id, False),
                    aria_label="Deactivate " + row.email,
                ),
                rx.button(
                    "Reactivate",
                    size="1",
                    variant="soft",
                    on_click=UsersState.set_active(row.user_id, True),
                    aria_label="Reactivate " + row.email,
                ),
            )
        ),
    )


def users() -> rx.Component:
    return page(
        rx.form(
            rx.flex(
                rx.box(
                    text_field(
                        "Search by name or email", "query", UsersState.errors, required=False
                    ),
                    flex_grow="1",
                ),
                rx.vstack(
                    rx.el.label("Role", html_for="role", font_weight="500"),
                    rx.el.select(
                        rx.el.option("All roles", value=""),
                        rx.el.option("Patients", value="patient"),
                        rx.el.option("Doctors", value="doctor"),
                        rx.el.option("Admins", value="admin"),
                        id="role",
                        name="role",
                        style={"padding": "0.5em"},
                    ),
                    spacing="1",
                ),
                rx.button("Search", type="submit", size="3"),
                spacing="3",
                align="end",
                wrap="wrap",
            ),
            on_submit=UsersState.search,
        ),
        banner(UsersState.form_error),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Name", "Email", "Role", "Status", "Joined", "Action")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(UsersState.rows, _user_row)),
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
        ),
        pager(UsersState),
        heading="User accounts",
        max_width="64em",
    )


def _removed_file(row: RemovedFileRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.name, word_break="break-all")),
        rx.table.cell(row.patient),
        rx.table.cell(row.uploaded_by),
        rx.table.cell(rx.badge(row.status)),
        rx.table.cell(row.changed),
        rx.table.cell(row.purge_after),
        rx.table.cell(
            rx.button(
                "Restore",
                size="1",
                variant="soft",
                on_click=RemovedFilesState.restore(row.id),
                aria_label="Restore " + row.name,
            )
        ),
    )


def _paged_table(
    state: Any,
    *,
    intro: str,
    headers: tuple[str, ...],
    row: Callable[[Any], rx.Component],
    empty: str,
    empty_id: str,
    heading: str,
) -> rx.Component:
    """An admin list page: a line of explanation, the table (or why it is empty), pages."""
    return page(
        rx.text(intro),
        banner(state.form_error),
        rx.cond(
            state.total == 0,
            rx.text(empty, role="status", id=empty_id),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                    ),
                    rx.table.body(rx.foreach(state.rows, row)),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
        ),
        pager(state),
        heading=heading,
        max_width="64em",
    )


def removed_files() -> rx.Component:
    return _paged_table(
        RemovedFilesState,
        intro="Files that patients deleted or doctors hid from a visit. Restoring puts a file "
        "back on its visit; deleted files are removed for good on the date shown.",
        headers=(
            "File",
            "Patient",
            "Uploaded by",
            "Status",
            "Changed by",
            "Removed for good on",
            "Action",
        ),
        row=_removed_file,
        empty="Nothing to restore.",
        empty_id="no-removed-files",
        heading="Removed files",
    )


def _failed_message(row: FailedRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.label, rx.text(row.subject, size="1", color_scheme="gray")),
        rx.table.cell(row.channel),
        rx.table.cell(rx.text(row.recipient, word_break="break-all")),
        rx.table.cell(row.attempts),
        rx.table.cell(row.error),
        rx.table.cell(row.created),
        rx.table.cell(
            rx.button(
                "Retry",
                size="1",
                variant="soft",
                on_click=FailedMessagesState.retry(row.id),
                aria_label="Retry the message to " + row.recipient,
            )
        ),
    )


def failed_messages() -> rx.Component:
    return _paged_table(
        FailedMessagesState,
        intro="Email and text messages that could not be delivered after every retry. Fix the "
        "cause (an address, the mail server settings), then retry.",
        headers=("Message", "By", "To", "Attempts", "Last error", "Written", "Action"),
        row=_failed_message,
        empty="No failed messages.",
        empty_id="no-failed-messages",
        heading="Failed messages",
    )
