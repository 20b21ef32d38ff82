"""The page frame: skip link, navigation by role, one main landmark, footer."""

from __future__ import annotations

import reflex as rx

from health_app import routes
from health_app.components.client_bridge import client_bridge
from health_app.components.native_form import post_form
from health_app.config import get_settings
from health_app.http_auth import LOGOUT_ROUTE
from health_app.state.auth import AuthState
from health_app.state.links import reachable


def _nav_link(label: str, href: str) -> rx.Component:
    return rx.link(label, href=href, padding_x="0.5em", padding_y="0.25em", weight="medium")


def _nav() -> rx.Component:
    dev_link = [_nav_link("Mailbox", routes.DEV_MAILBOX)] if get_settings().dev_mode else []
    return rx.el.nav(
        rx.flex(
            # The name, not a heading: each page has one h1, its own title.
            rx.link(
                rx.text("Health App", size="5", weight="bold"),
                href=routes.HOME,
                underline="none",
            ),
            rx.spacer(),
            rx.flex(
                rx.cond(
                    AuthState.role == "",
                    rx.fragment(
                        _nav_link("Find a doctor", routes.FIND_DOCTOR),
                        _nav_link("About", routes.ABOUT),
                        _nav_link("Register", routes.REGISTER),
                        _nav_link("For doctors", routes.APPLY),
                        _nav_link("Log in", routes.LOGIN),
                    ),
                    rx.fragment(
                        _nav_link("Dashboard", routes.DASHBOARD),
                        rx.cond(
                            AuthState.role == "patient",
                            _nav_link("Find a doctor", routes.FIND_DOCTOR),
                        ),
                        rx.cond(
                            AuthState.role == "doctor",
                            _nav_link("Availability", routes.AVAILABILITY),
                        ),
                        rx.cond(
                            AuthState.role == "admin",
                            rx.fragment(
                                _nav_link("Applications", routes.ADMIN_APPLICATIONS),
                                _nav_link("Users", routes.ADMIN_USERS),
                                _nav_link("Audit log", routes.ADMIN_AUDIT),
                                _nav_link("Removed files", routes.ADMIN_FILES),
                                _nav_link("Failed messages", routes.ADMIN_MESSAGES),
                                _nav_link("Figures", routes.ADMIN_FIGURES),
                            ),
                        ),
                        _nav_link("Profile", routes.PROFILE),
                        # Logging out clears the HttpOnly cookie: only an HTTP answer can.
                        post_form(
                            rx.button("Log out", type="submit", variant="soft", id="logout"),
                            action=reachable(LOGOUT_ROUTE),
                            form_id="logout-form",
                        ),
                    ),
                ),
                *dev_link,
                wrap="wrap",
                align="center",
                # Links never touch: the fragments inside rx.cond are not flex items of
                # their own, so the space is set on every link and button here.
                column_gap="1em",
                row_gap="0.25em",
                class_name="nav-links",
            ),
            wrap="wrap",
            align="center",
            spacing="3",
            width="100%",
        ),
        aria_label="Main",
        width="100%",
    )


def _dev_mode_banner() -> list[rx.Component]:
    """Development mode opens the mailbox (every reset link) on this machine: say so."""
    if not get_settings().dev_mode:
        return []
    return [
        rx.box(
            rx.text(
                "Development mode: emails and texts are not sent but kept in the ",
                rx.link(
                    "development mailbox",
                    href=routes.DEV_MAILBOX,
                    underline="always",
                    color="var(--amber-12)",
                    weight="bold",
                ),
                ", readable from this computer only. Never use it for real patients.",
                size="2",
            ),
            role="note",
            id="dev-mode-banner",
            padding="0.5em 1em",
            background="var(--amber-3)",
            color="var(--amber-12)",
            text_align="center",
        )
    ]


def page(*children: rx.Component, heading: str | rx.Var, max_width: str = "48em") -> rx.Component:
    """A whole page: every route renders through this so structure and landmarks match."""
    return rx.box(
        client_bridge(),
        # The router handles the link itself and leaves focus where it was: move it (the
        # function is compiled into the page, not sent by the server).
        rx.el.a(
            "Skip to main content",
            href="#main",
            class_name="skip-link",
            on_click=rx.run_script("document.getElementById('main')?.focus()"),
        ),
        *_dev_mode_banner(),
        rx.el.header(
            rx.box(_nav(), max_width="72em", margin_x="auto", padding="1em"),
            border_bottom="1px solid var(--gray-a5)",
        ),
        rx.el.main(
            rx.vstack(
                # Focus lands here after each move within the app (ClientBridge).
                rx.heading(heading, as_="h1", size="7", id="page-heading", tab_index=-1),
                *children,
                spacing="4",
                width="100%",
                align="stretch",
            ),
            id="main",
            tab_index=-1,
            max_width=max_width,
            margin_x="auto",
            padding="1em",
            width="100%",
        ),
        rx.el.footer(
            rx.text("Health App: book and run medical visits.", size="1", color_scheme="gray"),
            max_width="72em",
            margin_x="auto",
            padding="2em 1em",
        ),
        min_height="100vh",
    )
