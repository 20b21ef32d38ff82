"""A page's outline while its data load: grey blocks where the content will be, and the
same words as a status for screen readers, so the layout does not jump when it arrives."""

from __future__ import annotations

import reflex as rx


def outline(status: str, *heights: str, status_id: str) -> rx.Component:
    return rx.vstack(
        rx.text(status, role="status", id=status_id),
        *[rx.skeleton(rx.box(height=h, width="100%")) for h in heights],
        spacing="3",
        align="stretch",
        width="100%",
        aria_busy="true",
    )
