"""The dashboard: the doctor's day, upcoming visits and weekly load; the patient's visits."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.components.outline import outline
from health_app.state.auth import AuthState
from health_app.state.dashboard import DashboardState
from health_app.state.visits import VisitRow, VisitsState, WeekBar


def _visit(row: VisitRow) -> rx.Component:
    s = VisitsState
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text.strong(row.when),
                rx.badge(row.format),
                rx.cond(row.status != "booked", rx.badge(row.status_label, color_scheme="gray")),
                rx.text(row.consultation_type),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            rx.text("With ", row.with_whom),
            rx.cond(row.reason != "", rx.text("Reason: ", row.reason, size="2")),
            rx.cond(
                row.join_url != "",
                rx.link("Join the video visit", href=row.join_url, is_external=True),
            ),
            rx.cond(row.phone_note != "", rx.text(row.phone_note, size="2")),
            rx.flex(
                rx.link(
                    rx.button("Details", variant="outline", size="2"),
                    href=f"{routes.VISIT}?id={row.id}",
                    aria_label="Details of the visit on " + row.when,
                ),
                rx.cond(
                    AuthState.role == "patient",
                    rx.link(
                        rx.button("Move", variant="outline", size="2"),
                        href=f"{routes.DOCTOR}?doctor={row.doctor_id}&reschedule={row.id}",
                    ),
                ),
                rx.cond(
                    row.status == "booked",
                    rx.button(
                        "Cancel…",
                        color_scheme="red",
                        variant="soft",
                        size="2",
                        on_click=s.open_cancel(row.id),
                        aria_label="Cancel the visit on " + row.when,
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                s.cancelling_id == row.id,
                rx.form(
                    rx.vstack(
                        text_field(
                            "Why are you cancelling? (the other side is told)", "reason", s.errors
                        ),
                        rx.flex(
                            rx.button(
                                "Cancel the visit",
                                type="submit",
                                color_scheme="red",
                                id="cancel-submit",
                            ),
                            rx.button(
                                "Keep it", type="button", variant="outline", on_click=s.close_cancel
                            ),
                            spacing="2",
                        ),
                        align="stretch",
                    ),
                    on_submit=s.cancel,
                ),
            ),
            spacing="2",
            align="stretch",
        ),
        width="100%",
        class_name="visit-card",
    )


def _past_visit(row: VisitRow) -> rx.Component:
    # One sentence, so the time and the person read apart ("..., 09:00 EST with Dr Khan").
    return rx.el.li(
        rx.text(
            rx.link(row.when, href=f"{routes.VISIT}?id={row.id}", class_name="past-visit"),
            " with ",
            row.with_whom,
            " ",
            rx.badge(row.status_label),
        ),
    )


def _visit_list(heading: str, rows: rx.Var, list_id: str) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.vstack(
            rx.heading(heading, as_="h2", size="5"),
            rx.el.ul(
                rx.foreach(rows, _past_visit),
                id=list_id,
                padding_left="1.2em",
                display="flex",
                flex_direction="column",
                gap="0.5em",
            ),
            spacing="2",
            align="stretch",
            width="100%",
        ),
    )


def _past() -> rx.Component:
    return rx.fragment(
        _visit_list("Cancelled visits", VisitsState.cancelled_rows, "cancelled-visits"),
        _visit_list("Past visits", VisitsState.past_rows, "past-visits"),
    )


def _upcoming() -> rx.Component:
    s = VisitsState
    return rx.vstack(
        rx.heading("Upcoming visits", as_="h2", size="5"),
        banner(s.form_error),
        rx.cond(
            s.rows.length() == 0, rx.text("No upcoming visits.", role="status", id="no-visits")
        ),
        rx.foreach(s.rows, _visit),
        rx.cond(
            s.total > s.rows.length(),
            rx.link(
                "See all ",
                s.total,
                " upcoming visits",
                href=f"{routes.APPOINTMENTS}",
                id="all-upcoming",
            ),
        ),
        spacing="3",
        align="stretch",
        width="100%",
    )


def _doctor_filter() -> rx.Component:
    s = VisitsState
    return rx.form(
        rx.flex(
            text_field(
                "Day", "day", s.errors, type="date", required=False, default_value=s.filter_day
            ),
            text_field(
                "Patient name",
                "patient",
                s.errors,
                type="search",
                required=False,
                default_value=s.filter_patient,
            ),
            rx.button("Show visits", type="submit", variant="outline", id="filter-submit"),
            rx.cond(
                (s.filter_day != "") | (s.filter_patient != ""),
                rx.button(
                    "Clear filter",
                    type="button",
                    variant="ghost",
                    on_click=s.clear_filter,
                    id="filter-clear",
                ),
            ),
            spacing="2",
            align="end",
            wrap="wrap",
        ),
        on_submit=s.filter_visits,
        reset_on_submit=False,
        aria_label="Filter visits",
        role="search",
    )


def _doctor_visits() -> rx.Component:
    s = VisitsState
    return rx.vstack(
        _doctor_filter(),
        banner(s.form_error),
        rx.heading(s.day_heading, as_="h2", size="5", id="day-heading"),
        rx.cond(
            s.day_rows.length() == 0,
            rx.text("No visits on this day.", role="status", id="no-day-visits"),
        ),
        rx.foreach(s.day_rows, _visit),
        rx.cond(s.filter_day == "", _upcoming()),
        spacing="3",
        align="stretch",
        width="100%",
    )


def _week_row(week: WeekBar) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(week.label),
        rx.table.cell(
            rx.flex(
                rx.box(width=week.booked_width, background="var(--accent-9)", height="1em"),
                rx.box(width=week.open_width, background="var(--gray-6)", height="1em"),
                width="100%",
                min_width="6em",
                aria_hidden="true",
            ),
        ),
        rx.table.cell(week.booked, text_align="right"),
        rx.table.cell(week.open, text_align="right"),
    )


def _week_chart() -> rx.Component:
    """A bar per week; the numbers sit in table cells so screen readers read a table."""
    return rx.card(
        rx.vstack(
            rx.heading("Booked and open slots, next 8 weeks", as_="h2", size="4", id="load"),
            rx.flex(
                rx.flex(
                    rx.box(width="1em", height="1em", background="var(--accent-9)"),
                    rx.text("Booked", size="1"),
                    spacing="1",
                    align="center",
                ),
                rx.flex(
                    rx.box(width="1em", height="1em", background="var(--gray-6)"),
                    rx.text("Open", size="1"),
                    spacing="1",
                    align="center",
                ),
                spacing="4",
                aria_hidden="true",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Week"),
                        rx.table.column_header_cell(rx.text("Load", class_name="sr-only")),
                        rx.table.column_header_cell("Booked", text_align="right"),
                        rx.table.column_header_cell("Open", text_align="right"),
                    )
                ),
                rx.table.body(rx.foreach(VisitsState.weeks, _week_row)),
                size="1",
                width="100%",
                aria_labelledby="load",
                id="week-chart",
            ),
            align="stretch",
        ),
        width="100%",
    )


def _quick_actions() -> rx.Component:
    return rx.flex(
        rx.button(
            "Open tomorrow 09:00–17:00",
            on_click=VisitsState.open_tomorrow,
            loading=VisitsState.busy,
            id="open-tomorrow",
        ),
        rx.link(rx.button("Weekly hours", variant="outline"), href=f"{routes.AVAILABILITY}#weekly"),
        rx.link(
            rx.button("Open a range of days", variant="outline"),
            href=f"{routes.AVAILABILITY}#range",
        ),
        rx.link(rx.button("Time off", variant="outline"), href=f"{routes.AVAILABILITY}#time-off"),
        spacing="2",
        wrap="wrap",
        role="group",
        aria_label="Quick actions",
    )


def _action_banner(shown: rx.Var, text: str, link: str, href: str, banner_id: str) -> rx.Component:
    """Something the person should do, with the link that does it."""
    return rx.cond(
        shown,
        rx.callout(
            rx.text(
                text,
                rx.link(link, href=href, underline="always", weight="bold", color="inherit"),
            ),
            color_scheme="amber",
            high_contrast=True,
            id=banner_id,
            width="100%",
        ),
    )


def _pharmacy_banner() -> rx.Component:
    return _action_banner(
        DashboardState.needs_pharmacy,
        "Choose the pharmacy that should receive your prescriptions. ",
        "Find a pharmacy near you",
        routes.PHARMACY,
        "pharmacy-banner",
    )


def _pharmacy_line() -> rx.Component:
    return rx.cond(
        DashboardState.pharmacy_name != "",
        rx.text(
            "Your pharmacy: ",
            rx.text.strong(DashboardState.pharmacy_name),
            " · ",
            rx.link("Change", href=routes.PHARMACY, aria_label="Change your pharmacy"),
            id="dashboard-pharmacy",
        ),
    )


def _microsoft_banner() -> rx.Component:
    return _action_banner(
        DashboardState.microsoft_reconnect,
        "Microsoft 365 needs reconnecting: your Outlook calendar is not being updated. "
        "Booking works as usual. ",
        "Reconnect Microsoft 365",
        f"{routes.PROFILE}#microsoft",
        "microsoft-banner",
    )


def _step(done: rx.Var, text: str, href: str, step_id: str) -> rx.Component:
    return rx.el.li(
        rx.cond(
            done,
            rx.text(rx.text.strong("Done: "), text, color_scheme="gray"),
            rx.link(text, href=href, underline="always"),
        ),
        id=step_id,
    )


def _checklist() -> rx.Component:
    """A new doctor's first steps (patients only find doctors with free time)."""
    s = DashboardState
    return rx.cond(
        s.show_checklist,
        rx.card(
            rx.vstack(
                rx.heading("Get ready for patients", as_="h2", size="4"),
                rx.el.ol(
                    _step(s.step_hours, "Set your weekly hours", routes.AVAILABILITY, "step-hours"),
                    _step(
                        s.step_free_time,
                        "Open some times: patients find doctors who have free time",
                        routes.AVAILABILITY,
                        "step-free-time",
                    ),
                    _step(s.step_photo, "Add a photo to your card", routes.PROFILE, "step-photo"),
                    _step(
                        rx.Var.create(False),
                        "Review your practice profile",
                        routes.PROFILE,
                        "step-profile",
                    ),
                    padding_left="1.2em",
                    display="flex",
                    flex_direction="column",
                    gap="0.5em",
                ),
                align="stretch",
            ),
            id="doctor-checklist",
            width="100%",
        ),
    )


def _counters() -> rx.Component:
    s = DashboardState
    return rx.card(
        rx.vstack(
            rx.heading("Your slots", as_="h2", size="4"),
            rx.text(s.range_label, size="2", color_scheme="gray"),
            rx.grid(
                *[
                    rx.vstack(
                        rx.text(label, size="2", color_scheme="gray"),
                        rx.heading(value, size="6", id=f"count-{key}"),
                        spacing="0",
                        align="center",
                    )
                    for key, label, value in (
                        ("all", "All", s.count_all),
                        ("open", "Open", s.count_open),
                        ("booked", "Booked", s.count_booked),
                    )
                ],
                columns="3",
                spacing="4",
                width="100%",
            ),
            banner(s.form_error),
            rx.form(
                rx.flex(
                    text_field("From", "count_first", s.errors, type="date", required=False),
                    text_field("To", "count_last", s.errors, type="date", required=False),
                    rx.button("Count", type="submit", variant="outline", id="count-submit"),
                    spacing="2",
                    align="end",
                    wrap="wrap",
                ),
                on_submit=s.count_range,
            ),
            align="stretch",
        ),
        width="100%",
    )


def dashboard() -> rx.Component:
    return page(
        rx.text("Welcome, ", rx.text.strong(AuthState.display_name), "."),
        rx.match(
            AuthState.role,
            (
                "patient",
                rx.vstack(
                    _pharmacy_banner(),
                    _microsoft_banner(),
                    _pharmacy_line(),
                    rx.link(rx.button("Book a visit", size="3"), href=routes.FIND_DOCTOR),
                    _upcoming(),
                    _past(),
                    rx.link(
                        "Review your profile and notification preferences", href=routes.PROFILE
                    ),
                    rx.link("All appointments", href=routes.APPOINTMENTS),
                    rx.link("Who looked at my record", href=routes.MY_RECORD_ACCESS),
                    align="stretch",
                    width="100%",
                ),
            ),
            (
                "doctor",
                rx.vstack(
                    _microsoft_banner(),
                    _checklist(),
                    _quick_actions(),
                    _doctor_visits(),
                    _week_chart(),
                    _counters(),
                    _past(),
                    rx.link("Manage availability", href=routes.AVAILABILITY),
                    rx.link("All appointments", href=routes.APPOINTMENTS),
                    rx.link("Export visit history", href=routes.EXPORT),
                    rx.link("Review your practice profile", href=routes.PROFILE),
                    align="stretch",
                    width="100%",
                ),
            ),
            (
                "admin",
                rx.vstack(
                    rx.text(
                        "Doctor applications waiting for review: ",
                        rx.text.strong(DashboardState.pending_applications, id="pending-count"),
                    ),
                    rx.link("Review applications", href=routes.ADMIN_APPLICATIONS),
                    rx.link("Manage user accounts", href=routes.ADMIN_USERS),
                    rx.link("Read the audit log", href=routes.ADMIN_AUDIT),
                    rx.link("Restore removed files", href=routes.ADMIN_FILES),
                    rx.link("Failed messages", href=routes.ADMIN_MESSAGES),
                ),
            ),
            outline(
                "Loading your dashboard…",
                "2.5em",
                "6em",
                "6em",
                "6em",
                status_id="dashboard-loading",
            ),
        ),
        heading="Dashboard",
    )
