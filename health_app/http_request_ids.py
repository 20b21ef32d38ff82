"""Every HTTP request gets an id: on each log line written while it runs, in the response's
X-Request-ID header, and in one access line when it ends (method, path, status, time).

A proxy's id (X-Request-ID from Azure Front Door, App Service, nginx) is kept when it looks
like one, so a request can be followed from the edge to our lines. The access line leaves
the query string out: links carry tokens and searches carry names.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from health_app import logs

log = logging.getLogger("health_app.access")

_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Probes and immutable assets: at DEBUG, so the access log shows what people did.
_QUIET = ("/_health", "/healthz", "/assets/", "/favicon.ico")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path: str = scope.get("path", "")
            level = logging.DEBUG if path.startswith(_QUIET) else logging.INFO
            log.log(
                level,
                "%s %s %s %.1f ms",
                scope.get("method", ""),
                path,
                status,
                (time.perf_counter() - started) * 1000,
            )
            logs.request_id.reset(token)
