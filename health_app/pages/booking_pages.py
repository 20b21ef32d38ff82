"""Finding a doctor and booking a visit."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import banner
from health_app.components.layout import page
from health_app.components.locate import locate_button
from health_app.components.maps import clinic_map_block, small_map
from health_app.components.pager import pager
from health_app.services.catalogue import consultation_types, languages, specialties
from health_app.services.scheduling.search import WITHIN_KM
from health_app.state.auth import AuthState
from health_app.state.booking import BookingState, DayChoice, TimeChoice
from health_app.state.find import DoctorRow, FindDoctorState, NextTime


def _select(label: str, name: str, options: list[tuple[str, str]]) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=name, font_weight="500"),
        rx.el.select(
            rx.el.option("Any", value=""),
            *[rx.el.option(text, value=value) for value, text in options],
            id=name,
            name=name,
            style={"padding": "0.5em", "width": "100%"},
        ),
        spacing="1",
        width="100%",
    )


def _next_time(t: NextTime) -> rx.Component:
    # A link looking like a button: it opens the doctor's page with this time chosen.
    return rx.button(
        rx.el.a(t.label, href=t.href, class_name="next-time"),
        as_child=True,
        variant="outline",
        size="2",
    )


def _doctor_card(row: DoctorRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.avatar(src=row.photo, fallback=row.initials, size="5", radius="full", alt=""),
                rx.vstack(
                    rx.heading(row.name, as_="h2", size="4"),
                    rx.text(row.specialty, " · ", row.clinic),
                    rx.text(
                        "Earliest free time: ",
                        rx.text.strong(row.earliest),
                        " (",
                        row.zone,
                        ")",
                    ),
                    rx.cond(row.distance != "", rx.text(row.distance, class_name="distance")),
                    spacing="1",
                ),
                rx.spacer(),
                rx.link(
                    rx.button("See all times", size="3", variant="soft"),
                    href=f"{routes.DOCTOR}?doctor={row.doctor_id}",
                    aria_label="See all times for " + row.name,
                ),
                spacing="3",
                wrap="wrap",
                align="center",
                width="100%",
            ),
            rx.flex(
                rx.foreach(row.next_times, _next_time),
                spacing="2",
                wrap="wrap",
                role="group",
                aria_label="Next free times of " + row.name + ", " + row.zone,
            ),
            rx.cond(row.map_src != "", small_map(row.map_src, row.map_label, height="140px")),
            spacing="3",
            width="100%",
        ),
        width="100%",
        class_name="doctor-card",
    )


def _near_fields() -> rx.Component:
    """Near where, within how far, and which first. "Use my location" fills the place."""
    s = FindDoctorState
    return rx.vstack(
        rx.el.label("Near (postal code or address)", html_for="place", font_weight="500"),
        rx.input(
            id="place",
            name="place",
            size="3",
            width="100%",
            default_value=rx.cond(s.place == "home", "", s.place),
            aria_describedby="place-error",
            aria_invalid=rx.cond(s.place_error != "", "true", "false"),
        ),
        rx.cond(
            AuthState.role == "patient",
            rx.el.label(
                rx.el.input(
                    type="checkbox",
                    name="near_home",
                    id="near_home",
                    default_checked=s.place == "home",
                    # A new key when the server decides the default: React re-reads it.
                    key=rx.cond(s.place == "home", "near-home-on", "near-home-off"),
                ),
                " Near my home",
                display="inline-flex",
                gap="0.4em",
            ),
        ),
        locate_button("Use my location", field="place", button_id="locate"),
        rx.text(s.place_error, id="place-error", color_scheme="red", size="2", role="alert"),
        rx.flex(
            rx.vstack(
                rx.el.label("Within", html_for="within_km", font_weight="500"),
                rx.el.select(
                    *[
                        rx.el.option("Any distance" if km == 0 else f"{km} km", value=str(km))
                        for km in WITHIN_KM
                    ],
                    id="within_km",
                    name="within_km",
                    style={"padding": "0.5em"},
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.el.label("Show first", html_for="sort", font_weight="500"),
                rx.el.select(
                    rx.el.option("Earliest free time", value="earliest"),
                    rx.el.option("Nearest", value="nearest"),
                    id="sort",
                    name="sort",
                    style={"padding": "0.5em"},
                ),
                spacing="1",
            ),
            spacing="3",
            wrap="wrap",
        ),
        spacing="1",
        width="100%",
    )


def find_doctor() -> rx.Component:
    s = FindDoctorState
    return page(
        rx.form(
            rx.grid(
                rx.vstack(
                    rx.el.label("Doctor's name", html_for="name", font_weight="500"),
                    rx.input(id="name", name="name", size="3", width="100%"),
                    spacing="1",
                    width="100%",
                ),
                _select("Specialty", "specialty", [(x, x) for x in specialties()]),
                _select(
                    "Consultation type", "consultation_type", list(consultation_types().items())
                ),
                _select("Language", "language", list(languages().items())),
                rx.vstack(
                    rx.el.label("When", html_for="within", font_weight="500"),
                    rx.el.select(
                        rx.el.option("Any time", value=""),
                        rx.el.option("Today", value="today"),
                        rx.el.option("This week", value="week"),
                        id="within",
                        name="within",
                        style={"padding": "0.5em"},
                    ),
                    spacing="1",
                ),
                _near_fields(),
                rx.vstack(
                    rx.el.label("On this day (optional)", html_for="on", font_weight="500"),
                    rx.input(
                        id="on",
                        name="on",
                        type="date",
                        size="3",
                        width="100%",
                        aria_describedby="on-error",
                        aria_invalid=rx.cond(s.on_error != "", "true", "false"),
                    ),
                    rx.text(s.on_error, id="on-error", color_scheme="red", size="2", role="alert"),
                    spacing="1",
                    width="100%",
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            rx.button("Search", type="submit", size="3", margin_top="1em", id="search-submit"),
            on_submit=s.search,
        ),
        rx.cond(
            s.loading, rx.flex(rx.spinner(), rx.text("Searching…"), spacing="2", role="status")
        ),
        rx.text(
            s.total,
            " doctors found, ",
            rx.cond(s.sort == "nearest", "nearest first.", "earliest free time first."),
            aria_live="polite",
            id="result-count",
        ),
        rx.cond(
            (s.total == 0) & ~s.loading,
            rx.callout(
                rx.text(
                    "No doctor with free time matches all of these choices. Try fewer "
                    "filters, a later time, or ",
                    rx.button(
                        "every doctor with free time",
                        variant="ghost",
                        on_click=s.clear_filters,
                        id="clear-filters",
                    ),
                    ".",
                ),
                color_scheme="gray",
                id="no-results",
            ),
        ),
        rx.vstack(rx.foreach(s.rows, _doctor_card), width="100%", spacing="3"),
        pager(s),
        heading="Find a doctor",
        max_width="52em",
    )


def _day_number(day: DayChoice) -> rx.Component:
    # "1 Apr": read in the same order as the day's label, "Wed 1 Apr".
    return rx.fragment(
        day.number,
        rx.cond(day.month != "", rx.text(" ", day.month, as_="span", size="1", weight="bold")),
    )


def _day_cell(day: DayChoice) -> rx.Component:
    return rx.cond(
        day.free,
        rx.button(
            _day_number(day),
            variant=rx.cond(BookingState.day == day.iso, "solid", "soft"),
            on_click=BookingState.choose_day(day.iso),
            aria_pressed=BookingState.day == day.iso,
            aria_label=day.label + ": free times",
            class_name="day-choice",
            width="100%",
            # Today is outlined, whatever else the day shows.
            outline=rx.cond(day.today, "2px solid var(--accent-11)", "none"),
            outline_offset="1px",
            custom_attrs={"data-cell": ""},
        ),
        rx.text(
            _day_number(day),
            text_decoration=rx.cond(day.today, "underline", "none"),
            color_scheme="gray",
            align="center",
            aria_label=day.label + ": none",
            padding_y="0.4em",
            custom_attrs={"data-cell": ""},
        ),
    )


def _calendar() -> rx.Component:
    heads = [
        rx.text(d, size="1", weight="bold", align="center", aria_hidden="true")
        for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    ]
    return rx.vstack(
        rx.text.strong(BookingState.calendar_caption, id="calendar-caption"),
        rx.grid(
            *heads,
            rx.foreach(BookingState.days, _day_cell),
            columns="7",
            spacing="1",
            width="100%",
            max_width="28em",
            role="group",
            aria_label="Calendar: days with free times are buttons",
            aria_describedby="calendar-keys",
            id="calendar-grid",
            custom_attrs={"data-roving": "", "data-columns": "7"},
        ),
        rx.text(
            "Use the arrow keys to move between days, Enter to choose one.",
            id="calendar-keys",
            class_name="sr-only",
        ),
        spacing="1",
        width="100%",
    )


def _time_button(choice: TimeChoice) -> rx.Component:
    return rx.button(
        choice.label,
        variant=rx.cond(BookingState.slot_id == choice.slot_id, "solid", "outline"),
        on_click=BookingState.choose_time(choice.slot_id, choice.label),
        aria_pressed=BookingState.slot_id == choice.slot_id,
        class_name="time-choice",
        custom_attrs={"data-cell": ""},
    )


def _booking_form() -> rx.Component:
    s = BookingState
    e = s.errors
    new_visit = rx.fragment(
        rx.el.fieldset(
            rx.el.legend("Visit format", font_weight="500"),
            rx.flex(
                rx.el.label(
                    rx.el.input(
                        type="radio",
                        name="format",
                        value="video",
                        id="format-video",
                        default_checked=True,
                    ),
                    " Video",
                    display="inline-flex",
                    gap="0.4em",
                ),
                rx.el.label(
                    rx.el.input(type="radio", name="format", value="phone", id="format-phone"),
                    " Phone (the doctor calls you)",
                    display="inline-flex",
                    gap="0.4em",
                ),
                spacing="4",
                wrap="wrap",
            ),
            rx.cond(
                e.get("format", "").to(str) != "",
                rx.text(
                    e.get("format", "").to(str), color_scheme="red", role="alert", id="format-error"
                ),
            ),
            rx.cond(
                e.get("format", "").to(str).contains("phone number"),
                rx.link("Add a phone number to your profile", href=routes.PROFILE),
            ),
            border="none",
            padding="0",
        ),
        rx.vstack(
            rx.el.label("What is the visit for?", html_for="consultation_type", font_weight="500"),
            # No type is chosen for the patient: the first in the list is rarely the one.
            rx.el.select(
                rx.el.option("Choose one", value="", disabled=True),
                rx.foreach(s.consultation_types, lambda pair: rx.el.option(pair[1], value=pair[0])),
                id="consultation_type",
                name="consultation_type",
                default_value="",
                required=True,
                aria_describedby="consultation_type-error",
                style={"padding": "0.5em"},
            ),
            rx.cond(
                s.errors.get("consultation_type", "").to(str) != "",
                rx.text(
                    s.errors.get("consultation_type", "").to(str),
                    id="consultation_type-error",
                    color_scheme="red",
                    size="2",
                    role="alert",
                ),
            ),
            spacing="1",
        ),
        rx.vstack(
            rx.el.label("Reason for the visit", html_for="reason", font_weight="500"),
            rx.text_area(
                id="reason",
                name="reason",
                rows="3",
                width="100%",
                aria_describedby="reason-error",
                placeholder="A few words for the doctor",
            ),
            rx.cond(
                e.get("reason", "").to(str) != "",
                rx.text(
                    e.get("reason", "").to(str), color_scheme="red", role="alert", id="reason-error"
                ),
            ),
            spacing="1",
            width="100%",
        ),
    )
    return rx.form(
        rx.vstack(
            rx.heading("Confirm", as_="h2", size="5"),
            rx.text(s.slot_label, " (", s.zone_words, ")", id="chosen-time"),
            rx.cond(s.reschedule_id == 0, new_visit),
            rx.button(
                rx.cond(s.reschedule_id == 0, "Book this visit", "Move my visit here"),
                type="submit",
                size="3",
                loading=s.busy,
                id="book-submit",
            ),
            align="stretch",
            spacing="3",
        ),
        on_submit=s.book,
        key=s.slot_id,
    )


def doctor_page() -> rx.Component:
    s = BookingState
    return page(
        rx.cond(
            s.found,
            rx.vstack(
                rx.flex(
                    rx.cond(
                        s.photo != "",
                        rx.image(
                            src=s.photo,
                            alt="Photo of " + s.doctor_name,
                            width="96px",
                            height="96px",
                            border_radius="50%",
                            object_fit="cover",
                            id="doctor-photo",
                        ),
                    ),
                    rx.heading(s.doctor_name, as_="h2", size="6"),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(s.specialty, " · ", s.clinic),
                rx.text("Qualifications: ", s.qualifications, white_space="pre-wrap"),
                rx.text("Languages: ", s.languages),
                rx.text("Consultations: ", s.consultation_labels),
                rx.text("Times are shown in ", rx.text.strong(s.zone_words), "."),
                banner(s.form_error),
                rx.text(
                    s.times_announcement,
                    aria_live="polite",
                    class_name="sr-only",
                    id="times-announcement",
                ),
                rx.heading("1. Choose a day", as_="h2", size="5"),
                rx.cond(
                    s.has_free_days,
                    _calendar(),
                    rx.text("No free times in the next six weeks.", role="status"),
                ),
                rx.cond(
                    s.day != "",
                    rx.vstack(
                        rx.heading("2. Choose a time", as_="h2", size="5"),
                        rx.cond(
                            s.times.length() == 0,
                            rx.text("No free times left that day.", role="status"),
                        ),
                        rx.flex(
                            rx.foreach(s.times, _time_button),
                            wrap="wrap",
                            spacing="2",
                            role="group",
                            aria_label="Free times: use the arrow keys to move, Enter to choose",
                            id="times-grid",
                            custom_attrs={"data-roving": "", "data-columns": "1"},
                        ),
                        width="100%",
                    ),
                ),
                rx.cond(
                    s.slot_id != 0,
                    rx.cond(
                        AuthState.role == "patient",
                        _booking_form(),
                        rx.callout(
                            rx.text(rx.link("Log in", href=routes.LOGIN), " as a patient to book."),
                            color_scheme="blue",
                        ),
                    ),
                ),
                # After the booking steps, so the keyboard path to a time stays short.
                rx.heading("Where the clinic is", as_="h2", size="5", id="clinic-location"),
                clinic_map_block(s.map_src, s.map_label, s.clinic_address, s.directions),
                spacing="3",
                align="stretch",
                width="100%",
            ),
            rx.text(
                "That doctor was not found. ", rx.link("Find a doctor", href=routes.FIND_DOCTOR)
            ),
        ),
        heading=rx.cond(s.reschedule_id == 0, "Book a visit", "Move your visit"),
        max_width="52em",
    )
