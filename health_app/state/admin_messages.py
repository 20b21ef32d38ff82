"""Admin: messages that failed after every retry, with a way to try them again."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services.messaging import delivery_status
from health_app.services.messaging.delivery_status import FailedMessageView, channel_label
from health_app.state.client import toast_success
from health_app.state.handlers import Events, signed_in
from health_app.state.paged import AdminListMixin
from health_app.state.timefmt import clinic_zone, when


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
    return FailedRow(
        id=v.id,
        label=v.label,
        channel=channel_label(v.channel),
        recipient=v.recipient,
        subject=v.subject,
        attempts=v.attempts,
        error=v.last_error,
        created=when(v.created_at, clinic_zone()),
    )


class FailedMessagesState(AdminListMixin, rx.State):
    rows: list[FailedRow] = []

    async def _refresh(self) -> None:
        result = await self._call(delivery_status.list_failed_messages, page=self.page)
        self.rows = self._paged(result, _row)

    def _start(self) -> None:
        self.rows = []

    @rx.event
    @signed_in()
    async def retry(self, message_id: int) -> Events:
        await self._call(delivery_status.retry_message, message_id=int(message_id))
        await self._refresh()
        return toast_success("The message will be sent again within a minute.")
