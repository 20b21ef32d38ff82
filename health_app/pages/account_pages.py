"""Signed-in pages: all appointments and the profile."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import (
    PASSWORD_HINT,
    banner,
    chips_field,
    select_field,
    text_field,
    upload_field,
)
from health_app.components.layout import page
from health_app.components.locate import locate_button
from health_app.components.maps import clinic_map_block
from health_app.components.native_form import post_form
from health_app.components.pager import pager
from health_app.components.person_fields import (
    address_fields,
    clinic_fields,
    health_card_fields,
)
from health_app.http_microsoft import CONNECT_ROUTE
from health_app.services.catalogue import consultation_types, languages, specialties
from health_app.state.history import HistoryState
from health_app.state.links import reachable
from health_app.state.profile import PHOTO_UPLOAD_ID, ProfileState, SecurityState
from health_app.state.visits import VisitRow


def _history_row(row: VisitRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row.when, href=f"{routes.VISIT}?id={row.id}")),
        rx.table.cell(row.with_whom),
        rx.table.cell(row.format),
        rx.table.cell(row.consultation_type),
        rx.table.cell(rx.badge(row.status_label)),
    )


def appointments() -> rx.Component:
    s = HistoryState
    status_options = [
        ("", "Any status"),
        ("booked", "Booked"),
        ("fulfilled", "Completed"),
        ("noshow", "No-show"),
        ("cancelled", "Cancelled"),
    ]
    return page(
        rx.form(
            rx.flex(
                rx.vstack(
                    rx.el.label("Status", html_for="status", font_weight="500"),
                    rx.el.select(
                        *[rx.el.option(t, value=v) for v, t in status_options],
                        id="status",
                        name="status",
                        style={"padding": "0.5em"},
                    ),
                    spacing="1",
                ),
                text_field("From", "first", s.errors, type="date", required=False),
                text_field("To", "last", s.errors, type="date", required=False),
                rx.button("Filter", type="submit", id="history-filter"),
                spacing="3",
                wrap="wrap",
                align="end",
            ),
            on_submit=s.filter,
        ),
        rx.cond(s.rows.length() == 0, rx.text("No visits match.", role="status")),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("When", "With", "Format", "Consultation", "Status")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(s.rows, _history_row)),
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
        ),
        pager(s),
        heading="All appointments",
        max_width="60em",
    )


def _v(name: str) -> rx.Var:
    return ProfileState.values.get(name, "").to(str)


def _details_form() -> rx.Component:
    e = ProfileState.errors
    patient = rx.fragment(
        text_field(
            "Date of birth", "date_of_birth", e, type="date", default_value=_v("date_of_birth")
        ),
        *address_fields(e, _v),
        *health_card_fields(e, _v),
    )
    doctor = rx.fragment(
        text_field("Qualifications", "qualifications", e, default_value=_v("qualifications")),
        select_field(
            "Specialty", "specialty", list(specialties()), e, default_value=_v("specialty")
        ),
        chips_field(
            "Consultation types",
            "ctype_",
            consultation_types(),
            e,
            "consultation_types",
            checked=ProfileState.consultation_types,
        ),
        chips_field(
            "Languages", "lang_", languages(), e, "languages", checked=ProfileState.languages
        ),
        *clinic_fields(e, _v),
    )
    return rx.form(
        rx.vstack(
            text_field("First name", "first_name", e, default_value=_v("first_name")),
            text_field(
                "Preferred name",
                "preferred_name",
                e,
                required=False,
                default_value=_v("preferred_name"),
            ),
            text_field("Last name", "last_name", e, default_value=_v("last_name")),
            text_field(
                "Mobile phone", "phone", e, type="tel", required=False, default_value=_v("phone")
            ),
            rx.match(ProfileState.role, ("patient", patient), ("doctor", doctor), rx.fragment()),
            rx.button("Save profile", type="submit", size="3", id="profile-save"),
            spacing="3",
            align="stretch",
        ),
        on_submit=ProfileState.save,
    )


def _notifications_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.fieldset(
                rx.el.legend("Send me reminders and updates by", font_weight="500"),
                rx.flex(
                    rx.el.label(
                        rx.el.input(
                            type="checkbox",
                            name="notify_email",
                            id="notify_email",
                            default_checked=ProfileState.notify_email,
                        ),
                        " Email",
                        display="inline-flex",
                        gap="0.4em",
                    ),
                    rx.el.label(
                        rx.el.input(
                            type="checkbox",
                            name="notify_sms",
                            id="notify_sms",
                            default_checked=ProfileState.notify_sms,
                        ),
                        " Text message",
                        display="inline-flex",
                        gap="0.4em",
                    ),
                    spacing="4",
                ),
                border="none",
                padding="0",
            ),
            rx.cond(
                ProfileState.errors.get("notifications", "").to(str) != "",
                rx.text(
                    ProfileState.errors.get("notifications", "").to(str),
                    color_scheme="red",
                    role="alert",
                    id="notifications-error",
                ),
            ),
            rx.button("Save preferences", type="submit", variant="soft", id="notifications-save"),
            align="start",
        ),
        on_submit=ProfileState.save_notifications,
    )


def _pharmacy_form() -> rx.Component:
    p, e = ProfileState.pharmacy, ProfileState.errors
    return rx.form(
        rx.vstack(
            rx.text(
                rx.link("Find a pharmacy near you", href=routes.PHARMACY, underline="always"),
                " on the map, or type it here. Prescriptions from your visits are meant for "
                "this pharmacy. Leave every field empty to remove it.",
                size="2",
                id="pharmacy-hint",
            ),
            text_field(
                "Pharmacy name",
                "pharmacy_name",
                e,
                required=False,
                default_value=p.get("pharmacy_name", "").to(str),
                autocomplete="organization",
            ),
            text_field(
                "Pharmacy address",
                "pharmacy_address",
                e,
                required=False,
                default_value=p.get("pharmacy_address", "").to(str),
            ),
            text_field(
                "Pharmacy phone",
                "pharmacy_phone",
                e,
                type="tel",
                required=False,
                default_value=p.get("pharmacy_phone", "").to(str),
            ),
            rx.button("Save pharmacy", type="submit", variant="soft", id="pharmacy-save"),
            align="stretch",
        ),
        on_submit=ProfileState.save_pharmacy,
        reset_on_submit=False,
    )


def _photo_section() -> rx.Component:
    s = ProfileState
    return rx.vstack(
        rx.heading("Your photo", as_="h2", size="5"),
        rx.text("Patients see it when they choose a doctor.", size="2"),
        rx.flex(
            rx.cond(
                s.photo != "",
                rx.image(
                    src=s.photo,
                    alt="Your current photo",
                    width="96px",
                    height="96px",
                    border_radius="50%",
                    object_fit="cover",
                    id="profile-photo",
                ),
                rx.text("No photo yet.", color_scheme="gray", id="no-photo"),
            ),
            upload_field(
                rx.vstack(
                    rx.button("Choose a photo", type="button", variant="outline"),
                    rx.foreach(rx.selected_files(PHOTO_UPLOAD_ID), lambda n: rx.text(n, size="1")),
                    align="center",
                    spacing="1",
                ),
                id=PHOTO_UPLOAD_ID,
                label="Choose a photo of yourself",
                multiple=False,
                accept={
                    "image/jpeg": [".jpg", ".jpeg"],
                    "image/png": [".png"],
                    "image/webp": [".webp"],
                    "image/heic": [".heic"],
                },
                border="1px dashed var(--gray-8)",
                padding="0.75em",
                border_radius="8px",
                aria_label="Choose a photo",
            ),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            s.errors.get("photo", "").to(str) != "",
            rx.text(s.errors.get("photo", "").to(str), color_scheme="red", role="alert"),
        ),
        rx.flex(
            rx.button(
                "Save photo",
                on_click=s.upload_photo(rx.upload_files(upload_id=PHOTO_UPLOAD_ID)),
                loading=s.busy,
                id="photo-save",
            ),
            rx.cond(
                s.photo != "",
                rx.button(
                    "Remove photo", variant="outline", color_scheme="red", on_click=s.remove_photo
                ),
            ),
            spacing="2",
        ),
        align="stretch",
        width="100%",
    )


def _email_section() -> rx.Component:
    e = SecurityState.errors
    return rx.vstack(
        rx.text(
            "Your login email is ", rx.text.strong(ProfileState.email, id="current-email"), "."
        ),
        rx.cond(
            ProfileState.pending_email != "",
            rx.flex(
                rx.text("Waiting for confirmation: ", rx.text.strong(ProfileState.pending_email)),
                rx.button(
                    "Cancel pending change",
                    variant="outline",
                    size="1",
                    on_click=ProfileState.cancel_email_change,
                    id="cancel-email-change",
                ),
                spacing="3",
                align="center",
                wrap="wrap",
                role="status",
            ),
        ),
        rx.form(
            rx.vstack(
                text_field("New email", "new_email", e, type="email"),
                text_field(
                    "Current password",
                    "email_password",
                    e,
                    type="password",
                    autocomplete="current-password",
                ),
                rx.button("Send confirmation link", type="submit", variant="soft"),
                align="stretch",
                spacing="2",
            ),
            on_submit=SecurityState.change_email,
        ),
        align="stretch",
    )


def _password_section() -> rx.Component:
    e = SecurityState.errors
    return rx.form(
        rx.vstack(
            text_field(
                "Current password",
                "current_password",
                e,
                type="password",
                autocomplete="current-password",
            ),
            text_field(
                "New password",
                "new_password",
                e,
                type="password",
                autocomplete="new-password",
                hint=PASSWORD_HINT,
            ),
            text_field(
                "New password again",
                "new_password_confirm",
                e,
                type="password",
                autocomplete="new-password",
            ),
            rx.button("Change password", type="submit", variant="soft", id="password-save"),
            align="stretch",
            spacing="2",
        ),
        on_submit=SecurityState.change_password,
    )


def _location_section() -> rx.Component:
    where, error = ProfileState.location, ProfileState.errors.get("pin", "").to(str)
    status = where.get("status", "").to(str)
    return rx.vstack(
        rx.heading(
            rx.cond(
                ProfileState.role == "doctor", "Your clinic on the map", "Your home on the map"
            ),
            as_="h2",
            size="5",
            id="location",
        ),
        rx.match(
            status,
            (
                "found",
                rx.text(
                    "On the map (", where.get("source", "").to(str), ").", id="location-status"
                ),
            ),
            (
                "not_found",
                rx.callout(
                    "We could not find this address on the map. Check it above, or place a "
                    "pin below: until then distances and nearby pharmacies are not shown.",
                    color_scheme="amber",
                    high_contrast=True,
                    id="location-status",
                ),
            ),
            (
                "pending",
                rx.text(
                    "Your address is being placed on the map; this takes about a minute.",
                    id="location-status",
                ),
            ),
            rx.text("Not on the map yet.", id="location-status"),
        ),
        clinic_map_block(
            where.get("map_src", "").to(str),
            where.get("map_label", "Map").to(str),
            where.get("address", "").to(str),
            where.get("directions", "").to(str),
        ),
        rx.form(
            rx.vstack(
                rx.el.label("Place a pin (latitude, longitude)", html_for="pin", font_weight="500"),
                rx.flex(
                    rx.input(
                        id="pin",
                        name="pin",
                        placeholder="43.6426, -79.3871",
                        aria_describedby="pin-error",
                        aria_invalid=rx.cond(error != "", "true", "false"),
                    ),
                    rx.button("Save the pin", type="submit", variant="soft", id="pin-save"),
                    locate_button("Use my location", field="pin", button_id="pin-locate"),
                    spacing="2",
                    wrap="wrap",
                    align="center",
                ),
                rx.text(error, id="pin-error", color_scheme="red", size="2", role="alert"),
                spacing="1",
            ),
            on_submit=ProfileState.place_pin,
        ),
        rx.divider(),
        align="stretch",
        width="100%",
    )


def _microsoft_connect(label: str) -> rx.Component:
    """A real form post: our route answers with a redirect to Microsoft's sign-in."""
    return post_form(
        rx.button(label, type="submit", id="microsoft-connect"),
        action=reachable(CONNECT_ROUTE),
        form_id="microsoft-connect-form",
    )


def _microsoft_section() -> rx.Component:
    m, error = ProfileState.microsoft, ProfileState.errors.get("microsoft", "").to(str)
    status = m["status"].to(str)
    return rx.vstack(
        rx.heading("Microsoft 365", as_="h2", size="5", id="microsoft"),
        rx.text(
            "Connect your work Microsoft account to get your visits in your Outlook calendar.",
            rx.cond(
                ProfileState.role == "doctor",
                " Video visits then get a Teams meeting, and your Outlook meetings keep "
                "patients from booking those times.",
                "",
            ),
        ),
        rx.cond(
            error != "",
            rx.text(error, color_scheme="red", role="alert", id="microsoft-error"),
        ),
        rx.cond(
            status == "connected",
            rx.vstack(
                rx.text(
                    "Connected as ",
                    rx.text.strong(m["name"].to(str)),
                    " (",
                    m["email"].to(str),
                    ")",
                    id="microsoft-account",
                ),
                rx.button(
                    "Disconnect Microsoft 365",
                    variant="soft",
                    color_scheme="gray",
                    on_click=ProfileState.disconnect_microsoft,
                    id="microsoft-disconnect",
                ),
                align="start",
            ),
            rx.cond(
                status == "needs_reconnect",
                rx.vstack(
                    rx.callout(
                        "Microsoft 365 stopped accepting our sign-in (a changed password or "
                        "withdrawn permission). Reconnect to keep your calendar up to date; "
                        "booking works either way.",
                        icon="triangle_alert",
                        color_scheme="amber",
                        role="status",
                    ),
                    _microsoft_connect("Reconnect Microsoft 365"),
                    align="start",
                ),
                _microsoft_connect("Connect Microsoft 365"),
            ),
        ),
        rx.divider(),
        align="stretch",
        width="100%",
    )


def profile() -> rx.Component:
    return page(
        rx.cond(
            ProfileState.loaded,
            rx.vstack(
                banner(ProfileState.form_error),
                rx.heading("Your details", as_="h2", size="5"),
                _details_form(),
                rx.divider(),
                rx.heading("Notifications", as_="h2", size="5"),
                _notifications_form(),
                rx.divider(),
                rx.cond(
                    ProfileState.role == "doctor",
                    rx.vstack(_photo_section(), rx.divider(), width="100%"),
                ),
                rx.cond(
                    ProfileState.role == "patient",
                    rx.vstack(
                        rx.heading("Your pharmacy", as_="h2", size="5", id="pharmacy"),
                        _pharmacy_form(),
                        rx.divider(),
                        align="stretch",
                        width="100%",
                    ),
                ),
                rx.cond(
                    (ProfileState.role != "admin")
                    & (ProfileState.location.get("status", "").to(str) != ""),
                    _location_section(),
                ),
                rx.cond(ProfileState.microsoft["available"].to(str) == "yes", _microsoft_section()),
                rx.heading("Email address", as_="h2", size="5"),
                banner(SecurityState.form_error),
                _email_section(),
                rx.divider(),
                rx.heading("Password", as_="h2", size="5"),
                _password_section(),
                spacing="4",
                align="stretch",
                width="100%",
            ),
            rx.flex(rx.spinner(), rx.text("Loading your profile…"), spacing="2", role="status"),
        ),
        heading="Your profile",
        max_width="40em",
    )
