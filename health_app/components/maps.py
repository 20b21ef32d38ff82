"""A map in the page: an iframe that loads only when scrolled near (never in the bundle)."""

from __future__ import annotations

import reflex as rx


def small_map(src: rx.Var | str, label: rx.Var | str, *, height: str = "220px") -> rx.Component:
    return rx.el.iframe(
        src=src,
        title=label,
        loading="lazy",
        referrer_policy="strict-origin",  # a referrer-restricted embed key needs the origin
        style={"border": "0", "width": "100%", "height": height, "border_radius": "8px"},
    )


def clinic_map_block(
    src: rx.Var, label: rx.Var, address: rx.Var, directions: rx.Var
) -> rx.Component:
    """The map when there is one, and always the address with a directions link."""
    return rx.vstack(
        rx.cond(src != "", small_map(src, label)),
        rx.text(
            address,
            " · ",
            rx.link("Directions", href=directions, is_external=True, underline="always"),
        ),
        spacing="2",
        width="100%",
    )
