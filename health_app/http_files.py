"""Our own HTTP routes for files stored by the local backend.

- `/_files/private/{token}`: a patient file, only through a link the visit_files service
  signed after its authorization check, for the login session that asked for it. The
  signature, expiry and that session's cookie are checked again here, then the bytes are
  hashed and compared with the SHA-256 in the link before the first byte is sent.
  Tampered, expired or another session's: 403. Integrity mismatch: 409, logged, not served.
  Served with `Content-Security-Policy: sandbox`, so a PDF's scripts reach nothing of ours.
- `/_files/public/{blob}`: public assets (doctor photos), immutable under random names.

With the Azure backend, browsers fetch from Azure with a SAS instead; these routes 404.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from health_app.config import Settings
from health_app.db import session_scope
from health_app.http_auth import session_token_from
from health_app.services.accounts import sessions
from health_app.services.files.local_storage import LocalStorage
from health_app.services.files.storage import (
    READ_CHUNK,
    BlobIntegrityError,
    BlobNotFound,
    LinkInvalid,
    Storage,
    StorageError,
    check_blob_name,
    content_disposition,
)
from health_app.state.unit_of_work import utcnow

log = logging.getLogger(__name__)
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # No Cross-Origin-Resource-Policy: the pages may come from another origin than this
    # backend (a separate frontend server), and Chromium refuses same-site between two
    # ports of 127.0.0.1. The links themselves are the protection: signed, short-lived.
}
_PRIVATE = {**_COMMON, "Cache-Control": "no-store"}


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status, headers=_PRIVATE)


def _stream(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(READ_CHUNK):
            yield chunk


def _session_of(token: str, settings: Settings) -> int | None:
    with session_scope() as session:
        actor = sessions.resolve_session(session, token=token, settings=settings, now=utcnow())
    return actor.session_id if actor is not None else None


def file_routes(
    storage_for: Callable[[], Storage], settings_for: Callable[[], Settings]
) -> list[Route]:
    """The routes, reading the storage and settings at request time."""

    async def private_file(request: Request) -> Response:
        storage = storage_for()
        if not isinstance(storage, LocalStorage):
            return _text(404, "Not found.")
        try:
            claims = storage.check_link(request.path_params["token"])
        except LinkInvalid:
            return _text(403, "This link has expired or is not valid. Open the file again.")
        if claims.holder is not None:
            # Issued to one login session: only that session's cookie opens it.
            settings = settings_for()
            token = session_token_from(request.headers.get("cookie", ""), settings)
            holder = await run_in_threadpool(_session_of, token, settings) if token else None
            if holder != claims.holder:
                return _text(403, "This link is not yours or has ended. Open the file again.")
        try:
            f, size = await run_in_threadpool(storage.open_verified, claims.blob, claims.sha256)
        except BlobNotFound:
            return _text(404, "This file is no longer available.")
        except BlobIntegrityError:
            log.error("integrity check failed serving blob %s; not served", claims.blob)
            return _text(409, "This file failed its integrity check, so it was not served.")
        headers = {
            **_PRIVATE,
            "Content-Disposition": content_disposition(claims.filename, inline=claims.inline),
            "Content-Length": str(size),
            # A PDF opened in the browser runs without our origin: its scripts reach nothing.
            "Content-Security-Policy": "sandbox",
        }
        return StreamingResponse(_stream(f), media_type=claims.content_type, headers=headers)

    async def public_file(request: Request) -> Response:
        storage = storage_for()
        if not isinstance(storage, LocalStorage):
            return _text(404, "Not found.")
        blob = request.path_params["blob"]
        try:
            check_blob_name(blob)
            chunks = storage.read_chunks(blob, public=True)
        except (BlobNotFound, StorageError):
            return _text(404, "Not found.")
        media = "image/jpeg" if blob.endswith(".jpg") else "application/octet-stream"
        # Names are random and never reused, so the content never changes.
        headers = {**_COMMON, "Cache-Control": "public, max-age=31536000, immutable"}
        return StreamingResponse(chunks, media_type=media, headers=headers)

    return [
        Route(LocalStorage.PRIVATE_ROUTE + "{token}", private_file, methods=["GET"]),
        Route(LocalStorage.PUBLIC_ROUTE + "{blob:path}", public_file, methods=["GET"]),
    ]
