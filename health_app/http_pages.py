"""Pages answer at the address the app links to.

The production build holds each page twice, `login/index.html` and `login.html`, and the
static file server redirects `/login` to `/login/` (a 307, one more round trip before the
page starts loading). Serving `login.html` for `/login` answers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send


@cache
def build_dir() -> Path:
    """Where `reflex export` / `reflex run --env prod` put the compiled pages."""
    from reflex.utils import prerequisites
    from reflex_base import constants

    return (prerequisites.get_web_dir() / constants.Dirs.STATIC).resolve()


@lru_cache(maxsize=1024)
def page_file(pages: Path, path: str) -> str | None:
    """The `.html` address for a page address (`/login` -> `/login.html`), or None when
    the path is no page of the build (assets, backend routes, unknown addresses)."""
    name = path.rsplit("/", 1)[-1]
    if not name or "." in name or path.startswith("/_"):
        return None
    candidate = (pages / f"{path.lstrip('/')}.html").resolve()
    if not candidate.is_relative_to(pages) or not candidate.is_file():
        return None
    return f"{path}.html"


class CanonicalPages:
    """ASGI middleware: a GET of a page address is served from the page's own file."""

    def __init__(self, app: ASGIApp, pages: Callable[[], Path] = build_dir) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            served = page_file(self.pages(), scope["path"])
            if served is not None:
                scope = {**scope, "path": served, "raw_path": served.encode()}
        await self.app(scope, receive, send)
