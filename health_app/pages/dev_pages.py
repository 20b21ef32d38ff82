"""The development mailbox: every email and text message the app 'sent' on this machine."""

from __future__ import annotations

import reflex as rx

from health_app.components.layout import page
from health_app.state.mailbox import MailboxState, MailRow


def _message(row: MailRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(rx.badge(row.channel), rx.text.strong(row.subject), spacing="2", wrap="wrap"),
            rx.text("To ", row.recipient, " · ", row.sent_at, size="2", color_scheme="gray"),
            rx.text(row.body, white_space="pre-wrap", size="2"),
            rx.cond(
                row.attachment_name != "",
                rx.flex(
                    rx.icon("calendar", size=16, aria_hidden="true"),
                    rx.text("Attached: ", rx.text.strong(row.attachment_name), size="2"),
                    rx.button(
                        "Download",
                        size="1",
                        variant="outline",
                        on_click=MailboxState.download_attachment(row.id),
                        aria_label="Download the attachment " + row.attachment_name,
                    ),
                    spacing="2",
                    align="center",
                    class_name="mail-attachment",
                ),
            ),
            rx.foreach(
                row.links,
                lambda url: rx.link(
                    "Open link: " + url, href=url, class_name="mail-link", word_break="break-all"
                ),
            ),
            align="stretch",
            spacing="2",
        ),
        width="100%",
        class_name="mail-message",
    )


def mailbox() -> rx.Component:
    return page(
        rx.cond(
            MailboxState.available,
            rx.vstack(
                rx.text("Development mode: messages never leave this machine. Newest first."),
                rx.form(
                    rx.flex(
                        rx.el.label("Recipient", html_for="recipient", font_weight="500"),
                        rx.input(
                            id="recipient",
                            name="recipient",
                            placeholder="address or number contains…",
                        ),
                        rx.el.label("Channel", html_for="channel", font_weight="500"),
                        rx.el.select(
                            rx.el.option("Email and SMS", value=""),
                            rx.el.option("Email", value="email"),
                            rx.el.option("SMS", value="sms"),
                            id="channel",
                            name="channel",
                            style={"padding": "0.4em"},
                        ),
                        rx.button("Filter", type="submit"),
                        rx.button(
                            "Refresh", type="button", variant="outline", on_click=MailboxState.load
                        ),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    on_submit=MailboxState.filter,
                ),
                rx.cond(
                    MailboxState.rows.length() == 0, rx.text("No messages yet.", role="status")
                ),
                rx.foreach(MailboxState.rows, _message),
                align="stretch",
                spacing="3",
                width="100%",
            ),
            rx.text("The mailbox exists only in development mode."),
        ),
        heading="Development mailbox",
        max_width="56em",
    )
