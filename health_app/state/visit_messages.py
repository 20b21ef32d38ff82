"""The doctor's view of what the app sent about a visit: confirmations and reminders with
their states (due, sent, skipped, failed, cancelled)."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from health_app.services import messages
from health_app.services.errors import DomainError
from health_app.services.messages import VisitMessageView
from health_app.state import runner
from health_app.state.auth import guard
from health_app.state.timefmt import when
from health_app.state.visit import VisitState

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
        channel="SMS" if v.channel == "sms" else "Email",
        status=_STATUS.get(v.status, v.status),
        at=when(moment, zone),
        note=v.note,
        current=v.current,
    )


class VisitMessagesState(rx.State):
    shown: bool = False
    rows: list[MessageRow] = []

    @rx.event
    async def load(self) -> None:
        self.shown, self.rows = False, []
        actor = await guard(self)
        # Only the visit's doctor has this panel; others are not asked (and not audited).
        if actor is None or actor.role != "doctor":
            return
        visit = await self.get_state(VisitState)
        raw = self.router.url.query_parameters.get("id", "")
        visit_id = int(raw) if raw.isdigit() and len(raw) < 10 else 0
        try:
            views = await runner.call(
                lambda s, cfg, now: messages.list_visit_messages(
                    s, actor=actor, appointment_id=visit_id, now=now
                )
            )
        except DomainError:
            return
        zone = visit.time_zone or runner.get_settings().clinic_timezone
        self.rows = [message_row(v, zone) for v in views]
        self.shown = True
