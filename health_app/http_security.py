"""Security headers on every HTTP response, with a Content-Security-Policy pages work under.

The policy allows scripts from our own origin and, for the inline scripts Reflex writes
into each prerendered page (theme, router context, module entry), exactly those scripts:
their SHA-256 hashes are computed from the page as it is sent, so nothing needs
'unsafe-inline' or 'unsafe-eval'. The server never sends script to evaluate either
(`state/client.py`). Styles keep 'unsafe-inline': Radix and React set style attributes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import zlib
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

import brotli
import reflex as rx
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from health_app.config import Settings
from health_app.services.maps.embeds import frame_origins

# Build output named by content hash (Vite): "/assets/_about_._index-IQBh_u6q.js".
_HASHED_ASSET = re.compile(r"^/assets/[^/]+-[A-Za-z0-9_-]{8}\.(?:js|css|woff2?|ttf|svg|png)$")
IMMUTABLE = "public, max-age=31536000, immutable"
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.S | re.I)
# The browser features no page uses; a page that needs one names it here when it does.
# Geolocation is ours alone: "Use my location" asks for it, only when clicked.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(self), payment=(), usb=(), serial=(), "
    "magnetometer=(), gyroscope=(), accelerometer=()"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def backend_origin() -> str:
    """The origin of Reflex's backend (api_url), as the pages were built against."""
    return _origin(rx.config.get_config().api_url or "")


def _socket_origin(origin: str) -> str:
    return origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def _microsoft_sign_in(settings: Settings) -> list[str]:
    return [_origin(settings.microsoft_authority_host)] if settings.microsoft_enabled else []


def content_security_policy(
    settings: Settings, script_hashes: tuple[str, ...] = (), *, backend: str = ""
) -> str:
    """The policy for a page whose inline scripts have these hashes. `backend` is the
    event socket's and file links' origin when pages come from another (a separate
    frontend server); in the single-port production shape it is the page's own."""
    origins = [o for o in {_origin(settings.public_base_url), _origin(backend)} if o]
    connect = ["'self'", *sorted(origins), *sorted(_socket_origin(o) for o in origins)]
    media = ["'self'", "data:", "blob:", *sorted(origins)]
    frames = ["'self'", *sorted(origins)]
    blob_origins = settings.azure_blob_origin.split()
    media += blob_origins
    frames += blob_origins
    frames += frame_origins(settings)  # clinic and pharmacy maps
    scripts = ["'self'", *(f"'sha256-{h}'" for h in script_hashes)]
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": media,
        "media-src": media,
        "font-src": ["'self'", "data:"],
        "connect-src": connect,
        "frame-src": frames,
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # The Microsoft 365 connect form is answered with a redirect to Microsoft's sign-in,
        # and browsers hold redirects after a form post to this list too.
        "form-action": ["'self'", *sorted(origins), *_microsoft_sign_in(settings)],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


@lru_cache(maxsize=256)
def inline_script_hashes(html: bytes) -> tuple[str, ...]:
    """Base64 SHA-256 of each inline script, as CSP wants them (pages repeat: cached)."""
    return tuple(
        sorted(
            {
                base64.b64encode(hashlib.sha256(body).digest()).decode()
                for body in _INLINE_SCRIPT.findall(html)
            }
        )
    )


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        return brotli.decompress(body)
    return body


class SecurityHeaders:
    """ASGI middleware: the headers every response carries, and CSP with script hashes."""

    def __init__(
        self, app: ASGIApp, settings: Callable[[], Settings], *, backend: Callable[[], str]
    ) -> None:
        self.app = app
        self.settings = settings
        self.backend = backend

    def _common(self, headers: MutableHeaders, settings: Settings) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if settings.public_base_url.startswith("https://"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

    async def _send_page(
        self, start: Message, body: bytes, settings: Settings, backend: str, send: Send
    ) -> None:
        """The held start of an HTML answer, with the policy for the scripts in `body`."""
        headers = MutableHeaders(scope=start)
        try:
            hashes = inline_script_hashes(_decoded(body, headers.get("content-encoding", "")))
        except (OSError, zlib.error, EOFError, brotli.error):
            hashes = ()  # an undecodable page runs no inline script
        headers.setdefault(
            "Content-Security-Policy", content_security_policy(settings, hashes, backend=backend)
        )
        await send(start)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings, backend = self.settings(), self.backend()
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                self._common(headers, settings)
                if message["status"] == 200 and _HASHED_ASSET.match(scope.get("path", "")):
                    # The name changes with the content: browsers never ask again.
                    headers["Cache-Control"] = IMMUTABLE
                if message["status"] == 304:
                    # The browser keeps the page's own policy (with its script hashes) from
                    # the cached answer; a policy here would replace it with one without.
                    await send(message)
                    return
                if headers.get("content-type", "").startswith("text/html"):
                    start = message  # held until the body is in, to hash its scripts
                    return
                headers.setdefault(
                    "Content-Security-Policy", content_security_policy(settings, backend=backend)
                )
                await send(message)
                return
            if start is None:
                await send(message)
                return
            if message["type"] == "http.response.pathsend":
                # The server sends the file itself (ASGI pathsend): hash it from the disk.
                with open(message["path"], "rb") as f:
                    body = f.read()
                await self._send_page(start, body, settings, backend, send)
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            await self._send_page(start, body, settings, backend, send)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, send_with_headers)
