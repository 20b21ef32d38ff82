"""Landing, about and not-found pages."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.layout import page


def _feature(title: str, text: str) -> rx.Component:
    return rx.card(rx.heading(title, as_="h2", size="4"), rx.text(text), width="100%")


def home() -> rx.Component:
    return page(
        rx.text(
            "Find a doctor, book a phone or video visit, and keep your visit notes and "
            "prescriptions in one place. Doctors publish their availability, run their day "
            "from a dashboard and write the visit record.",
            size="4",
        ),
        rx.flex(
            rx.link(rx.button("Register as a patient", size="3"), href=routes.REGISTER),
            rx.link(rx.button("Log in", size="3", variant="outline"), href=routes.LOGIN),
            rx.link(rx.button("Apply as a doctor", size="3", variant="soft"), href=routes.APPLY),
            spacing="3",
            wrap="wrap",
        ),
        rx.grid(
            _feature(
                "No double bookings",
                "A time can only ever be booked once; "
                "if someone beats you to it, you are told and shown what is still free.",
            ),
            _feature(
                "Reminders that arrive",
                "Email or text, 24 hours and 15 minutes before, "
                "in your own time zone. You choose the channels.",
            ),
            _feature(
                "Your record stays yours",
                "Only you and your doctor can open your visit record, and you can see who did.",
            ),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="3",
            width="100%",
        ),
        heading="Health care visits, booked in minutes",
        max_width="60em",
    )


def about() -> rx.Component:
    return page(
        rx.text(
            "Health App connects patients with doctors in your region. Patients register with "
            "their health card, find a doctor by specialty, language and distance, and book a "
            "visit. Doctors apply, are approved by the clinic's administrators, and then publish "
            "when they can see people."
        ),
        rx.text(
            "Your data is stored by the clinic that runs this service. Every time a visit record, "
            "file or profile is read or changed, it is written to an audit log."
        ),
        heading="About Health App",
    )


def not_found() -> rx.Component:
    return page(
        rx.text("We could not find that page. It may have moved, or the link may be mistyped."),
        # A list, so each link is its own item (read apart, never run together).
        rx.el.ul(
            rx.el.li(rx.link("Go to the home page", href=routes.HOME)),
            rx.el.li(rx.link("Go to your dashboard", href=routes.DASHBOARD)),
            padding_left="1.2em",
            display="flex",
            flex_direction="column",
            gap="0.75em",
        ),
        heading="Page not found",
    )
