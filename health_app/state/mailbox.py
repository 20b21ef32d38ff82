"""The development mailbox page (exists only in development mode)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import reflex as rx

from health_app.page_loads import ends_page_load
from health_app.services.errors import NotFound
from health_app.services.messaging import dev_mailbox
from health_app.state.handlers import Events, ServiceState, public
from health_app.state.timefmt import clinic_zone, when

_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class MailRow:
    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    links: list[str]
    sent_at: str
    attachment_name: str
    attachment: str


class MailboxState(ServiceState, rx.State):
    available: bool = True
    recipient: str = ""
    channel: str = ""
    rows: list[MailRow] = []

    @rx.event
    @ends_page_load
    @public
    async def load(self) -> None:
        await self._refresh()

    @rx.event
    @public
    async def filter(self, form: dict[str, str]) -> None:
        self.recipient = str(form.get("recipient", ""))[:254]
        channel = str(form.get("channel", ""))
        self.channel = channel if channel in ("email", "sms") else ""
        await self._refresh()

    @rx.event
    def download_attachment(self, message_id: int) -> Events:
        """The calendar file of a shown message, as the recipient's mail program gets it."""
        for row in self.rows:
            if row.id == int(message_id) and row.attachment:
                return rx.download(
                    data=row.attachment.encode(),
                    filename=row.attachment_name or "visit.ics",
                    mime_type="text/calendar",
                )
        return None

    async def _refresh(self) -> None:
        try:
            messages = await self._call(
                dev_mailbox.list_messages,
                client=self.router.session.client_ip,
                recipient=self.recipient,
                channel=self.channel,
            )
        except NotFound:
            self.available, self.rows = False, []
            return
        self.rows = [
            MailRow(
                id=m.id,
                channel=m.channel,
                recipient=m.recipient,
                subject=m.subject,
                body=m.body,
                links=_URL.findall(m.body),
                sent_at=when(m.created_at, clinic_zone()),
                attachment_name=m.attachment_name,
                attachment=m.attachment,
            )
            for m in messages
        ]
