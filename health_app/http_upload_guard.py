"""Reflex's upload endpoint, guarded: a request naming a handler that takes no files gets a
plain 400, instead of reaching Reflex, which answers such a request with a 500 and a
traceback in the log."""

from __future__ import annotations

from reflex_base.event import resolve_upload_chunk_handler_param, resolve_upload_handler_param
from reflex_base.registry import RegistrationContext
from reflex_base.utils.exceptions import UploadTypeError, UploadValueError
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

UPLOAD_PATH = "/_upload"


def takes_files(handler_name: str) -> bool | None:
    """Whether the named handler accepts uploaded files; None when no such handler exists
    (Reflex answers that one itself, with a 400)."""
    registered = RegistrationContext.get().event_handlers.get(handler_name)
    if registered is None:
        return None
    for resolve in (resolve_upload_chunk_handler_param, resolve_upload_handler_param):
        try:
            resolve(registered.handler)
        except (UploadTypeError, UploadValueError):
            continue
        return True
    return False


class UploadGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == UPLOAD_PATH:
            name = Headers(scope=scope).get("reflex-event-handler", "")
            if name and takes_files(name) is False:
                response = PlainTextResponse("This action does not take files.", status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
