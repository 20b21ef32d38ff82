"""The visit details page and the printable prescription."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import banner, text_field
from health_app.components.layout import page
from health_app.components.outline import outline
from health_app.pages.visit_files_section import files_section
from health_app.pages.visit_messages_section import messages_section
from health_app.services.records.visit_record import DRUG_ROUTES
from health_app.state.visit import PrescriptionRow, VisitState


def _line(label: str, value: rx.Var) -> rx.Component:
    return rx.cond(value != "", rx.text(rx.text.strong(label + ": "), value))


def _header() -> rx.Component:
    s = VisitState
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(s.when, as_="h2", size="5"),
                rx.badge(s.status_label, id="visit-status"),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            _line("Doctor", s.doctor_name),
            _line("Patient", s.patient_name),
            _line("Date of birth", s.patient_dob),
            _line("Health card", s.patient_card),
            rx.text(s.visit_format, " visit · ", s.consultation_type),
            _line("Reason", s.reason),
            rx.cond(
                s.join_url != "", rx.link("Join the video visit", href=s.join_url, is_external=True)
            ),
            rx.cond(s.phone_note != "", rx.text(s.phone_note)),
            rx.cond(s.changeable, _change_visit()),
            spacing="1",
            align="start",
        ),
        width="100%",
    )


def _change_visit() -> rx.Component:
    """Move or cancel a booked visit that has not begun (the service applies the notice
    rules, and says so beside the form)."""
    s = VisitState
    return rx.vstack(
        rx.flex(
            # A link looking like a button (a button inside a link is two controls in one).
            rx.button(
                rx.el.a(
                    "Move to another time",
                    href=f"{routes.DOCTOR}?doctor="
                    + s.doctor_id.to_string()
                    + "&reschedule="
                    + s.visit_id.to_string(),
                    id="move-visit",
                ),
                as_child=True,
                variant="outline",
                size="3",
            ),
            rx.button(
                "Cancel this visit",
                color_scheme="red",
                variant="outline",
                size="3",
                on_click=s.open_cancel,
                id="cancel-visit",
            ),
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            s.cancelling,
            rx.form(
                rx.vstack(
                    rx.el.label(
                        "Why are you cancelling? (the other side is told)",
                        html_for="cancel_reason",
                        font_weight="500",
                    ),
                    rx.text_area(id="cancel_reason", name="cancel_reason", rows="2", width="100%"),
                    banner(s.form_error),
                    rx.flex(
                        rx.button(
                            "Cancel the visit",
                            type="submit",
                            color_scheme="red",
                            size="3",
                            id="cancel-visit-submit",
                        ),
                        rx.button(
                            "Keep it",
                            type="button",
                            variant="soft",
                            size="3",
                            on_click=s.keep_visit,
                        ),
                        spacing="3",
                        wrap="wrap",
                    ),
                    align="stretch",
                    width="100%",
                ),
                on_submit=s.cancel_visit,
                width="100%",
            ),
        ),
        padding_top="0.75em",
        align="stretch",
        width="100%",
    )


def _notes() -> rx.Component:
    s = VisitState
    return rx.vstack(
        rx.heading("Notes", as_="h2", size="5"),
        rx.cond(
            s.editable,
            rx.form(
                rx.vstack(
                    rx.cond(
                        s.closed,
                        rx.callout(
                            "This visit is closed. What you save now is added as a dated "
                            "addendum or correction; every earlier version stays in the history.",
                            color_scheme="blue",
                            id="addendum-notice",
                        ),
                    ),
                    rx.el.label("Clinical notes", html_for="notes", class_name="sr-only"),
                    rx.text_area(
                        id="notes",
                        name="notes",
                        default_value=s.notes,
                        rows="10",
                        width="100%",
                        aria_describedby="notes-error",
                    ),
                    rx.cond(
                        s.errors.get("notes", "").to(str) != "",
                        rx.text(
                            s.errors.get("notes", "").to(str),
                            id="notes-error",
                            color_scheme="red",
                            role="alert",
                        ),
                    ),
                    rx.button(
                        rx.cond(s.closed, "Save the addendum", "Save notes"),
                        type="submit",
                        id="notes-save",
                    ),
                    align="stretch",
                ),
                on_submit=s.save_notes,
                key=s.notes_version,
            ),
            rx.cond(
                s.notes != "",
                rx.text(s.notes, white_space="pre-wrap", id="notes-text"),
                rx.text("No notes yet.", color_scheme="gray"),
            ),
        ),
        rx.cond(
            s.history.length() > 1,
            rx.el.details(
                rx.el.summary("Earlier versions"),
                rx.foreach(
                    s.history,
                    lambda n: rx.box(
                        rx.text(
                            "Version ",
                            n.version,
                            rx.cond(n.kind != "", " · ", ""),
                            n.kind,
                            " · ",
                            n.author,
                            " · ",
                            n.at,
                            size="1",
                            color_scheme="gray",
                        ),
                        rx.text(n.body, white_space="pre-wrap", size="2"),
                        padding_y="0.5em",
                    ),
                ),
            ),
        ),
        align="stretch",
        width="100%",
    )


def _prescription(row: PrescriptionRow) -> rx.Component:
    s = VisitState
    return rx.card(
        rx.vstack(
            rx.text.strong(row.drug, " ", row.strength),
            rx.text(row.route, " · ", row.frequency, " · ", row.duration),
            rx.text("Quantity ", row.quantity, " · Refills ", row.refills),
            rx.cond(
                row.instructions != "", rx.text(row.instructions, white_space="pre-wrap", size="2")
            ),
            rx.text("Written by ", row.written, size="1", color_scheme="gray"),
            rx.cond(
                s.editable,
                rx.flex(
                    rx.button(
                        "Edit",
                        size="1",
                        variant="outline",
                        on_click=s.edit_prescription(row.id),
                        aria_label="Edit " + row.drug,
                    ),
                    rx.button(
                        "Remove",
                        size="1",
                        color_scheme="red",
                        variant="soft",
                        on_click=s.remove_prescription(row.id),
                        aria_label="Remove " + row.drug,
                    ),
                    spacing="2",
                ),
            ),
            spacing="1",
            align="start",
        ),
        width="100%",
        class_name="prescription",
    )


def _prescription_form() -> rx.Component:
    s = VisitState
    e, v = s.errors, s.editing_values

    def field(label: str, name: str, **props: object) -> rx.Component:
        return text_field(label, name, e, default_value=v.get(name, "").to(str), **props)

    return rx.form(
        rx.vstack(
            rx.heading(
                rx.cond(s.editing_rx_id == 0, "Add a prescription", "Edit prescription"),
                as_="h3",
                size="4",
            ),
            rx.grid(
                field("Drug", "drug"),
                field("Strength", "strength", hint="e.g. 500 mg"),
                rx.vstack(
                    rx.el.label("Route", html_for="route", font_weight="500"),
                    rx.el.select(
                        *[rx.el.option(r, value=r) for r in DRUG_ROUTES],
                        id="route",
                        name="route",
                        default_value=v.get("route", "oral").to(str),
                        style={"padding": "0.5em"},
                    ),
                    rx.cond(
                        e.get("route", "").to(str) != "",
                        rx.text(e.get("route", "").to(str), color_scheme="red", role="alert"),
                    ),
                    spacing="1",
                ),
                field("Frequency", "frequency", hint="e.g. three times a day"),
                field("Duration", "duration", hint="e.g. 7 days"),
                field("Quantity", "quantity", type="number", min="1"),
                field("Refills", "refills", type="number", min="0"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="2",
                width="100%",
            ),
            field("Instructions", "instructions", required=False),
            rx.flex(
                rx.button(
                    rx.cond(s.editing_rx_id == 0, "Add prescription", "Save changes"),
                    type="submit",
                    id="rx-save",
                ),
                rx.cond(
                    s.editing_rx_id != 0,
                    rx.button("Cancel", type="button", variant="outline", on_click=s.stop_editing),
                ),
                spacing="2",
            ),
            align="stretch",
        ),
        on_submit=s.save_prescription,
        # A new key after each save (or edit) remounts the form: no value lingers to be
        # added twice by a second click.
        key=s.editing_rx_id.to_string() + "-" + s.rx_form_round.to_string(),
    )


def _record() -> rx.Component:
    """The visit once loaded: header, notes, prescriptions, files and messages."""
    s = VisitState
    return rx.vstack(
        _header(),
        banner(s.form_error),
        _notes(),
        rx.heading("Prescriptions", as_="h2", size="5"),
        rx.cond(s.prescriptions.length() == 0, rx.text("No prescriptions.", color_scheme="gray")),
        rx.foreach(s.prescriptions, _prescription),
        rx.cond(s.editable, _prescription_form()),
        rx.cond(
            s.prescriptions.length() > 0,
            rx.link(
                "Printable prescription",
                href=f"{routes.VISIT_PRINT}?id={s.visit_id}",
                id="print-link",
            ),
        ),
        files_section(),
        messages_section(),
        rx.cond(
            s.closable,
            rx.flex(
                rx.button("Mark completed", on_click=s.close("fulfilled"), id="mark-completed"),
                rx.button("Mark no-show", variant="outline", on_click=s.close("noshow")),
                spacing="2",
                wrap="wrap",
            ),
        ),
        spacing="3",
        align="stretch",
        width="100%",
    )


def visit() -> rx.Component:
    s = VisitState
    return page(
        rx.cond(
            s.loading,
            outline("Loading the visit…", "7em", "9em", "5em", status_id="visit-loading"),
            rx.cond(
                s.found,
                _record(),
                rx.text(
                    "That visit was not found. ",
                    rx.link("Back to your dashboard", href=routes.DASHBOARD),
                ),
            ),
        ),
        heading="Visit details",
        max_width="48em",
    )


def visit_print() -> rx.Component:
    s = VisitState
    return rx.box(
        rx.cond(
            s.found,
            rx.vstack(
                rx.heading("Prescription", as_="h1", size="6"),
                rx.text(rx.text.strong("Prescriber: "), s.doctor_name),
                rx.text(rx.text.strong("Patient: "), s.patient_name),
                _line("Date of birth", s.patient_dob),
                _line("Health card", s.patient_card),
                rx.text(rx.text.strong("Visit: "), s.when),
                rx.divider(),
                rx.foreach(
                    s.prescriptions,
                    lambda p: rx.box(
                        rx.text.strong(p.drug, " ", p.strength),
                        rx.text("Sig: ", p.route, ", ", p.frequency, ", ", p.duration),
                        rx.text("Quantity ", p.quantity, " · Refills ", p.refills),
                        rx.cond(p.instructions != "", rx.text(p.instructions)),
                        padding_y="0.5em",
                        class_name="prescription",
                    ),
                ),
                rx.divider(),
                rx.text("Signature: ______________________________"),
                rx.button("Print", on_click=rx.run_script("window.print()"), class_name="no-print"),
                align="start",
                spacing="2",
            ),
            rx.text("That visit was not found."),
        ),
        max_width="40em",
        margin_x="auto",
        padding="2em",
    )
