"""The doctor's availability page."""

from __future__ import annotations

import reflex as rx

from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.state.availability import WEEKDAYS, AvailabilityState, ChangeRow


def _section(
    title: str,
    *children: rx.Component,
    on_submit: rx.EventHandler,
    submit: str,
    submit_id: str,
    anchor: str,
    danger: bool = False,
) -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                # The anchor lets the dashboard's quick actions jump to this section.
                rx.heading(title, as_="h2", size="4", id=anchor),
                *children,
                rx.button(
                    submit,
                    type="submit",
                    loading=AvailabilityState.busy,
                    id=submit_id,
                    color_scheme="red" if danger else None,
                    variant="outline" if danger else "solid",
                ),
                align="stretch",
                spacing="2",
            ),
            on_submit=on_submit,
        ),
        width="100%",
    )


def _cancel_confirmation() -> rx.Component:
    """Withdrawing days is destructive: say exactly what it will do, then ask."""
    s = AvailabilityState
    return rx.cond(
        s.cancel_summary != "",
        rx.callout(
            rx.vstack(
                rx.text(s.cancel_summary, role="status", id="cancel-range-impact"),
                rx.flex(
                    rx.button(
                        "Yes, withdraw these days",
                        color_scheme="red",
                        size="3",
                        loading=s.busy,
                        on_click=s.confirm_cancel_range,
                        id="cancel-range-confirm",
                    ),
                    rx.button("Keep them", variant="soft", size="3", on_click=s.keep_range),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="3",
            ),
            color_scheme="red",
            high_contrast=True,
            width="100%",
        ),
    )


def _pair(*children: rx.Component) -> rx.Component:
    return rx.grid(
        *children, columns=rx.breakpoints(initial="1", sm="2"), spacing="2", width="100%"
    )


def _change_row(row: ChangeRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.label), rx.table.cell(row.added), rx.table.cell(row.removed)
    )


def _template_change() -> rx.Component:
    """What the new weekly hours will do, shown before they are saved."""
    s = AvailabilityState
    return rx.cond(
        s.change_summary != "",
        rx.card(
            rx.vstack(
                rx.heading("Before you save", as_="h3", size="4", id="template-change"),
                rx.text(s.change_summary, role="status"),
                rx.cond(
                    s.changes.length() > 0,
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Day"),
                                rx.table.column_header_cell("Open times added"),
                                rx.table.column_header_cell("Withdrawn"),
                            )
                        ),
                        rx.table.body(rx.foreach(s.changes, _change_row)),
                        width="100%",
                    ),
                ),
                rx.flex(
                    rx.button(
                        "Save these hours",
                        size="3",
                        loading=s.busy,
                        on_click=s.confirm_template,
                        id="template-confirm",
                    ),
                    rx.button("Change them", size="3", variant="soft", on_click=s.cancel_template),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="3",
                align="stretch",
            ),
            width="100%",
        ),
    )


def availability() -> rx.Component:
    s = AvailabilityState
    e = s.errors
    minutes = text_field(
        "Slot length (minutes)",
        "slot_minutes",
        e,
        type="number",
        default_value="15",
        min="5",
        max="240",
    )
    return page(
        rx.text(
            "All times are in your clinic's time zone, ",
            rx.text.strong(s.time_zone),
            "; they stay at the same local time across daylight-saving changes.",
        ),
        banner(s.form_error),
        rx.heading("Next two weeks", as_="h2", size="5"),
        rx.cond(
            s.days.length() == 0,
            rx.text("Nothing published yet for the next two weeks.", role="status"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Day"),
                        rx.table.column_header_cell("Open"),
                        rx.table.column_header_cell("Booked"),
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        s.days,
                        lambda d: rx.table.row(
                            rx.table.cell(d.label), rx.table.cell(d.open), rx.table.cell(d.booked)
                        ),
                    )
                ),
                id="availability-summary",
            ),
        ),
        _section(
            "Weekly hours",
            rx.cond(
                s.windows.length() > 0,
                rx.vstack(
                    rx.text("Current template:"),
                    rx.foreach(s.windows, lambda w: rx.text("• ", w.label, size="2")),
                ),
            ),
            rx.el.fieldset(
                rx.el.legend("Days", font_weight="500"),
                rx.flex(
                    *[
                        rx.el.label(
                            rx.el.input(
                                type="checkbox",
                                name=f"day_{i}",
                                id=f"day_{i}",
                                default_checked=i < 5,
                            ),
                            " ",
                            name[:3],
                            display="inline-flex",
                            gap="0.3em",
                            aria_label=name,
                        )
                        for i, name in enumerate(WEEKDAYS)
                    ],
                    wrap="wrap",
                    spacing="3",
                ),
                border="none",
                padding="0",
            ),
            _pair(
                text_field("Morning from", "start_1", e, type="time", default_value="09:00"),
                text_field("Morning until", "end_1", e, type="time", default_value="12:00"),
            ),
            _pair(
                text_field(
                    "Afternoon from",
                    "start_2",
                    e,
                    type="time",
                    required=False,
                    default_value="13:00",
                ),
                text_field(
                    "Afternoon until",
                    "end_2",
                    e,
                    type="time",
                    required=False,
                    default_value="17:00",
                ),
            ),
            minutes,
            _pair(
                text_field("Valid from", "valid_from", e, type="date"),
                text_field("Valid until", "valid_to", e, type="date", required=False),
            ),
            rx.cond(
                e.get("windows", "").to(str) != "",
                rx.text(e.get("windows", "").to(str), color_scheme="red", role="alert"),
            ),
            on_submit=s.save_template,
            submit="Check the change",
            submit_id="template-submit",
            anchor="weekly",
        ),
        _template_change(),
        _section(
            "Open a range of days",
            _pair(
                text_field("From", "from_date", e, type="date"),
                text_field("To", "to_date", e, type="date"),
            ),
            _pair(
                text_field("Daily from", "start_time", e, type="time", default_value="09:00"),
                text_field("Daily until", "end_time", e, type="time", default_value="17:00"),
            ),
            text_field(
                "Slot length (minutes)", "range_minutes", e, type="number", default_value="15"
            ),
            on_submit=s.open_range,
            submit="Open these slots",
            submit_id="range-submit",
            anchor="range",
        ),
        _section(
            "Time off",
            _pair(
                text_field("From", "off_from", e, type="date"),
                text_field("To", "off_to", e, type="date"),
            ),
            text_field("Note (only you see it)", "off_reason", e, required=False),
            on_submit=s.add_time_off,
            submit="Block these days",
            submit_id="timeoff-submit",
            anchor="time-off",
        ),
        _section(
            "Cancel a range",
            rx.text(
                "Open slots disappear; booked patients are cancelled and told your reason.",
                size="2",
            ),
            _pair(
                text_field("From", "cancel_from", e, type="date"),
                text_field("To", "cancel_to", e, type="date"),
            ),
            text_field("Reason (sent to patients)", "reason", e),
            on_submit=s.cancel_range,
            submit="Check what this cancels",
            submit_id="cancel-range-submit",
            anchor="cancel-range",
            danger=True,
        ),
        _cancel_confirmation(),
        heading="Your availability",
        max_width="52em",
    )
