"""A real SMTP server on loopback (aiosmtpd) that records messages and can refuse them."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    # aiosmtpd's port=0 does not report the real port, so pick one ourselves.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SinkHandler:
    messages: list[Message] = field(default_factory=list)
    # Replies to give instead of accepting, consumed one per message ("451 ...", "550 ...").
    replies: list[str] = field(default_factory=list)
    # A slow relay: each message takes this long to accept.
    delay_seconds: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
            if server.transport is None or server.transport.is_closing():
                # The sender went away before our "250": like a real relay, the message
                # is not taken (the sender never learned it was).
                return "451 4.4.2 connection lost"
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"


@contextmanager
def smtp_sink(
    *, tls: ssl.SSLContext | None = None, credentials: tuple[str, str] | None = None
) -> Iterator[tuple[SinkHandler, int]]:
    handler = SinkHandler()
    port = free_port()

    def authenticator(
        _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth, LoginPassword)
            and credentials is not None
            and (auth.login.decode(), auth.password.decode()) == credentials
        )
        return AuthResult(success=ok)

    kwargs: dict[str, Any] = {}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    if credentials is not None:
        kwargs.update(authenticator=authenticator, auth_required=True)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
