"""The doctor's view of what the app sent about a visit: confirmations and reminders with
their states (due, sent, skipped, failed, cancelled)."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services.messaging.delivery_status import VisitMessageView, channel_label
from health_app.state.timefmt import when

_STATUS = {
    "pending": "due",
    "sending": "sending",
    "sent": "sent",
    "failed": "failed",
    "skipped": "skipped",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class MessageRow:
    id: int
    label: str
    recipient: str
    channel: str
    status: str
    at: str
    note: str
    current: bool


def message_row(v: VisitMessageView, zone: str) -> MessageRow:
    moment = v.sent_at if v.status == "sent" and v.sent_at else v.due_at
    return MessageRow(
        id=v.id,
        label=v.label,
        recipient=f"{v.recipient_name} ({v.recipient_role})",
        channel=channel_label(v.channel),
        status=_STATUS.get(v.status, v.status),
        at=when(moment, zone),
        note=v.note,
        current=v.current,
    )


class VisitMessagesState(rx.State):
    """Filled by `VisitState.load`; only the visit's doctor has this panel."""

    shown: bool = False
    rows: list[MessageRow] = []

    def _clear(self) -> None:
        self.shown, self.rows = False, []

    def _show(self, views: tuple[VisitMessageView, ...], zone: str, *, shown: bool) -> None:
        self.shown = shown
        self.rows = [message_row(v, zone) for v in views] if shown else []
