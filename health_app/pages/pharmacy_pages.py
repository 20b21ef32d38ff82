"""The pharmacy finder (patients)."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.forms import banner
from health_app.components.layout import page
from health_app.components.maps import small_map
from health_app.state.pharmacy import PharmacyRow, PharmacyState


def _row(row: PharmacyRow) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.heading(row.name, as_="h2", size="4"),
                rx.text(row.address),
                rx.text(
                    row.distance,
                    " from your home · ",
                    rx.link(
                        "Open in Google Maps",
                        href=row.link,
                        is_external=True,
                        underline="always",
                        aria_label="Open " + row.name + " in Google Maps",
                    ),
                    size="2",
                ),
                spacing="1",
            ),
            rx.spacer(),
            rx.cond(
                row.chosen,
                rx.badge("Your pharmacy", color_scheme="green", size="2"),
                rx.button(
                    "Choose",
                    on_click=PharmacyState.choose(row.place_id),
                    aria_label="Choose " + row.name,
                    loading=PharmacyState.busy,
                ),
            ),
            spacing="3",
            align="center",
            wrap="wrap",
            width="100%",
        ),
        class_name="pharmacy-option",
        width="100%",
    )


def pharmacy_finder() -> rx.Component:
    s = PharmacyState
    typed = rx.link("type your pharmacy in your profile", href=f"{routes.PROFILE}#pharmacy")
    return page(
        banner(s.form_error),
        rx.cond(
            ~s.loaded,
            rx.flex(rx.spinner(), rx.text("Looking for pharmacies near you…"), role="status"),
            rx.cond(
                ~s.available,
                rx.callout(
                    rx.text(
                        "The pharmacy finder needs Google Maps, which this clinic has not "
                        "set up. You can ",
                        typed,
                        " instead.",
                    ),
                    color_scheme="gray",
                    id="pharmacy-unavailable",
                ),
                rx.cond(
                    ~s.home_known,
                    rx.callout(
                        rx.text(
                            "We do not know where your home is on the map yet. Check your "
                            "address in your ",
                            rx.link("profile", href=f"{routes.PROFILE}#location"),
                            ", or ",
                            typed,
                            ".",
                        ),
                        color_scheme="amber",
                        id="pharmacy-no-home",
                    ),
                    rx.vstack(
                        rx.text(
                            "Pharmacies within ",
                            s.radius,
                            " of your home, nearest first. The one you choose receives your "
                            "prescriptions.",
                        ),
                        rx.cond(s.map_src != "", small_map(s.map_src, "Pharmacies near your home")),
                        rx.cond(
                            s.rows.length() == 0,
                            rx.text("No pharmacy was found near your home.", role="status"),
                        ),
                        rx.vstack(rx.foreach(s.rows, _row), width="100%", spacing="2"),
                        rx.text("Not listed? You can also ", typed, "."),
                        spacing="3",
                        width="100%",
                    ),
                ),
            ),
        ),
        heading="Find a pharmacy",
        max_width="48em",
    )
