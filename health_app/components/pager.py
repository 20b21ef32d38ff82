"""Previous / next for any state with `page`, `pages`, `total` and a `go_to_page` event."""

from __future__ import annotations

from typing import Any

import reflex as rx


def pager(state: Any) -> rx.Component:
    return rx.el.nav(
        rx.flex(
            rx.button(
                "Previous",
                variant="outline",
                disabled=state.page <= 1,
                on_click=state.go_to_page(state.page - 1),
            ),
            rx.text(
                "Page ",
                state.page,
                " of ",
                state.pages,
                " (",
                state.total,
                " in all)",
                aria_live="polite",
            ),
            rx.button(
                "Next",
                variant="outline",
                disabled=state.page >= state.pages,
                on_click=state.go_to_page(state.page + 1),
            ),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        aria_label="Pages",
    )
