"""Admin: messages that failed after every retry, with a way to try them again."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services import messages
from health_app.services.messages import FailedMessageView
from health_app.state import runner
from health_app.state.admin import PagedListMixin


@dataclass(frozen=True)
class FailedRow:
    id: int
    label: str
    channel: str
    recipient: str
    subject: str
    attempts: int
    error: str
    created: str


def _row(v: FailedMessageView) -> FailedRow:
    zone = runner.get_settings().clinic_zone
    return FailedRow(
        id=v.id,
        label=v.label,
        channel="SMS" if v.channel == "sms" else "Email",
        recipient=v.recipient,
        subject=v.subject,
        attempts=v.attempts,
        error=v.last_error,
        created=f"{v.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
    )


class FailedMessagesState(PagedListMixin, rx.State):
    rows: list[FailedRow] = []

    async def _refresh(self) -> bool:
        return await self._show_page(
            lambda s, a, page, now: messages.list_failed_messages(s, actor=a, page=page, now=now),
            _row,
        )

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        return await self._first_page()

    @rx.event
    async def retry(self, message_id: int):  # type: ignore[no-untyped-def]
        target = int(message_id)
        return await self._act(
            lambda s, cfg, now, actor: messages.retry_message(
                s, actor=actor, message_id=target, now=now
            ),
            "The message will be sent again within a minute.",
        )
